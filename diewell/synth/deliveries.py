"""Writing extract files as providers deliver them (extracts.md): names, formats, each
sender's quirks, and a small share of realistic defects.

Chunks write their records to temporary Parquet parts, one row group per delivery period;
`assemble` then reads one period at a time across all parts and writes one file per provider
(a header-only file when a provider has nothing that period), so memory holds one month of
one extract at most.

Files: CSV is UTF-8, comma-delimited, one header row, fields quoted only where RFC 4180 needs
it, `\\n` line ends, dates `YYYY-MM-DD` and datetimes `YYYY-MM-DDTHH:MM:SS`. Quirks: practices
on one clinical system write dates `DD/MM/YYYY`; one trust writes NHS numbers `943 476 5919`;
one trust and one hospice send Parquet, every column a string (as their CSV would hold).
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from diewell.synth import parameters as P
from diewell.synth.layout import Provider, to_date

Progress = Callable[[str, int, int], None]
# NHS numbers (Int64) -> the data service's pseudonyms (text), for `--layouts national`.
PersonKey = Callable[[pl.Series], pl.Series]
DEFECT_STREAM = 3

NHS, DATE, DATETIME, TEXT, INT = "nhs", "date", "datetime", "text", "int"
COLUMNS: dict[str, list[tuple[str, str]]] = {
    "deaths": [
        ("nhs_number", NHS), ("date_of_birth", DATE), ("date_of_death", DATE), ("date_of_registration", DATE),
        ("sex", TEXT), ("underlying_cause_icd10", TEXT), ("contributing_causes_icd10", TEXT),
        ("place_of_death", TEXT), ("place_of_death_org_code", TEXT), ("lsoa_code", TEXT), ("gp_practice_code", TEXT),
    ],
    "palliative_register": [
        ("nhs_number", NHS), ("gp_practice_code", TEXT), ("date_added", DATE), ("identification_tool", TEXT),
        ("preferred_place_of_death", TEXT), ("preferred_place_recorded_date", DATE), ("care_plan_date", DATE),
        ("respect_date", DATE), ("dnacpr_date", DATE), ("what_matters_date", DATE), ("ethnic_category", TEXT),
    ],
    "apc_spells": [
        ("spell_id", TEXT), ("nhs_number", NHS), ("admission_date", DATE), ("admission_method", TEXT),
        ("discharge_date", DATE), ("discharge_destination", TEXT), ("primary_diagnosis_icd10", TEXT),
        ("specialist_palliative_care", TEXT),
    ],
    "ae_attendances": [("attendance_id", TEXT), ("nhs_number", NHS), ("arrival_datetime", DATETIME), ("department_type", TEXT)],
    "hospice_referrals": [
        ("referral_id", TEXT), ("nhs_number", NHS), ("date_of_birth", DATE), ("referral_date", DATE),
        ("referral_source", TEXT), ("service", TEXT), ("first_contact_date", DATE), ("discharge_date", DATE),
        ("transition_plan_date", DATE),
    ],
    "hospice_contacts": [
        ("contact_id", TEXT), ("referral_id", TEXT), ("nhs_number", NHS), ("contact_date", DATE),
        ("setting", TEXT), ("out_of_hours", TEXT),
    ],
    "community_contacts": [
        ("contact_id", TEXT), ("nhs_number", NHS), ("contact_date", DATE), ("service", TEXT),
        ("contact_mode", TEXT), ("out_of_hours", TEXT),
    ],
    "spoc_calls": [
        ("call_id", TEXT), ("call_datetime", DATETIME), ("nhs_number", NHS), ("caller_type", TEXT), ("outcome", TEXT),
    ],
    "outcome_assessments": [
        ("assessment_id", TEXT), ("nhs_number", NHS), ("assessment_date", DATE), ("phase_of_illness", TEXT),
        ("akps", INT), ("ipos_total", INT),
    ],
    "gp_population": [("gp_practice_code", TEXT), ("sex", TEXT), ("age_band", TEXT), ("patients", INT)],
    "ref_lsoa": [("lsoa_code", TEXT), ("imd_decile", INT), ("place_code", TEXT), ("place_name", TEXT)],
    "ref_practice": [
        ("gp_practice_code", TEXT), ("practice_name", TEXT), ("pcn_code", TEXT), ("pcn_name", TEXT),
        ("place_code", TEXT), ("place_name", TEXT),
    ],
    # v2
    "dementia_register": [
        ("nhs_number", NHS), ("gp_practice_code", TEXT), ("date_diagnosed", DATE), ("dementia_subtype", TEXT),
    ],
    "bereavement_contacts": [
        ("contact_id", TEXT), ("deceased_nhs_number", NHS), ("contact_date", DATE), ("support", TEXT),
        ("relationship", TEXT),
    ],
    "education_sessions": [
        ("session_id", TEXT), ("session_date", DATE), ("course", TEXT), ("audience_sector", TEXT),
        ("organisation_code", TEXT), ("attendees", INT), ("hours", TEXT),
    ],
    "ref_care_homes": [
        ("location_id", TEXT), ("care_home_name", TEXT), ("lsoa_code", TEXT), ("beds", INT), ("nursing", TEXT),
    ],
}  # fmt: skip
# Row order within a file: the event date, then the record's key.
SORT_KEYS = {
    "deaths": ["date_of_registration", "date_of_death", "nhs_number"],
    "palliative_register": ["date_added", "nhs_number"],
    "apc_spells": ["admission_date", "spell_id"],
    "ae_attendances": ["arrival_datetime", "attendance_id"],
    "hospice_referrals": ["referral_date", "referral_id"],
    "hospice_contacts": ["contact_date", "contact_id"],
    "community_contacts": ["contact_date", "contact_id"],
    "spoc_calls": ["call_datetime", "call_id"],
    "outcome_assessments": ["assessment_date", "assessment_id"],
    "dementia_register": ["date_diagnosed", "nhs_number"],
    "bereavement_contacts": ["contact_date", "contact_id"],
    "education_sessions": ["session_date", "session_id"],
}
KEYS = {
    "apc_spells": "spell_id",
    "ae_attendances": "attendance_id",
    "hospice_referrals": "referral_id",
    "hospice_contacts": "contact_id",
    "community_contacts": "contact_id",
    "spoc_calls": "call_id",
    "outcome_assessments": "assessment_id",
    "bereavement_contacts": "contact_id",
    "education_sessions": "session_id",
}
EVENT_DATES = {extract: keys[0] for extract, keys in SORT_KEYS.items()}
DEFECT_EXTRACTS = ("deaths", *KEYS)  # activity and deaths rows carry defects; references do not
POLARS_TYPES = {
    NHS: pl.Int64,
    DATE: pl.Date,
    DATETIME: pl.Datetime("ms"),
    TEXT: pl.String,
    INT: pl.Int64,
}


def empty_records(extract: str) -> pl.DataFrame:
    """A typed frame with no rows: a provider with nothing to deliver this period."""
    schema = {"provider": pl.String, "period": pl.Date}
    schema |= {name: POLARS_TYPES[kind] for name, kind in COLUMNS[extract]}
    return pl.DataFrame(schema=schema)


def file_path(landing: Path, extract: str, provider: Provider, period_end: int) -> Path:
    """landing/<extract>/<extract>_<provider>_<YYYYMMDD>.<csv|parquet> (extracts.md)."""
    stamp = to_date(period_end).strftime("%Y%m%d")
    return landing / extract / f"{extract}_{provider.code}_{stamp}.{provider.file_format}"


# --- formatting and writing ------------------------------------------------------------


def formatted(
    records: pl.DataFrame, extract: str, provider: Provider, person_key: PersonKey | None = None
) -> pl.DataFrame:
    """The contract's columns as the provider's system writes them (all strings).

    With `person_key`, every NHS number column holds the person's pseudonym instead.
    """
    date_format = "%d/%m/%Y" if provider.day_first_dates else "%Y-%m-%d"
    exprs = []
    for name, kind in COLUMNS[extract]:
        col = pl.col(name)
        if kind == NHS and person_key is not None:
            exprs.append(pl.lit(person_key(records[name]), dtype=pl.String).alias(name))
        elif kind == NHS:
            text = col.cast(pl.String)
            if provider.spaced_nhs_numbers:
                text = pl.concat_str(
                    [text.str.slice(0, 3), text.str.slice(3, 3), text.str.slice(6, 4)],
                    separator=" ",
                )
            exprs.append(text.alias(name))
        elif kind == DATE:
            exprs.append(col.dt.strftime(date_format).alias(name))
        elif kind == DATETIME:
            exprs.append(col.dt.strftime("%Y-%m-%dT%H:%M:%S").alias(name))
        else:
            exprs.append(col.cast(pl.String).alias(name))
    return records.select(exprs)


def write_file(table: pl.DataFrame, path: Path, provider: Provider) -> None:
    """Write one delivery: CSV (RFC 4180 quoting) or Parquet with string columns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if provider.file_format == "parquet":
        schema = pa.schema([(c, pa.string()) for c in table.columns])
        arrow = pa.Table.from_pydict({c: table[c].to_list() for c in table.columns}, schema=schema)
        pq.write_table(arrow, path, compression="zstd", row_group_size=1 << 20)
    else:
        table.write_csv(path, quote_style="necessary", line_terminator="\n", null_value="")


def deliver(
    records: pl.DataFrame, extract: str, provider: Provider, period_end: int, landing: Path,
    seed: int, defect_rate: float, person_key: PersonKey | None = None,
) -> None:  # fmt: skip
    """Sort, format, add defects and write one provider's file for one period (with
    `person_key`, NHS numbers written as the data service's pseudonyms)."""
    records = sorted_records(records, extract)
    table = formatted(records, extract, provider, person_key)
    if defect_rate > 0 and extract in DEFECT_EXTRACTS and table.height:
        rng = np.random.default_rng(
            np.random.SeedSequence(
                [
                    seed,
                    DEFECT_STREAM,
                    zlib.crc32(extract.encode()),
                    zlib.crc32(provider.code.encode()),
                    period_end,
                ]
            )
        )
        table = with_defects(table, extract, provider, rng, defect_rate)
    write_file(table, file_path(landing, extract, provider, period_end), provider)


def sorted_records(records: pl.DataFrame, extract: str) -> pl.DataFrame:
    """A delivery's records in file order: the event date, then the record's key."""
    if not records.height:
        return records
    return records.sort(SORT_KEYS.get(extract, [c for c, _ in COLUMNS[extract]]), nulls_last=True)


# --- defects ---------------------------------------------------------------------------


def with_defects(
    table: pl.DataFrame, extract: str, provider: Provider, rng: np.random.Generator, rate: float
) -> pl.DataFrame:
    """A binomial share `rate` of rows (never more than 10% of the file) each get one defect:
    a wrong NHS check digit, an impossible date, a discharge before admission (apc) or a
    repeated key (the row delivered twice)."""
    n = table.height
    count = min(int(rng.binomial(n, rate)), int(n * P.MAX_DEFECT_SHARE_PER_FILE))
    if count == 0:
        return table
    rows = np.sort(rng.choice(n, count, replace=False))
    kinds = [
        kind
        for kind in P.DEFECT_KINDS
        if (kind != "discharge_before_admission" or extract == "apc_spells")
        and (kind != "duplicate_key" or extract in KEYS)
    ]
    chosen = np.array(kinds)[rng.integers(0, len(kinds), count)]
    date_format = "%d/%m/%Y" if provider.day_first_dates else "%Y-%m-%d"
    originals = table[rows].to_dicts()
    changed, repeats = [], []
    for row, kind, values in zip(rows, chosen, originals, strict=True):
        broken = _break(dict(values), str(kind), extract, date_format, rng)
        if broken is None:  # a repeated key: the row again, straight after itself
            repeats.append((int(row), values))
        else:
            changed.append((int(row), broken))
    out = table.with_row_index("_row").with_columns(pl.lit(0).alias("_copy"))
    keep = out.filter(~pl.col("_row").is_in([r for r, _ in changed]))
    extra = [
        pl.DataFrame([values], schema=table.schema).with_columns(pl.lit(r, pl.UInt32).alias("_row"), pl.lit(c).alias("_copy"))
        for r, values, c in [(r, v, 0) for r, v in changed] + [(r, v, 1) for r, v in repeats]
    ]  # fmt: skip
    extra = [e.select(keep.columns) for e in extra]
    return pl.concat([keep, *extra]).sort("_row", "_copy").drop("_row", "_copy")


def _break(
    values: dict, kind: str, extract: str, date_format: str, rng: np.random.Generator
) -> dict | None:
    """One row with one defect, or None for a duplicated row."""
    if kind == "duplicate_key":
        return None
    if kind == "bad_check_digit" and values.get("nhs_number"):
        number = values["nhs_number"]
        digits = number.replace(" ", "")
        if len(digits) != 10 or not digits.isdigit():  # a pseudonym: made standard base64
            at = int(rng.integers(0, 9)) % len(number)
            values["nhs_number"] = number[:at] + "+" + number[at + 1 :]
            return values
        wrong = (int(number[-1]) + 1 + int(rng.integers(0, 9))) % 10
        values["nhs_number"] = number[:-1] + str(wrong)
        return values
    if kind == "discharge_before_admission" and values.get("discharge_date"):
        admitted = dt.datetime.strptime(values["admission_date"], date_format).date()
        values["discharge_date"] = (admitted - dt.timedelta(days=int(rng.integers(1, 6)))).strftime(
            date_format
        )
        return values
    column = EVENT_DATES[extract]
    year = str(values[column])[-4:] if date_format.startswith("%d") else str(values[column])[:4]
    impossible = [f"31/02/{year}", f"{year}-13-01", f"{year}-02-30"]
    value = impossible[int(rng.integers(0, len(impossible)))]
    values[column] = value + ("T10:15:00" if column.endswith("datetime") and "-" in value else "")
    return values


# --- temporary parts and assembly ------------------------------------------------------


class Parts:
    """Chunk outputs in temporary Parquet files, indexed by (extract, period end)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.index: dict[tuple[str, int], list[tuple[Path, int]]] = defaultdict(list)

    def add(self, chunk: int, extract: str, records: pl.DataFrame) -> None:
        """Store one chunk's records of one extract: one row group per delivery period."""
        if not records.height:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{extract}-{chunk:05d}.parquet"
        records = records.with_columns(pl.col("period").cast(pl.Int32).alias("_period")).sort(
            "_period", maintain_order=True
        )
        table = records.drop("_period").to_arrow()
        periods = records["_period"].to_numpy()
        bounds = np.flatnonzero(np.diff(periods)) + 1
        starts = np.concatenate([[0], bounds])
        stops = np.concatenate([bounds, [len(periods)]])
        with pq.ParquetWriter(path, table.schema, compression="lz4") as writer:
            for group, (a, b) in enumerate(zip(starts, stops, strict=True)):
                writer.write_table(table.slice(a, b - a), row_group_size=b - a)
                self.index[(extract, int(periods[a]))].append((path, group))

    def read(self, extract: str, period_end: int) -> pl.DataFrame:
        """Every chunk's records of one extract for one period."""
        pieces = [
            pq.ParquetFile(path).read_row_group(group)
            for path, group in self.index.get((extract, period_end), [])
        ]
        if not pieces:
            return empty_records(extract)
        return pl.from_arrow(pa.concat_tables(pieces)).cast(empty_records(extract).schema)


def assemble(
    parts: Parts, extract: str, periods: np.ndarray, providers: list[Provider], landing: Path,
    seed: int, defect_rate: float, progress: Progress, deliver_file: Callable[..., None] | None = None,
) -> None:  # fmt: skip
    """Write every provider's file for every period of one extract (with `deliver_file`,
    which takes `deliver`'s arguments, in place of `deliver`)."""
    deliver_file = deliver_file or deliver
    for i, period_end in enumerate(periods):
        records = parts.read(extract, int(period_end))
        by_provider = {
            key[0]: frame for key, frame in records.partition_by("provider", as_dict=True).items()
        }
        for provider in providers:
            rows = by_provider.get(provider.code, empty_records(extract))
            deliver_file(rows, extract, provider, int(period_end), landing, seed, defect_rate)
        progress(f"write {extract}", i + 1, len(periods))
