"""The usual analyst script: pandas reads the landing folder, Great Expectations validates it.

    .venv/bin/python benchmarks/analyst_pandas.py LANDING [--period-end YYYY-MM-DD]

What a typical NHS analyst would write to get 13 end-of-life care indicators for the whole
ICS for one period (the rolling 12 months to `period_end`), without diewell: read every
extract file (CSV and Parquet) with pandas, validate each file with GX Core on pandas (an
ephemeral context, a pandas datasource, one batch per file, a few expectations per extract),
drop the rows that fail, link by NHS number, count. Written plainly, not tuned: it is the
comparison diewell's benchmark runs against (benchmarks/run.py), and
tests/system/test_analyst_pandas.py checks it gives diewell's numbers on a small ICS.

It follows the contract (extracts.md) where the counts depend on it: column names matched
ignoring case and spaces, NHS numbers with spaces, `DD/MM/YYYY` dates, death location codes,
a truncated export (under 20% of the provider's previous file) skipped, a file with more
than half its rows failing skipped, the latest delivery of a record counting. It does not
pseudonymise (nothing leaves it but counts) and writes no report.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import resource
import sys
import time
from pathlib import Path

import great_expectations as gx
import pandas as pd
from great_expectations.data_context.types.base import ProgressBarsConfig

INDICATORS = ("PD01", "PD02", "PD03", "PD04", "PD05", "PD06", "ND01", "ID01")
INDICATORS += ("HU01", "HU02", "HU03", "SP01", "CP01")
FILE_NAME = re.compile(r"^([a-z_]+)_([A-Z0-9]{3,6})_([0-9]{8})\.(csv|parquet)$")
KEYS = {  # the record id of each activity extract: a later delivery replaces the record
    "apc_spells": "spell_id",
    "ae_attendances": "attendance_id",
    "hospice_referrals": "referral_id",
    "hospice_contacts": "contact_id",
    "community_contacts": "contact_id",
    "spoc_calls": "call_id",
    "outcome_assessments": "assessment_id",
}
DATES = {  # the date columns each extract needs (required ones first)
    "deaths": ["date_of_birth", "date_of_death"],
    "palliative_register": ["date_added", "care_plan_date"],
    "apc_spells": ["admission_date"],
    "hospice_contacts": ["contact_date"],
    "community_contacts": ["contact_date"],
}
REQUIRED_DATES = {
    "deaths": ["date_of_birth", "date_of_death"],
    "palliative_register": ["date_added"],
    "apc_spells": ["admission_date"],
    "hospice_contacts": ["contact_date"],
    "community_contacts": ["contact_date"],
}
PLACES = {"home", "care_home", "hospital", "hospice", "other"}
PLACE_CODES = {"10": "hospital", "20": "home", "21": "home", "22": "other", "30": "hospice"}
PLACE_CODES |= {"40": "care_home", "41": "care_home", "42": "care_home", "50": "other"}
EMERGENCY_METHODS = ["21", "22", "23", "24", "25", "2A", "2B", "2C", "2D", "28"]
NEONATAL_DAYS = 28
TRUNCATED_SHARE = 0.2  # a file under 20% of the previous one is a truncated export...
TRUNCATION_FROM_ROWS = 50  # ... when the previous one had at least this many rows
MOST_FAILING = 0.5  # a file with more than half its rows failing is mis-exported


def read_landing(landing: Path) -> dict[str, list[tuple[str, dt.date, pd.DataFrame]]]:
    """Every extract file in the landing folder: extract -> [(provider, period end, rows)]."""
    files: dict[str, list] = {}
    for path in sorted(landing.rglob("*")):
        match = FILE_NAME.match(path.name)
        if not path.is_file() or not match:
            continue
        extract, provider, period, kind = match.groups()
        if kind == "csv":
            df = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
        else:
            df = pd.read_parquet(path).astype("string").astype(object)
        df.columns = [c.strip().lower() for c in df.columns]
        period_end = dt.datetime.strptime(period, "%Y%m%d").date()
        files.setdefault(extract, []).append((provider, period_end, df))
    for deliveries in files.values():
        deliveries.sort(key=lambda d: (d[0], d[1]))
    return files


def nhs_number_valid(number: str) -> bool:
    """The modulus 11 check of a 10-digit NHS number."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(number[:9]))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    return check != 10 and check == int(number[9])


def parse_dates(values: pd.Series) -> pd.Series:
    """YYYY-MM-DD, or DD/MM/YYYY as some GP systems write them; anything else is NaT."""
    iso = pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")
    uk = pd.to_datetime(values, format="%d/%m/%Y", errors="coerce")
    return iso.fillna(uk)


def tidy(extract: str, df: pd.DataFrame) -> pd.DataFrame:
    """Clean the columns the expectations look at: NHS numbers, dates, codes."""
    df = df.copy()
    if "nhs_number" in df:
        df["nhs_number"] = df["nhs_number"].str.replace(r"[ -]", "", regex=True).str.strip()
        df["nhs_number_ok"] = df["nhs_number"].map(
            lambda n: isinstance(n, str) and len(n) == 10 and n.isdigit() and nhs_number_valid(n)
        )
    for column in DATES.get(extract, []):
        if column in df:
            raw = df[column].str.strip()
            df[column] = parse_dates(raw)
            df[column + "_parses"] = raw.isna() | (raw == "") | df[column].notna()
    if extract == "deaths":
        place = df["place_of_death"].str.strip()
        df["place_of_death"] = place.map(lambda p: PLACE_CODES.get(p, p))
    return df


def expectations(extract: str, columns: list[str]) -> list:
    """A few expectations per extract: NHS number present and valid, dates that parse, codes."""
    found = []
    if "nhs_number" in columns:
        found.append(gx.expectations.ExpectColumnValuesToNotBeNull(column="nhs_number"))
        found.append(
            gx.expectations.ExpectColumnValuesToBeInSet(column="nhs_number_ok", value_set=[True])
        )
    for column in REQUIRED_DATES.get(extract, []):
        found.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=column))
    for column in DATES.get(extract, []):
        if column not in REQUIRED_DATES.get(extract, []):
            # an optional date may be empty, but a filled-in one must parse
            found.append(
                gx.expectations.ExpectColumnValuesToBeInSet(
                    column=column + "_parses", value_set=[True]
                )
            )
    if extract in KEYS:
        found.append(gx.expectations.ExpectColumnValuesToNotBeNull(column=KEYS[extract]))
    if extract == "deaths":
        found.append(gx.expectations.ExpectColumnValuesToNotBeNull(column="underlying_cause_icd10"))
        found.append(
            gx.expectations.ExpectColumnValuesToBeInSet(
                column="place_of_death", value_set=list(PLACES)
            )
        )
        found.append(gx.expectations.ExpectColumnValuesToNotBeNull(column="place_of_death"))
        found.append(
            gx.expectations.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="date_of_death", column_B="date_of_birth", or_equal=True
            )
        )
    if extract == "apc_spells":
        found.append(gx.expectations.ExpectColumnValuesToNotBeNull(column="admission_method"))
        found.append(
            gx.expectations.ExpectColumnValuesToBeInSet(
                column="specialist_palliative_care", value_set=["Y", "N"]
            )
        )
    return found


def validate(files: dict[str, list]) -> dict[str, pd.DataFrame]:
    """Validate every file with GX (a batch per file); keep the valid rows of the files kept."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)  # one bar a file
    source = context.data_sources.add_pandas("landing")
    valid = {}
    for extract, deliveries in files.items():
        if extract not in DATES:
            continue  # not used by the 13 indicators
        batches = source.add_dataframe_asset(name=extract).add_batch_definition_whole_dataframe(
            "file"
        )
        suite = context.suites.add(gx.ExpectationSuite(name=extract))
        for expectation in expectations(extract, list(deliveries[0][2].columns)):
            suite.add_expectation(expectation)
        kept, previous_rows = [], {}
        for provider, period_end, raw in deliveries:
            df = tidy(extract, raw)
            failing = set()
            if len(df):
                batch = batches.get_batch(batch_parameters={"dataframe": df})
                results = batch.validate(suite, result_format="COMPLETE")
                for result in results.results:
                    failing.update(result.result.get("unexpected_index_list") or [])
            if extract in KEYS:
                failing.update(df.index[df[KEYS[extract]].duplicated(keep=False)])
            if len(df) and len(failing) > MOST_FAILING * len(df):
                print(f"skipped {extract} {provider} {period_end}: most rows fail")
                continue
            before = previous_rows.get(provider)
            if (
                len(df)
                and before
                and before >= TRUNCATION_FROM_ROWS
                and len(df) < TRUNCATED_SHARE * before
            ):
                print(f"skipped {extract} {provider} {period_end}: looks truncated")
                continue
            previous_rows[provider] = len(df)
            df = df.drop(index=list(failing))
            df["provider"], df["period_end"] = provider, period_end
            kept.append(df)
        valid[extract] = pd.concat(kept, ignore_index=True)
    return valid


def latest_records(df: pd.DataFrame, key: str) -> pd.DataFrame:
    """The latest delivered version of each record (a later period's file replaces it)."""
    df = df.sort_values(["period_end"], kind="stable")
    return df.drop_duplicates(["provider", key], keep="last")


def need_group(cause: str) -> str | None:
    """The Etkind et al. 2017 condition with palliative care need, or None."""
    letter, number = cause[:1], int(cause[1:3]) if cause[1:3].isdigit() else None
    if letter == "C" and number is not None and number <= 97:
        return "cancer"
    if cause[:3] in ("I12", "I13", "N17", "N18", "N28"):
        return "renal"
    if letter == "I" and number is not None and number <= 52:
        return "heart"
    if letter == "J" and ((number is not None and 40 <= number <= 47) or cause[:3] == "J96"):
        return "respiratory"
    if letter == "I" and number is not None and 60 <= number <= 69:
        return "stroke"
    if letter == "K" and number is not None and 70 <= number <= 77:
        return "liver"
    if cause[:3] in ("F01", "F03", "G30", "R54"):
        return "dementia_frailty"
    if cause[:3] in ("G10", "G20", "G35") or cause[:4] in ("G122", "G231", "G903"):
        return "neurodegenerative"
    if letter == "B" and number is not None and 20 <= number <= 24:
        return "hiv"
    return None


def external(cause: str) -> bool:
    """External causes of death: V01-Y89 and U50.9."""
    letter = cause[:1]
    number = int(cause[1:3]) if cause[1:3].isdigit() else None
    return (
        letter in ("V", "W", "X")
        or (letter == "Y" and number is not None and number <= 89)
        or cause[:4] == "U509"
    )


def compute(landing: Path, period_end: dt.date) -> dict[str, tuple[int, int]]:
    """The 13 indicators for the ICS, rolling 12 months to period_end: id -> (numerator, denominator)."""
    data = validate(read_landing(landing))
    period_start = pd.Timestamp(period_end) - pd.DateOffset(years=1) + pd.Timedelta(days=1)
    end = pd.Timestamp(period_end)

    deaths = data["deaths"].sort_values(["period_end"], kind="stable")
    deaths = deaths.drop_duplicates("nhs_number", keep="first")  # a person dies once
    deaths = deaths[(deaths["date_of_death"] - deaths["date_of_birth"]).dt.days >= NEONATAL_DAYS]
    deaths = deaths[(deaths["date_of_death"] >= period_start) & (deaths["date_of_death"] <= end)]
    causes = deaths["underlying_cause_icd10"].str.upper().str.replace(".", "", regex=False)
    deaths = deaths.assign(need=causes.map(need_group).notna(), external=causes.map(external))[
        ["nhs_number", "date_of_death", "place_of_death", "need", "external"]
    ]

    register = data["palliative_register"].sort_values(
        ["period_end", "date_added", "provider"], ascending=[False, False, True], kind="stable"
    )
    register = register.drop_duplicates("nhs_number", keep="first")
    people = deaths.merge(
        register[["nhs_number", "date_added", "care_plan_date"]], on="nhs_number", how="left"
    )
    people["on_register"] = people["date_added"] < people["date_of_death"]
    people["care_plan"] = people["care_plan_date"] < people["date_of_death"]

    spells = latest_records(data["apc_spells"], "spell_id")
    emergency = spells[spells["admission_method"].isin(EMERGENCY_METHODS)]
    emergency = emergency.merge(deaths[["nhs_number", "date_of_death"]], on="nhs_number")
    days_before = (emergency["date_of_death"] - emergency["admission_date"]).dt.days
    emergency = emergency[(days_before >= 0) & (days_before <= 90)]
    admissions = emergency.groupby("nhs_number").size().rename("admissions")
    people = people.merge(admissions, on="nhs_number", how="left")
    people["admissions"] = people["admissions"].fillna(0).astype(int)

    hospice = latest_records(data["hospice_contacts"], "contact_id")
    community = latest_records(data["community_contacts"], "contact_id")
    community = community[community["service"] == "community_palliative_care"]
    spc = pd.concat(
        [
            hospice[["nhs_number", "contact_date"]],
            community[["nhs_number", "contact_date"]],
            spells[spells["specialist_palliative_care"] == "Y"][
                ["nhs_number", "admission_date"]
            ].rename(columns={"admission_date": "contact_date"}),
        ]
    )
    spc = spc.merge(deaths[["nhs_number", "date_of_death"]], on="nhs_number")
    days_before = (spc["date_of_death"] - spc["contact_date"]).dt.days
    seen = set(spc[(days_before >= 0) & (days_before <= 365)]["nhs_number"])
    people["spc"] = people["nhs_number"].isin(seen)

    everyone = len(people)
    need = people[people["need"]]
    not_external = people[~people["external"]]
    place = people["place_of_death"]
    return {
        "PD01": (int((place == "home").sum()), everyone),
        "PD02": (int((place == "care_home").sum()), everyone),
        "PD03": (int((place == "hospital").sum()), everyone),
        "PD04": (int((place == "hospice").sum()), everyone),
        "PD05": (int((place == "other").sum()), everyone),
        "PD06": (
            int(not_external["place_of_death"].isin(["home", "care_home"]).sum()),
            len(not_external),
        ),
        "ND01": (int(people["need"].sum()), everyone),
        "ID01": (int(need["on_register"].sum()), len(need)),
        "HU01": (int((people["admissions"] >= 3).sum()), everyone),
        "HU02": (int((people["admissions"] >= 1).sum()), everyone),
        "HU03": (int(people["admissions"].sum()), everyone),
        "SP01": (int(need["spc"].sum()), len(need)),
        "CP01": (int(need["care_plan"].sum()), len(need)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("landing", type=Path)
    parser.add_argument("--period-end", type=dt.date.fromisoformat, default=dt.date(2026, 9, 30))
    args = parser.parse_args()
    started = time.perf_counter()
    values = compute(args.landing, args.period_end)
    wall = time.perf_counter() - started
    for indicator, (numerator, denominator) in values.items():
        print(f"{indicator}: {numerator} / {denominator}")
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"wall time: {wall:.1f} s; peak memory: {peak_mib:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
