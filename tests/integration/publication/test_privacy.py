"""Nothing published or logged identifies a person: no NHS number (raw or pseudonymised), no
date of birth, no person-level column or row. Scans every file of the synthetic ICS's release
and everything its run logged or printed."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from diewell.release import files as release_files
from diewell.transforms.pseudonymise import pseudonym
from diewell.warehouse.indicators import schema as output_schema
from tests.integration.publication.synthetic_release import PSEUDO_KEY

# Ten digits, not inside a hex string nor the fractional digits of a decimal (1.4736842105 in
# the report's stylesheet is no identifier).
NHS_NUMBER = re.compile(r"(?<![0-9a-f.])\d{3}[ -]?\d{3}[ -]?\d{4}(?![0-9a-f]|\.\d)")
PSEUDONYM = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])", re.IGNORECASE)
PERSON_COLUMN = re.compile(
    r"person|patient|nhs_?number|pseudo|date_of_birth|birth|dob|postcode", re.IGNORECASE
)


def as_text(value) -> str | None:
    """A published value as text; a fractional number cannot hold an identifier, a whole one
    (an NHS number stored as a number) could."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    return str(value)  # strings, integers, booleans, dates (ISO)


def release_texts(release: Path) -> dict[str, str]:
    """Every published file as text: JSON as written; Parquet as its column names and the
    text of every value."""
    texts = {}
    for path in sorted(p for p in release.rglob("*") if p.is_file()):
        name = path.relative_to(release).as_posix()
        if path.suffix == ".parquet":
            df = pl.from_arrow(pq.read_table(path, partitioning=None))
            values = {as_text(v) for c in df.columns for v in df[c].drop_nulls().unique()}
            texts[name] = "\n".join([*df.columns, *sorted(values - {None})])
        else:
            texts[name] = path.read_text(encoding="utf-8")
    return texts


def date_forms(values) -> set[str]:
    """The text forms a date may take: as delivered, ISO, dd/mm/yyyy and yyyymmdd."""
    forms = set()
    for raw in values:
        forms.add(raw)
        for pattern in ("%Y-%m-%d", "%d/%m/%Y", "%Y%m%d", "%d-%m-%Y"):
            try:
                day = dt.datetime.strptime(raw[:10], pattern).date()
            except ValueError:
                continue
            forms |= {day.isoformat(), day.strftime("%d/%m/%Y"), day.strftime("%Y%m%d")}
    return forms


@pytest.fixture(scope="module")
def outputs(synthetic_run) -> dict[str, str]:
    return release_texts(synthetic_run.release)


@pytest.fixture(scope="module")
def logs(synthetic_run) -> str:
    return "\n".join([*synthetic_run.logs, synthetic_run.printed])


@pytest.fixture(scope="module")
def birth_dates(synthetic_run) -> set[str]:
    """Every delivered and loaded date of birth in its text forms, less the dates that are
    legitimately published (period boundaries, delivery period ends, today)."""
    con = synthetic_run.con
    loaded = set()
    for (table,) in con.sql(
        "SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'date_of_birth'"
    ).fetchall():
        for (day,) in con.sql(f"SELECT DISTINCT date_of_birth FROM {table}").fetchall():
            if day is not None:
                loaded.add(day.isoformat())
    assert len(synthetic_run.birth_dates) > 100 and len(loaded) > 100
    legitimate = set()
    for query in (
        "SELECT period_start FROM mart_periods UNION SELECT period_end FROM mart_periods",
        "SELECT period_end FROM landing_files",
    ):
        legitimate |= {d.isoformat() for (d,) in con.sql(query).fetchall() if d is not None}
    legitimate.add(dt.date.today().isoformat())
    return date_forms(synthetic_run.birth_dates | loaded) - date_forms(legitimate)


def identifiers(synthetic_run) -> tuple[set[str], set[str]]:
    numbers = {re.sub(r"\D", "", n) for n in synthetic_run.nhs_numbers}
    numbers = {n for n in numbers if len(n) == 10}
    assert len(numbers) > 1000
    pseudonyms = {pseudonym(n, PSEUDO_KEY.encode()) for n in numbers}
    return numbers, pseudonyms


def found_in(texts: dict[str, str], needles: set[str]) -> dict[str, int]:
    """How many of the needles each text holds, anywhere in it (as `needle in text` would say,
    without searching each text once per needle: a needle can only lie inside a run of the
    characters needles are made of, so every window of a needle's length in those runs is
    looked up instead)."""
    if not needles:
        return {}
    alphabet = "".join(sorted({c for n in needles for c in n}))
    lengths = {len(n) for n in needles}
    runs = re.compile(f"[{re.escape(alphabet)}]{{{min(lengths)},}}")
    hits = {}
    for name, text in texts.items():
        windows = {
            run[i : i + n]
            for run in runs.findall(text)
            for n in lengths
            for i in range(len(run) - n + 1)
        }
        count = len(needles & windows)
        if count:
            hits[name] = count
    return hits


# --------------------------------------------------------------------------------------------
# The release


def test_the_scan_covers_every_published_file(outputs, synthetic_run):
    names = set(outputs)
    assert {"manifest.json", "indicator_catalogue.parquet", "indicators.schema.json"} <= names
    assert sum(n.startswith("indicators/") for n in names) == 6


def test_no_nhs_number_or_pseudonym_shape_is_published(outputs):
    for name, text in outputs.items():
        assert not NHS_NUMBER.search(text), name
        assert not PSEUDONYM.search(text), name


def test_no_delivered_nhs_number_or_its_pseudonym_is_published(outputs, synthetic_run):
    numbers, pseudonyms = identifiers(synthetic_run)
    assert found_in(outputs, numbers) == {}
    assert found_in(outputs, pseudonyms) == {}


def test_no_date_of_birth_is_published(outputs, birth_dates):
    assert found_in(outputs, birth_dates) == {}


def test_no_person_level_column_is_published(synthetic_run):
    for path in synthetic_run.release.rglob("*.parquet"):
        names = pq.read_schema(path).names
        assert not [n for n in names if PERSON_COLUMN.search(n)], path


def test_no_published_row_describes_fewer_than_eight_people(synthetic_run):
    """No record-level row: every published row is an aggregate over at least 8 people (or
    none), judged on the exact counts the warehouse holds. ED01 and ED02 count staff and
    care homes, not people (indicators.md v2): rules 1 and 3 do not apply to them."""
    published = pl.from_arrow(release_files.read_indicators(synthetic_run.release))
    assert not published.select(output_schema.PRIMARY_KEY).is_duplicated().any()
    exact = synthetic_run.values.select(
        *output_schema.PRIMARY_KEY,
        pl.col("numerator").alias("exact_numerator"),
        pl.col("denominator").alias("exact_denominator"),
    )
    shown = published.filter(~pl.col("suppressed")).join(exact, on=output_schema.PRIMARY_KEY)
    assert shown.height == published.height - published["suppressed"].sum()
    shown = shown.filter(~pl.col("indicator_id").is_in(["ED01", "ED02"]))
    for col in ("exact_numerator", "exact_denominator"):
        assert not shown[col].is_between(1, 7).any(), col
    assert (
        published.height
        < synthetic_run.con.sql("SELECT count(*) FROM mart_decedent_cohort").fetchall()[0][0]
        * len(published["indicator_id"].unique())
        * 10
    )


def test_the_pseudonymisation_key_is_not_published(outputs):
    assert found_in(outputs, {PSEUDO_KEY}) == {}


def test_the_manifest_names_files_not_people(synthetic_run):
    manifest = json.loads((synthetic_run.release / "manifest.json").read_text(encoding="utf-8"))
    file_name = re.compile(r"^[a-z_]+_[A-Z0-9]{3,6}_\d{8}\.(csv|parquet)$")
    assert all(file_name.match(entry["file_name"]) for entry in manifest["inputs"])


# --------------------------------------------------------------------------------------------
# The run's logs and printed output


def test_the_run_logged_something_to_scan(synthetic_run, logs):
    assert len(synthetic_run.logs) > 50
    assert "publication audit passed" in logs
    assert "quarantined" in logs  # the generated defects were reported


def test_no_nhs_number_or_pseudonym_in_the_logs(logs, synthetic_run):
    assert not NHS_NUMBER.search(logs)
    assert not PSEUDONYM.search(logs)
    numbers, pseudonyms = identifiers(synthetic_run)
    assert found_in({"logs": logs}, numbers | pseudonyms) == {}
    assert PSEUDO_KEY not in logs


def test_no_date_of_birth_in_the_logs(logs, birth_dates):
    assert found_in({"logs": logs}, birth_dates) == {}
