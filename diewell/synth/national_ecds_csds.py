"""Emergency department attendances and community contacts, written as ECDS (ncdr_ecds) and
CSDS (csds_contacts) rows: the builders of `national_rows` (which see) for those two extracts.

Rows added that the layout must filter: ncdr_ecds, a duplicate record (Der_Dupe_Flag `1`) of
DUPLICATE_SHARE of attendances, a planned follow-up (category `4`) a week after
FOLLOW_UP_SHARE of first attendances, and a dead-on-arrival attendance (category `X`, or
discharge status 63238001) for national_rows.DEAD_ON_ARRIVAL_SHARE of deaths `elsewhere`;
csds_contacts, a contact not attended (status 2, 3, 4 or 7) beside NOT_ATTENDED_SHARE of
contacts.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from diewell.synth.national_rows import FILTERED, id_keys, in_order, picked, text_series, unit

DUPLICATE_SHARE = 0.01  # ECDS records sent twice (NCDR flags the copy)
FOLLOW_UP_SHARE = 0.03  # first attendances with a planned follow-up a week later
NOT_ATTENDED_SHARE = 0.06  # community contacts with a missed or cancelled one beside them
UNPADDED_SHARE = 0.15  # ECDS department types exported as a number (`1` for `01`)
# ECDS discharge status: treatment completed; left before / after assessment; dead on arrival.
DISCHARGE_STATUS = (("182992009", 0.9), ("1066301000000103", 0.05), ("1066311000000101", 0.05))
DEAD_ON_ARRIVAL_STATUS = "63238001"
ATTENDANCE_CATEGORIES = (("1", 0.93), ("2", 0.04), ("3", 0.03))
# CSDS team types (SERVICEORTEAMTYPEREFERREDTO) and consultation media.
TEAM_TYPES = {"district_nursing": "12", "rapid_response": "51"}
PALLIATIVE_TEAMS = (("47", 0.7), ("14", 0.3))  # specialist palliative care; end of life care
OTHER_TEAMS = (("53", 0.4), ("04", 0.2), ("22", 0.2), ("38", 0.2))
NOT_ATTENDED = (("4", 0.5), ("3", 0.2), ("2", 0.2), ("7", 0.1))  # DNA, cancelled, arrived late

ECDS_COLUMNS = [
    "EC_Ident", "Der_Pseudo_NHS_Number", "Arrival_Date", "Arrival_Time", "EC_Department_Type",
    "EC_AttendanceCategory", "EC_Discharge_Status_SNOMED_CT", "Der_Dupe_Flag",
]  # fmt: skip
CSDS_COLUMNS = [
    "UNIQUECARECONTACTIDENTIFIER", "Der_Pseudo_NHS_Number", "CARECONTACTDATE", "CARECONTACTTIME",
    "SERVICEORTEAMTYPEREFERREDTO", "CONSULTATIONMEDIUMUSED", "ATTENDANCESTATUS",
]  # fmt: skip


# --- ae_attendances -> ncdr_ecds -------------------------------------------------------------


def ecds_rows(
    records: pl.DataFrame,
    seed: int,
    period_end: int,
    deaths: pl.DataFrame,
    dead_on_arrival_rows: pl.DataFrame,
) -> pl.DataFrame:
    """ncdr_ecds rows for one trust's month, with the duplicates, planned follow-ups and
    dead-on-arrival attendances the layout must filter.

    `deaths`: nhs_number, date_of_death of every death delivered (no follow-up comes after
    one); `dead_on_arrival_rows`: nhs_number, arrival (datetime) of this trust's month."""
    key = id_keys(records["attendance_id"])
    department = records["department_type"].fill_null("").to_numpy().astype(object)
    unpadded = unit(key, seed, "department type as a number") < UNPADDED_SHARE
    department = np.where(
        unpadded & (department != ""), [d.lstrip("0") for d in department], department
    )
    category = picked(unit(key, seed, "attendance category"), ATTENDANCE_CATEGORIES)
    kept = records.select(
        pl.col("attendance_id").alias("EC_Ident"),
        pl.col("nhs_number").alias("Der_Pseudo_NHS_Number"),
        pl.col("arrival_datetime").alias("_arrival"),
        pl.lit(text_series(department)).alias("EC_Department_Type"),
        pl.lit(pl.Series(category, dtype=pl.String)).alias("EC_AttendanceCategory"),
        pl.lit(
            pl.Series(
                picked(unit(key, seed, "discharge status"), DISCHARGE_STATUS), dtype=pl.String
            )
        ).alias("EC_Discharge_Status_SNOMED_CT"),
        pl.lit("0").alias("Der_Dupe_Flag"),
        pl.lit(None, dtype=pl.String).alias(FILTERED),
        (pl.int_range(pl.len(), dtype=pl.Int64) * 2).alias("_order"),
    )
    duplicates = kept.filter(pl.lit(pl.Series(unit(key, seed, "duplicate") < DUPLICATE_SHARE)))
    duplicates = duplicates.with_columns(
        pl.lit("1").alias("Der_Dupe_Flag"),
        pl.lit("duplicate_record").alias(FILTERED),
        pl.col("_order") + 1,
    )
    follow_up = kept.with_columns(
        (
            pl.col("_arrival").dt.truncate("1d")
            + pl.duration(days=7, hours=10)
            + pl.duration(
                minutes=pl.lit(
                    pl.Series((unit(key, seed, "follow-up time") * 120).astype(np.int64))
                )
            )
        ).alias("_arrival"),
        pl.lit(pl.Series(unit(key, seed, "planned follow-up") < FOLLOW_UP_SHARE)).alias("_chosen"),
    ).join(
        deaths,
        left_on="Der_Pseudo_NHS_Number",
        right_on="nhs_number",
        how="left",
        maintain_order="left",
    )
    follow_up = follow_up.filter(
        pl.col("_chosen")
        & (pl.col("EC_AttendanceCategory") == "1")
        & (pl.col("_arrival").dt.date() <= pl.lit(period_end).cast(pl.Date))
        & (
            pl.col("date_of_death").is_null()
            | (pl.col("date_of_death") > pl.col("_arrival").dt.date())
        )
    ).with_columns(
        ("AF" + pl.col("EC_Ident").str.slice(1)).alias("EC_Ident"),
        pl.lit("4").alias("EC_AttendanceCategory"),
        pl.lit(DISCHARGE_STATUS[0][0]).alias("EC_Discharge_Status_SNOMED_CT"),
        pl.lit("planned_follow_up").alias(FILTERED),
    )
    doa_key = dead_on_arrival_rows["nhs_number"].to_numpy()
    as_category = unit(doa_key, seed, "dead on arrival as a category") < 0.5
    ident = (unit(doa_key, seed, "dead on arrival id") * 1e13).astype(np.int64)
    doa = dead_on_arrival_rows.select(
        pl.lit(pl.Series([f"AD{i:013d}" for i in ident], dtype=pl.String)).alias("EC_Ident"),
        pl.col("nhs_number").alias("Der_Pseudo_NHS_Number"),
        pl.col("arrival").alias("_arrival"),
        pl.lit("01").alias("EC_Department_Type"),
        pl.lit(pl.Series(np.where(as_category, "X", "1"), dtype=pl.String)).alias(
            "EC_AttendanceCategory"
        ),
        pl.lit(DEAD_ON_ARRIVAL_STATUS).alias("EC_Discharge_Status_SNOMED_CT"),
        pl.lit("0").alias("Der_Dupe_Flag"),
        pl.lit("dead_on_arrival").alias(FILTERED),
        pl.lit(0, dtype=pl.Int64).alias("_order"),
    )
    rows = pl.concat(
        [f.select(*kept.columns) for f in (kept, duplicates, follow_up, doa)], how="vertical"
    ).sort("_arrival", "_order", "EC_Ident", maintain_order=True)
    return rows.with_columns(
        pl.col("_arrival").dt.strftime("%Y-%m-%d").alias("Arrival_Date"),
        pl.col("_arrival").dt.strftime("%H:%M:%S").alias("Arrival_Time"),
    ).select(*ECDS_COLUMNS, FILTERED)


# --- community_contacts -> csds_contacts -----------------------------------------------------


def contact_times(
    day: pl.Series, out_of_hours: np.ndarray, key: np.ndarray, seed: int, holidays: frozenset[str]
) -> list[str | None]:
    """CARECONTACTTIME as the contract's out_of_hours says: none when it is empty; on a
    working day before 08:00 or from 18:30 for `Y`, 08:00-18:29 for `N`; in the day on a
    weekend or bank holiday (where CSDS makes every contact out of hours: a contract `N` on
    such a day comes back `Y`)."""
    iso = day.dt.strftime("%Y-%m-%d").to_list()
    off_day = (day.dt.weekday() >= 6).to_numpy() | np.isin(
        np.array(iso, dtype=object), list(holidays)
    )
    u = unit(key, seed, "contact time")
    early = unit(key, seed, "early or late") < 0.3
    daytime = 8 * 60 + (u * 630).astype(np.int64)  # 08:00-18:29
    evening = np.where(
        early, 6 * 60 + (u * 120).astype(np.int64), 18 * 60 + 30 + (u * 240).astype(np.int64)
    )
    minutes = np.where((out_of_hours == "Y") & ~off_day, evening, daytime)
    return [
        None if flag == "" else f"{m // 60:02d}:{m % 60:02d}:00"
        for flag, m in zip(out_of_hours, minutes, strict=True)
    ]


def csds_rows(records: pl.DataFrame, seed: int, holidays: frozenset[str]) -> pl.DataFrame:
    """csds_contacts rows for one provider's month, with the contacts not attended added."""
    key = id_keys(records["contact_id"])
    service = records["service"].to_numpy().astype(object)
    team = np.array([TEAM_TYPES.get(s, "") for s in service], dtype=object)
    team = np.where(
        service == "community_palliative_care",
        picked(unit(key, seed, "palliative team"), PALLIATIVE_TEAMS),
        team,
    )
    team = np.where(team == "", picked(unit(key, seed, "other team"), OTHER_TEAMS), team)
    mode = records["contact_mode"].to_numpy().astype(object)
    video = unit(key, seed, "video") < 0.25
    medium = np.where(mode == "face_to_face", "01", np.where(video, "11", "02"))
    out_of_hours = records["out_of_hours"].fill_null("").to_numpy().astype(object)
    times = contact_times(records["contact_date"], out_of_hours, key, seed, holidays)
    kept = records.select(
        pl.col("contact_id").alias("UNIQUECARECONTACTIDENTIFIER"),
        pl.col("nhs_number").alias("Der_Pseudo_NHS_Number"),
        pl.col("contact_date").dt.strftime("%Y-%m-%d").alias("CARECONTACTDATE"),
        pl.lit(pl.Series(times, dtype=pl.String)).alias("CARECONTACTTIME"),
        pl.lit(text_series(team)).alias("SERVICEORTEAMTYPEREFERREDTO"),
        pl.lit(text_series(medium)).alias("CONSULTATIONMEDIUMUSED"),
        pl.lit(
            pl.Series(np.where(unit(key, seed, "late") < 0.07, "6", "5"), dtype=pl.String)
        ).alias("ATTENDANCESTATUS"),
        pl.lit(None, dtype=pl.String).alias(FILTERED),
        (pl.int_range(pl.len(), dtype=pl.Int64) * 2 + 1).alias("_order"),
    )
    missed = kept.with_columns(
        pl.lit(
            pl.Series(picked(unit(key, seed, "not attended status"), NOT_ATTENDED), dtype=pl.String)
        ).alias("ATTENDANCESTATUS")
    ).filter(pl.lit(pl.Series(unit(key, seed, "not attended") < NOT_ATTENDED_SHARE)))
    missed = missed.with_columns(
        ("CN" + pl.col("UNIQUECARECONTACTIDENTIFIER").str.slice(1)).alias(
            "UNIQUECARECONTACTIDENTIFIER"
        ),
        pl.lit("not_attended").alias(FILTERED),
        pl.col("_order") - 1,
    )
    return in_order([kept, missed], CSDS_COLUMNS)
