"""One delivery's contract-shaped records, written as the national dataset that carries them:
the source rows of the built-in layout (sources.md v3) that give those records back.

Each builder takes one provider's records of one period (typed, as `records` makes them, in
file order) and returns the layout's source columns as text, with the person key still an
NHS number (Int64: the writer pseudonymises it) and FILTERED: the reason the layout must
filter the row, on the rows added to be filtered, null on every other row. Every choice is a
hash of the record's key (`unit`), so a record is written the same way in each delivery it
is in and no random stream of the contract generator is touched.

Here: deaths (ncdr_deaths), with a cancelled earlier registration (CANCELLED_FLAG `Y`, filtered)
of CANCELLED_SHARE of deaths; and spells (ncdr_apc_episodes, which filters nothing). ECDS and
CSDS: `national_ecds_csds`; GP events: `national_gp`.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np
import polars as pl

FILTERED = "_filtered"
MASK64 = (1 << 64) - 1

CANCELLED_SHARE = 0.02  # deaths with a cancelled earlier registration (cause then R99)
NO_DATE_OF_BIRTH_SHARE = 0.2  # deaths of people aged 1+ sent with the age at death only
DEAD_ON_ARRIVAL_SHARE = 0.5  # of deaths `elsewhere` in the window: pronounced dead in A&E
DIED_WITHOUT_DESTINATION_SHARE = 0.5  # deaths in hospital with method 4 and no destination

CONTRACT_PLACE = {"10": "hospital", "20": "home", "21": "home", "22": "other", "30": "hospice", "40": "care_home", "41": "care_home", "42": "care_home", "50": "other"}  # fmt: skip
# How the place of death is registered, by the contract's place (or its code where the code
# says more: 41 nursing and 42 residential care homes, 22 another private residence):
# (POD_CODE, POD_NHS_ESTABLISHMENT, POD_ESTABLISHMENT_TYPE, weight). `C` stands for the
# communal establishment's own code. Each classifies back by the PHE rules of ncdr_deaths.
ESTABLISHMENTS: dict[str, tuple[tuple[str, str, str, float], ...]] = {
    "home": (("H", "", "", 1.0),),
    "hospital": (
        ("C", "1", "01", 0.80), ("C", "1", "1", 0.07), ("C", "1", "03", 0.05), ("C", "1", "99", 0.02),
        ("C", "2", "01", 0.05), ("C", "2", "19", 0.01),
    ),
    "care_home": (
        ("C", "2", "20", 0.25), ("C", "2", "22", 0.15), ("C", "2", "32", 0.25), ("C", "2", "33", 0.08),
        ("C", "2", "4", 0.03), ("C", "2", "07", 0.02), ("C", "2", "10", 0.04), ("C", "2", "14", 0.03),
        ("C", "2", "99", 0.03), ("C", "1", "21", 0.05), ("C", "1", "02", 0.01), ("C", "1", "04", 0.02),
        ("C", "1", "07", 0.02), ("C", "1", "10", 0.02),
    ),
    "41": (("C", "2", "20", 0.5), ("C", "2", "22", 0.3), ("C", "1", "21", 0.1), ("C", "2", "10", 0.1)),
    "42": (("C", "2", "32", 0.75), ("C", "2", "33", 0.25)),
    "hospice": (("C", "2", "83", 0.8), ("C", "1", "83", 0.2)),
    "other": (
        ("E", "", "", 0.8), ("C", "2", "05", 0.04), ("C", "1", "06", 0.03), ("C", "2", "28", 0.04),
        ("C", "2", "50", 0.05), ("C", "2", "82", 0.04),
    ),
    "22": (("E", "", "", 1.0),),
}  # fmt: skip
CAUSE_COLUMNS = [f"S_COD_CODE_{i}" for i in range(1, 16)]
CORRECTED_CAUSE = "R99X"  # ill-defined: the registration later corrected (and this one cancelled)

# SUS+ APC: treatment functions of episodes not in palliative medicine (315), and maternity's.
TREATMENT_FUNCTIONS = ("300", "300", "300", "430", "100", "110", "320", "340", "101", "301", "120", "302")  # fmt: skip
MATERNITY_FUNCTION = "501"
MATERNITY_METHODS = ("31", "32")
PALLIATIVE_MEDICINE = "315"
PALLIATIVE_DIAGNOSIS = "Z515"  # the palliative medicine episode's primary diagnosis
DEATHS_COLUMNS = [
    "DER_PSEUDO_NHS_NUMBER", "REG_DATE_OF_DEATH", "REG_DATE", "DEC_SEX", "DEC_DATE_OF_BIRTH",
    "DER_AGE_AT_DEATH", "NEO_NATE_FLAG", "S_UNDERLYING_COD_ICD10", *CAUSE_COLUMNS, "POD_CODE",
    "POD_NHS_ESTABLISHMENT", "POD_ESTABLISHMENT_TYPE", "LSOA_OF_RESIDENCE_CODE",
    "GP_PRACTICE_CODE", "CANCELLED_FLAG",
]  # fmt: skip
APC_COLUMNS = [
    "APCS_Ident", "Der_Pseudo_NHS_Number", "Episode_Number", "Admission_Date", "Admission_Method",
    "Discharge_Date", "Discharge_Destination", "Discharge_Method", "Der_Primary_Diagnosis_Code",
    "Treatment_Function_Code", "Main_Specialty_Code",
]  # fmt: skip


# --- deterministic draws -----------------------------------------------------------------


def unit(keys: np.ndarray, seed: int, name: str) -> np.ndarray:
    """A number in [0, 1) for each key (non-negative integers), fixed by (seed, name)."""
    salt = (zlib.crc32(f"{seed}:{name}".encode()) * 0x9E3779B97F4A7C15) & MASK64
    z = np.asarray(keys).astype(np.uint64) ^ np.uint64(salt)
    z = z + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def choose(u: np.ndarray, weighted: tuple) -> np.ndarray:
    """The index of the entry each draw falls on, entries weighted by their last item."""
    weights = np.array([entry[-1] for entry in weighted], dtype=float)
    edges = np.cumsum(weights / weights.sum())
    return np.minimum(np.searchsorted(edges, u, side="right"), len(weighted) - 1)


def picked(u: np.ndarray, weighted: tuple) -> np.ndarray:
    """The code (first item) of the entry each draw falls on."""
    return np.array([entry[0] for entry in weighted], dtype=object)[choose(u, weighted)]


def id_keys(ids: pl.Series) -> np.ndarray:
    """The number inside each record identifier (`S0000100000012` -> 100000012)."""
    return ids.str.replace_all(r"[^0-9]", "").cast(pl.UInt64).to_numpy()


def ncdr_icd10(code: pl.Expr) -> pl.Expr:
    """An ICD-10 code as NCDR writes it: no dot, a three-character code filled with `X`."""
    plain = code.str.replace_all(".", "", literal=True)
    return pl.when(plain.str.len_chars() == 3).then(plain + "X").otherwise(plain)


def text_series(values: np.ndarray) -> pl.Series:
    """Strings; '' is empty."""
    return pl.Series(np.asarray(values, dtype=object).astype(str)).replace("", None)


def in_order(rows: list[pl.DataFrame], columns: list[str]) -> pl.DataFrame:
    """Rows of several frames, ordered by `_order` (then as listed), in `columns`."""
    frame = pl.concat([r.select(*columns, FILTERED, "_order") for r in rows], how="vertical")
    return frame.sort("_order", maintain_order=True).drop("_order")


# --- deaths -> ncdr_deaths -----------------------------------------------------------------


def place_key(place: str) -> str:
    """The key of ESTABLISHMENTS for a contract place of death (a word or a code)."""
    return place if place in ("41", "42", "22") else CONTRACT_PLACE.get(place, place)


def dead_on_arrival(nhs: np.ndarray, place: np.ndarray, seed: int) -> np.ndarray:
    """Deaths `elsewhere` pronounced in an emergency department (ONS counts them elsewhere)."""
    elsewhere = np.isin(np.asarray(place, dtype=object), ["other", "50"])
    return elsewhere & (unit(nhs, seed, "dead on arrival") < DEAD_ON_ARRIVAL_SHARE)


def deaths_rows(records: pl.DataFrame, seed: int, lsoa_2011: Mapping[str, str]) -> pl.DataFrame:
    """ncdr_deaths rows for one delivery of deaths, with the cancelled registrations added."""
    nhs = records["nhs_number"].to_numpy()
    place = records["place_of_death"].to_numpy().astype(object)
    org = records["place_of_death_org_code"].fill_null("").to_numpy().astype(object)
    draw = unit(nhs, seed, "place of death")
    which = np.array([place_key(p) for p in place], dtype=object)
    pod, nhs_flag, kind = (np.full(len(place), "", dtype=object) for _ in range(3))
    for key, table in ESTABLISHMENTS.items():
        rows = np.flatnonzero(which == key)
        chosen = np.array([entry[:3] for entry in table], dtype=object)[choose(draw[rows], table)]
        pod[rows], nhs_flag[rows], kind[rows] = chosen[:, 0], chosen[:, 1], chosen[:, 2]
    doa = dead_on_arrival(nhs, place, seed)
    pod[doa], nhs_flag[doa], kind[doa] = "E", "", ""
    # A communal establishment's code: its ODS code where the contract row names one.
    number = (unit(nhs, seed, "establishment") * 90_000).astype(np.int64) + 10_000
    own = np.array([f"CE{x}" for x in number], dtype=object)
    pod = np.where(pod == "C", np.where(org != "", org, own), pod)
    causes = records["contributing_causes_icd10"].fill_null("").str.split(";").to_list()
    cause_columns = {
        name: pl.Series([c[i] if i < len(c) and c[i] else None for c in causes], dtype=pl.String)
        for i, name in enumerate(CAUSE_COLUMNS)
    }
    no_dob = unit(nhs, seed, "date of birth withheld") < NO_DATE_OF_BIRTH_SHARE
    dob, dod = pl.col("date_of_birth"), pl.col("date_of_death")

    def month_day(date: pl.Expr) -> pl.Expr:
        return date.dt.month().cast(pl.Int32) * 100 + date.dt.day().cast(pl.Int32)

    age = (  # completed years: one less before the birthday in the year of death
        dod.dt.year().cast(pl.Int32)
        - dob.dt.year().cast(pl.Int32)
        - (month_day(dod) < month_day(dob)).cast(pl.Int32)
    )
    kept = records.select(
        pl.col("nhs_number").alias("DER_PSEUDO_NHS_NUMBER"),
        dod.dt.strftime("%Y%m%d").alias("REG_DATE_OF_DEATH"),
        pl.col("date_of_registration").dt.strftime("%Y%m%d").alias("REG_DATE"),
        pl.col("sex").alias("DEC_SEX"),
        pl.when(pl.lit(pl.Series(no_dob)) & (age >= 1))
        .then(None)
        .otherwise(dob.dt.strftime("%Y%m%d"))
        .alias("DEC_DATE_OF_BIRTH"),
        age.cast(pl.String).alias("DER_AGE_AT_DEATH"),
        pl.when((dod - dob).dt.total_days() < 28).then(pl.lit("Y")).alias("NEO_NATE_FLAG"),
        ncdr_icd10(pl.col("underlying_cause_icd10")).alias("S_UNDERLYING_COD_ICD10"),
        *(ncdr_icd10(pl.lit(series)).alias(name) for name, series in cause_columns.items()),
        pl.lit(text_series(pod)).alias("POD_CODE"),
        pl.lit(text_series(nhs_flag)).alias("POD_NHS_ESTABLISHMENT"),
        pl.lit(text_series(kind)).alias("POD_ESTABLISHMENT_TYPE"),
        pl.col("lsoa_code").replace(dict(lsoa_2011)).alias("LSOA_OF_RESIDENCE_CODE"),
        pl.col("gp_practice_code").alias("GP_PRACTICE_CODE"),
        pl.lit("N").alias("CANCELLED_FLAG"),
        pl.lit(None, dtype=pl.String).alias(FILTERED),
        (pl.int_range(pl.len(), dtype=pl.Int64) * 2 + 1).alias("_order"),
    )
    cancelled = kept.filter(pl.lit(pl.Series(unit(nhs, seed, "cancelled") < CANCELLED_SHARE)))
    cancelled = cancelled.with_columns(
        pl.lit(CORRECTED_CAUSE).alias("S_UNDERLYING_COD_ICD10"),
        pl.lit("Y").alias("CANCELLED_FLAG"),
        pl.lit("cancelled_registration").alias(FILTERED),
        pl.col("_order") - 1,
    )
    return in_order([kept, cancelled], DEATHS_COLUMNS)


# --- apc_spells -> ncdr_apc_episodes -------------------------------------------------------


def apc_episode_rows(records: pl.DataFrame, seed: int) -> pl.DataFrame:
    """ncdr_apc_episodes rows: one to three consultant episodes per spell; a spell seen by
    the specialist palliative care team has its last episode in palliative medicine (315, as
    the treatment function, or as the consultant's main specialty only)."""
    n = records.height
    key = id_keys(records["spell_id"])
    u = unit(key, seed, "episodes")
    count = 1 + (u < 0.25).astype(np.int64) + (u < 0.07).astype(np.int64)
    row = np.repeat(np.arange(n), count)
    k = np.arange(len(row)) - np.repeat(np.cumsum(count) - count, count)
    last = k == count[row] - 1
    seen = (records["specialist_palliative_care"] == "Y").fill_null(False).to_numpy()
    in_pm = seen[row] & last
    main_only = unit(key, seed, "palliative medicine as main specialty")[row] < 0.3
    method = records["admission_method"].to_numpy().astype(object)[row]
    functions = np.array(TREATMENT_FUNCTIONS, dtype=object)
    usual = functions[
        (
            unit(key[row] * np.uint64(4) + k.astype(np.uint64), seed, "function") * len(functions)
        ).astype(np.int64)
    ]
    usual = np.where(np.isin(method, MATERNITY_METHODS), MATERNITY_FUNCTION, usual)
    treatment = np.where(in_pm & ~main_only, PALLIATIVE_MEDICINE, usual)
    main = np.where(in_pm, PALLIATIVE_MEDICINE, usual)
    destination = records["discharge_destination"].fill_null("").to_numpy().astype(object)
    died = destination == "79"
    quiet = died & (unit(key, seed, "died without destination") < DIED_WITHOUT_DESTINATION_SHARE)
    ends = last & records["discharge_date"].is_not_null().to_numpy()[row]
    method_out = np.where(ends, np.where(died[row], "4", "1"), "8")
    spells = records.select(
        pl.col("spell_id").alias("APCS_Ident"),
        pl.col("nhs_number").alias("Der_Pseudo_NHS_Number"),
        pl.col("admission_date").dt.strftime("%Y-%m-%d").alias("Admission_Date"),
        pl.col("admission_method").alias("Admission_Method"),
        pl.col("discharge_date").dt.strftime("%Y-%m-%d").alias("_discharge"),
        pl.col("discharge_destination").alias("_destination"),
        ncdr_icd10(pl.col("primary_diagnosis_icd10")).alias("_diagnosis"),
    )[row]
    ends_s, first_s = pl.lit(pl.Series(ends)), pl.lit(pl.Series(k == 0))
    episodes = spells.with_columns(
        pl.lit(pl.Series(k + 1).cast(pl.String).str.zfill(2)).alias("Episode_Number"),
        pl.when(ends_s).then(pl.col("_discharge")).alias("Discharge_Date"),
        pl.when(ends_s & ~pl.lit(pl.Series(quiet[row])))
        .then(pl.col("_destination"))
        .alias("Discharge_Destination"),
        pl.lit(text_series(method_out)).alias("Discharge_Method"),
        pl.when(first_s | ~pl.lit(pl.Series(in_pm)))
        .then(pl.col("_diagnosis"))
        .otherwise(pl.lit(PALLIATIVE_DIAGNOSIS))
        .alias("Der_Primary_Diagnosis_Code"),
        pl.lit(text_series(treatment)).alias("Treatment_Function_Code"),
        pl.lit(text_series(main)).alias("Main_Specialty_Code"),
        pl.lit(None, dtype=pl.String).alias(FILTERED),
    )
    return episodes.select(*APC_COLUMNS, FILTERED)
