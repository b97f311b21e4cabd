"""The bad-input corpus (tests/corpus): each broken delivery gets its exact reason.

Every case of tests/corpus/cases.yaml is delivered to a fresh ICS (warehouse and landing
folder in a temporary directory), after any prerequisite deliveries in its before/ folder.
The test checks the outcome the case names (the file rule and the reason's words, or the row
accounting and every quarantine finding), and that the warehouse holds nothing it should not:
no row of a rejected file, no staging row of a file that is not current, accounting that adds
up for every loaded file, NHS numbers masked in quarantine, and no raw NHS number of the case's
files anywhere in the warehouse.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from diewell import warehouse
from diewell.config import load_config
from diewell.sources.ingest import ingest_landing
from diewell.sources.load import FileOutcome
from diewell.transforms.nhs_number import is_valid_nhs_number
from tests.conftest import REPO
from tests.corpus import make_corpus

CORPUS = REPO / "tests" / "corpus"
ALL_CASES = yaml.safe_load((CORPUS / "cases.yaml").read_text(encoding="utf-8"))
# Hostile cases are built at test time and checked by test_hostile_deliveries.py.
CASES = [c for c in ALL_CASES if not c.get("hostile")]
HOSTILE_CASES = [c for c in ALL_CASES if c.get("hostile")]
# An NHS number as it may be written: 3-3-4 digits, with or without spaces or hyphens; 9 or 10
# digits so that a mistyped one is caught too. Dates (4-2-2) do not have this shape.
# 9-10 digits, perhaps grouped 3-3-4; not the digits of a CQC location id ("1-" and 9-11 digits).
NHS_LIKE = re.compile(r"(?<![0-9])(?<!1-)[0-9]{3}[ \-]?[0-9]{3}[ \-]?[0-9]{3,4}(?![0-9])")
MASKED = re.compile(r"^\*+[0-9A-Za-z]{0,2}$")
csv.field_size_limit(10_000_000)  # the corpus has a 1 MB field


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The big cases, built once per module in a temporary folder (never committed)."""
    built: dict[str, Path] = {}

    def folder(name: str) -> Path:
        if name not in built:
            built[name] = make_corpus.generate(name, tmp_path_factory.mktemp(name))
        return built[name]

    return folder


def _case_folder(case: dict, generated) -> Path:
    if "generate" in case:
        return generated(case["generate"])
    return CORPUS / case["case"]


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


# The cases whose text reaches the GX Data Docs pages a run builds (column names, values a
# sender wrote): these build them as a run does; the rest skip them (report=False), as what a
# file's rows become does not depend on the pages.
DATA_DOCS_CASES = {
    "control_characters_in_header",
    "line_break_in_parquet_column_name",
    "nhs_number_in_date_and_code_columns",
    "quoted_comma_quote_and_newline",
    "latin1_encoding",
    "nhs_number_bad_checksum",
}


def _deliver(
    config, con, files: list[Path], run_id: str, report: bool = False
) -> list[FileOutcome]:
    for f in files:
        shutil.copyfile(f, config.landing / f.name)
    return ingest_landing(con, config, run_id, report=report)


def _value(con, sql: str, params: list | None = None):
    return con.execute(sql, params or []).fetchall()[0][0]


def _tables(con) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_type = 'BASE TABLE' ORDER BY 1"
    ).fetchall()
    return [r[0] for r in rows]


def _staging_tables(con) -> list[str]:
    return [t for t in _tables(con) if t.startswith("stg_")]


def _snapshot(con) -> dict[str, int]:
    """Rows per staging table, quarantine rows and current files: what a rejection must not change."""
    counts = {t: _value(con, f'SELECT count(*) FROM "{t}"') for t in _staging_tables(con)}
    counts["quarantine_rows"] = _value(con, "SELECT count(*) FROM quarantine_rows")
    counts["loaded files"] = _value(
        con, "SELECT count(*) FROM landing_files WHERE status = 'loaded'"
    )
    return counts


def _landing_row(con, run_id: str) -> dict | None:
    cur = con.execute("SELECT * FROM landing_files WHERE run_id = ?", [run_id])
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


# --- raw NHS numbers in the delivered files ---------------------------------------------------


def _python_values(column: pa.ChunkedArray) -> list:
    """A Parquet column's values; a date or time as its count from 1970 (any value, even one
    beyond the calendar Python can hold)."""
    if pa.types.is_date32(column.type):
        column = column.cast(pa.int32())
    elif pa.types.is_temporal(column.type):
        column = column.cast(pa.int64())
    return column.to_pylist()


def _file_text(path: Path) -> str:
    """The readable text of a delivered file, whatever its encoding or container."""
    data = path.read_bytes()
    if data.startswith(b"PAR1"):
        try:
            table = pq.read_table(io.BytesIO(data))
        except Exception:  # truncated: what is left is not readable as a table
            return data.decode("latin-1")
        values = [v for col in table.columns for v in _python_values(col) if v is not None]
        return "\n".join(str(int(v)) if isinstance(v, float) else str(v) for v in values)
    if data.startswith(b"\x1f\x8b"):
        return gzip.decompress(data).decode("utf-8")
    if data.startswith(b"PK\x03\x04"):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode("utf-8") for n in z.namelist())
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if data[1:40:2].count(0) > 10:
        return data.decode("utf-16-le")
    return data.decode("utf-8", errors="replace")


def raw_nhs_numbers(path: Path) -> set[str]:
    """Every NHS number (valid or not) written in a file, as written and without separators."""
    text = _file_text(path)
    found = set(NHS_LIKE.findall(text))
    if len(text) < 5_000_000:  # the values of the NHS number column, letters and all
        rows = list(csv.reader(io.StringIO(text, newline="")))
        if rows:
            header = [h.strip().lower() for h in rows[0]]
            if "nhs_number" in header:
                i = header.index("nhs_number")
                found |= {r[i].strip() for r in rows[1:] if len(r) > i and len(r[i].strip()) >= 6}
    return found | {re.sub(r"[ \-]", "", v) for v in found}


def _assert_no_raw_nhs_numbers(con, files: list[Path]) -> None:
    forbidden = set().union(*(raw_nhs_numbers(f) for f in files)) if files else set()
    if not forbidden:
        return
    assert all(re.fullmatch(r"[0-9A-Za-z \-]+", v) for v in forbidden)
    pattern = "|".join(v.replace(" ", "[ ]").replace("-", "[-]") for v in sorted(forbidden))
    columns = con.execute(
        "SELECT c.table_name, c.column_name FROM information_schema.columns c "
        "JOIN information_schema.tables t USING (table_schema, table_name) "
        "WHERE c.table_schema = 'main' AND t.table_type = 'BASE TABLE' AND c.data_type = 'VARCHAR'"
    ).fetchall()
    leaks = []
    for table, column in columns:
        n = _value(
            con, f'SELECT count(*) FROM "{table}" WHERE regexp_matches("{column}", ?)', [pattern]
        )
        if n:
            leaks.append(f"{table}.{column}: {n} value(s)")
    assert not leaks, f"raw NHS numbers in the warehouse: {leaks}"


# --- the warehouse as a whole ------------------------------------------------------------------


def _assert_warehouse_consistent(con) -> None:
    """Accounting adds up for every current file, and staging holds rows of current files only."""
    bad = con.execute(
        "SELECT file_name FROM landing_files WHERE status = 'loaded' "
        "AND rows_read <> rows_loaded + rows_quarantined"
    ).fetchall()
    assert bad == []
    rejected = con.execute(
        "SELECT file_name FROM landing_files WHERE status = 'rejected' "
        "AND (reject_rule IS NULL OR reject_reason IS NULL OR rows_loaded IS NOT NULL)"
    ).fetchall()
    assert rejected == []
    for table in _staging_tables(con):
        stray = _value(
            con,
            f'SELECT count(*) FROM "{table}" WHERE file_id NOT IN '
            "(SELECT file_id FROM landing_files WHERE status = 'loaded')",
        )
        assert stray == 0, f"{table} holds rows of files that are not current"
        per_file = con.execute(
            f'SELECT s.file_id, count(*), any_value(f.rows_loaded) FROM "{table}" s '
            "JOIN landing_files f USING (file_id) GROUP BY s.file_id"
        ).fetchall()
        for file_id, staged, loaded in per_file:
            assert staged == loaded, (table, file_id)
        if "person_id" in [c[0] for c in con.execute(f'DESCRIBE "{table}"').fetchall()]:
            odd = _value(
                con,
                f"SELECT count(*) FROM \"{table}\" WHERE NOT regexp_full_match(person_id, '[0-9a-f]{{32}}')",
            )
            assert odd == 0, f"{table}.person_id holds something other than pseudonyms"
    held = con.execute("SELECT column_name, value FROM quarantine_rows").fetchall()
    for column, value in held:
        if column == "nhs_number" and value is not None:
            assert MASKED.match(value), value
        assert value is None or len(value) <= 100


# --- the outcomes ---------------------------------------------------------------------------


def _check_rejected(con, config, expect: dict, outcome: FileOutcome, source: Path, before):
    assert outcome.rule == expect["rule"], outcome.reason
    assert expect["reason"] in outcome.reason
    row = _landing_row(con, "case")
    assert row["status"] == "rejected"
    assert (row["reject_rule"], row["reject_reason"]) == (outcome.rule, outcome.reason)
    assert row["rows_read"] is None and row["rows_loaded"] is None
    for table in [*_staging_tables(con), "quarantine_rows"]:
        n = _value(con, f'SELECT count(*) FROM "{table}" WHERE file_id = ?', [row["file_id"]])
        assert n == 0, f"{table} holds rows of the rejected file"
    assert _snapshot(con) == before, "a rejected file changed the warehouse"
    kept = config.rejected / source.name
    assert kept.read_bytes() == source.read_bytes()
    detail = json.loads(Path(f"{kept}.reason.json").read_text(encoding="utf-8"))
    assert detail["file_name"] == source.name
    assert (detail["rule"], detail["reason"]) == (outcome.rule, outcome.reason)
    assert detail["sha256"] == hashlib.sha256(source.read_bytes()).hexdigest()
    text = Path(f"{kept}.reason.txt").read_text(encoding="utf-8")
    assert "rejected whole and nothing of it was loaded" in text
    assert outcome.rule in text and outcome.reason in text
    archived = [p.read_bytes() for p in config.archive.rglob(source.name)]
    assert source.read_bytes() not in archived


def _check_loaded(con, config, expect: dict, outcome: FileOutcome, source: Path):
    counts = (expect["rows_read"], expect["rows_loaded"], expect["rows_quarantined"])
    assert counts[0] == counts[1] + counts[2], "the case's own numbers must add up"
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == counts
    row = _landing_row(con, "case")
    assert row["status"] == "loaded"
    assert (row["rows_read"], row["rows_loaded"], row["rows_quarantined"]) == counts
    assert row["extra_columns"] == expect.get("extra_columns")
    table = f"stg_{outcome.extract}"
    file_id = row["file_id"]
    assert _value(con, f"SELECT count(*) FROM {table} WHERE file_id = ?", [file_id]) == counts[1]

    found = con.execute(
        "SELECT row_number, rule, column_name, message FROM quarantine_rows WHERE file_id = ? "
        "ORDER BY row_number, rule",
        [file_id],
    ).fetchall()
    expected = sorted((q["row"], q["rule"], q["column"]) for q in expect["quarantine"])
    assert [(r, rule, col) for r, rule, col, _ in found] == expected
    for (_, _, _, message), q in zip(
        found, sorted(expect["quarantine"], key=lambda q: (q["row"], q["rule"])), strict=True
    ):
        assert q["message"] in message
    assert len({r for r, *_ in found}) == counts[2]
    # Every data row is either in staging or in quarantine, never both.
    both = _value(
        con,
        f"SELECT count(*) FROM {table} s JOIN quarantine_rows q USING (file_id, row_number) "
        "WHERE s.file_id = ?",
        [file_id],
    )
    assert both == 0
    covered = _value(
        con,
        f"SELECT count(DISTINCT row_number) FROM (SELECT row_number FROM {table} WHERE file_id = ? "
        "UNION ALL SELECT row_number FROM quarantine_rows WHERE file_id = ?) "
        "WHERE row_number BETWEEN 1 AND ?",
        [file_id, file_id, counts[0]],
    )
    assert covered == counts[0]
    assert (config.archive / outcome.extract / outcome.provider / source.name).exists()


@pytest.fixture(scope="module")
def empty_warehouse(tmp_path_factory) -> Path:
    """A migrated, empty warehouse file: each case starts from its own copy."""
    path = tmp_path_factory.mktemp("empty-warehouse") / "diewell.duckdb"
    con = warehouse.connect(path)
    warehouse.migrate(con)
    con.close()
    return path


@pytest.fixture
def fresh_ics(tmp_path, pseudo_key, empty_warehouse):
    root = tmp_path / "ics"
    root.mkdir()
    shutil.copyfile(CORPUS / "diewell.yaml", root / "diewell.yaml")
    (root / "landing").mkdir()
    config = load_config(root / "diewell.yaml")
    config.warehouse.parent.mkdir(parents=True)
    shutil.copyfile(empty_warehouse, config.warehouse)
    con = warehouse.connect(config.warehouse)
    assert warehouse.migrate(con) == []  # nothing left to apply
    yield config, con
    con.close()


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(c, marks=pytest.mark.slow)
        if c.get("generate") == "one_million_rows_one_bad"
        else c
        for c in CASES
    ],
    ids=[c["case"] for c in CASES],
)
def test_corpus_case(case, fresh_ics, generated):
    config, con = fresh_ics
    folder = _case_folder(case, generated)
    [source] = _files(folder)
    before_files = _files(folder / "before")
    expect = case["expect"]

    if before_files:
        first = _deliver(config, con, before_files, "before")
        assert [o.status for o in first] == ["loaded"] * len(before_files), first
    before = _snapshot(con)

    [outcome] = _deliver(config, con, [source], "case", report=case["case"] in DATA_DOCS_CASES)
    assert outcome.file_name == source.name
    assert outcome.status == expect["status"], (outcome.rule, outcome.reason)
    if expect["status"] == "rejected":
        _check_rejected(con, config, expect, outcome, source, before)
    elif expect["status"] == "loaded":
        _check_loaded(con, config, expect, outcome, source)
    else:  # unchanged: a byte-identical re-delivery records nothing new and changes nothing
        assert _landing_row(con, "case") is None
        assert _snapshot(con) == before
        assert (config.archive / outcome.extract / outcome.provider / source.name).exists()

    if "staging_rows" in expect:
        table = f"stg_{outcome.extract}"
        assert _value(con, f"SELECT count(*) FROM {table}") == expect["staging_rows"]
    for sql, value in (expect.get("sql") or {}).items():
        assert _value(con, sql) == value, sql
    assert not any(p.is_file() for p in config.landing.rglob("*")), "a file was left in landing"
    _assert_warehouse_consistent(con)
    _assert_no_raw_nhs_numbers(con, [source, *before_files])


# --- the corpus itself --------------------------------------------------------------------------


def test_corpus_has_the_cases_the_issue_requires():
    names = [c["case"] for c in ALL_CASES]
    assert len(names) == len(set(names)) >= 40
    required = {
        "zero_byte", "header_only", "latin1_encoding", "utf16_with_bom", "utf8_bom",
        "semicolon_delimiter", "tab_delimiter", "ragged_row_too_few_fields", "unterminated_quote",
        "required_column_missing", "extra_column", "column_names_other_case_and_spaces",
        "duplicate_column", "excel_xlsx_renamed_csv", "parquet_nhs_number_as_float",
        "truncated_parquet", "unknown_extract_name", "unregistered_provider",
        "period_with_hyphens", "nhs_number_bad_checksum", "nhs_number_9_digits",
        "nhs_number_letters", "nhs_number_spaces_and_hyphens", "dates_dd_mm_yyyy",
        "date_mm_dd_yyyy", "date_31_february", "date_year_1800", "date_in_future",
        "death_before_birth", "discharge_before_admission", "first_contact_before_referral",
        "value_outside_allowed_set", "wrong_case_code", "thousands_separator", "negative_count",
        "duplicate_key_in_file", "duplicate_death_across_deliveries", "redelivery_byte_identical",
        "volume_drop", "too_many_rows_failing", "long_text_field_1mb", "one_million_rows_one_bad",
    }  # fmt: skip
    assert required <= set(names), required - set(names)


def test_every_corpus_folder_is_a_case_and_every_case_has_one_file():
    folders = {p.name for p in CORPUS.iterdir() if p.is_dir() and not p.name.startswith("__")}
    committed = {c["case"] for c in CASES if "generate" not in c}
    assert folders == committed
    for name in committed:
        assert len(_files(CORPUS / name)) == 1, name
    generated = {c["generate"] for c in CASES if "generate" in c}
    assert generated == set(make_corpus.GENERATORS)
    assert {c["case"] for c in HOSTILE_CASES} == set(make_corpus.HOSTILE)


def test_committed_corpus_is_small_and_its_nhs_numbers_synthetic():
    files = [p for p in CORPUS.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in files) < 200_000
    for path in files:
        if path.parent.name == "corpus":
            continue
        for value in raw_nhs_numbers(path):
            digits = re.sub(r"[ \-]", "", value)
            if is_valid_nhs_number(digits):
                assert digits.startswith("999"), f"{path}: {value} is not in the 999 test range"


def test_built_files_are_what_make_corpus_builds():
    for rel, data in make_corpus.binary_files().items():
        committed = (CORPUS / rel).read_bytes()
        if committed == data:
            continue
        # Parquet bytes name the writing library's version: compare the tables instead.
        assert committed[:4] == data[:4] == b"PAR1", rel
        if committed.endswith(b"PAR1"):
            assert pq.read_table(io.BytesIO(committed)).equals(pq.read_table(io.BytesIO(data)))
        else:
            assert not data.endswith(b"PAR1"), rel


@pytest.mark.slow
def test_generated_million_row_file_has_one_invalid_number(generated):
    """The generator's claim, checked with the pipeline's NHS number check (its own code)."""
    folder = generated("one_million_rows_one_bad")
    with (folder / "ae_attendances_RX1_20241231.csv").open(encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == [
            "attendance_id",
            "nhs_number",
            "arrival_datetime",
            "department_type",
        ]
        numbers = {}
        rows = 0
        for rows, r in enumerate(reader, start=1):  # noqa: B007
            numbers.setdefault(r[1], []).append(rows)
    assert rows == 1_000_000
    invalid = {n: where for n, where in numbers.items() if not is_valid_nhs_number(n)}
    assert list(invalid.values()) == [[make_corpus.MILLION_BAD_ROW]]
    assert all(n.startswith("999") for n in numbers)


def test_leak_scan_pattern_matches_numbers_as_written():
    """The leak scan's pattern matches a spaced NHS number written as delivered."""
    con = duckdb.connect()
    assert con.execute(
        "SELECT regexp_matches('x 999 000 0018 y', ?)", ["999[ ]000[ ]0018|1"]
    ).fetchall() == [(True,)]
