"""No delivery stops a run (issue 36, extracts.md v3): whatever a file holds, the run goes on
and the file is accounted for; nothing a sender wrote escapes as code.

The hostile files themselves are cases of the bad-input corpus (tests/corpus/cases.yaml, under
"no delivery stops a run"); these tests check what the corpus harness cannot see: the claim
on files however a run ends, which of two waiting deliveries wins, the run's log, reason
files and GX results, a failing build, and the published CSV.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.exceptions import PanicException

from diewell import pipeline, warehouse
from diewell.expectations import reading, validate
from diewell.expectations.report.summary import summary_rows
from diewell.expectations.report.validation_report import data_docs_dir, validation_results_dir
from diewell.release import files as release_files
from diewell.release import schema as release_schema
from diewell.sources import landing as landing_folder
from diewell.sources.ingest import ingest_landing
from diewell.warehouse.staging import WindowWrites
from tests.integration.sources.test_bad_input_corpus import CORPUS
from tests.integration.sources.test_hostile_deliveries import GOOD, GOOD_TEXT, _ics, _query, _run

DEATHS = "deaths_QXX_20241231.csv"
DEATHS_TEXT = (
    "nhs_number,date_of_birth,date_of_death,sex,underlying_cause_icd10,place_of_death,lsoa_code\n"
    "9990000018,1940-03-02,2024-12-01,1,C34.9,home,E01000001\n"
    "9990000026,1935-07-15,2024-12-05,2,I21,hospital,E01000002\n"
)


def _claimed(config) -> list[Path]:
    claims = config.landing / landing_folder.CLAIM_DIR
    return sorted(p for p in claims.rglob("*") if p.is_file()) if claims.exists() else []


def test_anything_failing_inside_one_file_rejects_that_file_unreadable_and_the_rest_load(
    tmp_path, pseudo_key, monkeypatch
):
    """The boundary around one file: a panic in the reader (a BaseException, which once ended
    the flow run Crashed) rejects that file with `unreadable`, and the other file loads."""
    config = _ics(tmp_path / "ics")
    (config.landing / DEATHS).write_text(DEATHS_TEXT, encoding="utf-8")
    (config.landing / GOOD).write_text(GOOD_TEXT, encoding="utf-8")
    real = reading.read_delivery

    def panics_on_deaths(d, *args):
        if d.extract == "deaths":
            raise PanicException("called `Option::unwrap()` on a `None` value")
        return real(d, *args)

    monkeypatch.setattr(reading, "read_delivery", panics_on_deaths)
    monkeypatch.setattr(validate, "read_delivery", panics_on_deaths)

    outcomes = {o.file_name: o for o in _run(config, "run-1")}

    assert outcomes[GOOD].status == "loaded"
    assert (outcomes[DEATHS].status, outcomes[DEATHS].rule) == ("rejected", "unreadable")
    assert "could not be read" in outcomes[DEATHS].reason
    assert "unwrap" not in outcomes[DEATHS].reason  # what the reader said may quote values
    assert _claimed(config) == []
    assert _run(config, "run-2") == []


def test_the_row_rules_failing_on_one_file_of_a_window_reject_only_that_file(
    tmp_path, pseudo_key, monkeypatch
):
    """The row rules run over a window's files of an extract in one query; when that query
    fails, each file is checked alone and only the one it fails on is rejected."""
    config = _ics(tmp_path / "ics")
    (config.landing / "apc_spells_RX1_20241130.csv").write_text(GOOD_TEXT, encoding="utf-8")
    (config.landing / GOOD).write_text(GOOD_TEXT.replace("S1,", "S9,"), encoding="utf-8")
    real = validate.validate_rows
    monkeypatch.setattr(
        validate, "validate_batch", lambda tables, contract, key: 1 / 0 if len(tables) > 1 else None
    )

    def fails_for_november(rows, contract, period_end, person_key):
        if period_end == dt.date(2024, 11, 30):
            raise PanicException("boom")
        return real(rows, contract, period_end, person_key)

    monkeypatch.setattr(validate, "validate_rows", fails_for_november)

    outcomes = {o.file_name: (o.status, o.rule) for o in _run(config, "run-1")}

    assert outcomes == {
        "apc_spells_RX1_20241130.csv": ("rejected", "unreadable"),
        GOOD: ("loaded", None),
    }


def test_a_run_that_fails_puts_what_it_claimed_back_in_landing(tmp_path, pseudo_key, monkeypatch):
    """A failure that ends the run (here the warehouse refusing the window's writes) leaves
    no file claimed: each is back in the landing folder, with the time it arrived, and the
    next run loads it. Before, the batch stayed in landing/.ingesting and the next run took
    it first, failing the same way while newer deliveries waited."""
    config = _ics(tmp_path / "ics")
    (config.landing / "sub").mkdir()
    (config.landing / "sub" / GOOD).write_text(GOOD_TEXT, encoding="utf-8")
    (config.landing / DEATHS).write_text(DEATHS_TEXT, encoding="utf-8")
    arrived = {GOOD: 1_700_000_000, DEATHS: 1_700_000_100}
    os.utime(config.landing / "sub" / GOOD, (arrived[GOOD], arrived[GOOD]))
    os.utime(config.landing / DEATHS, (arrived[DEATHS], arrived[DEATHS]))

    def refuses(self):
        raise duckdb.IOException("disk I/O error")

    with monkeypatch.context() as patched:
        patched.setattr(WindowWrites, "flushed", refuses)
        with pytest.raises(duckdb.IOException):
            _run(config, "run-1")

    assert _claimed(config) == []
    back = {p.name: int(p.stat().st_mtime) for p in config.landing.iterdir() if p.is_file()}
    assert back == arrived
    assert _query(config, "SELECT count(*) FROM landing_files") == [(0,)]
    assert sorted((o.file_name, o.status) for o in _run(config, "run-2")) == [
        (GOOD, "loaded"),
        (DEATHS, "loaded"),
    ]


def test_a_file_left_claimed_by_a_killed_run_takes_its_place_by_arrival(tmp_path, pseudo_key):
    """A run killed after claiming a file (nothing could put it back): the next run takes it
    in arrival order, not first. A newer delivery of the same period that landed since is
    the delivery; the claimed one is recorded as superseded, never loaded."""
    config = _ics(tmp_path / "ics")
    slot = config.landing / landing_folder.CLAIM_DIR / "killed-slot"
    slot.mkdir(parents=True)
    (slot / GOOD).write_text(GOOD_TEXT, encoding="utf-8")
    os.utime(slot / GOOD, (1_700_000_000, 1_700_000_000))
    newer = GOOD_TEXT + "S3,9990000034,2024-12-03,21\n"
    (config.landing / GOOD).write_text(newer, encoding="utf-8")

    outcomes = _run(config, "run-1")

    assert [(o.status, o.rows_read) for o in outcomes] == [("superseded", 0), ("loaded", 3)]
    assert _query(
        config, "SELECT status, reject_rule, rows_read FROM landing_files ORDER BY file_id"
    ) == [("superseded", "superseded_on_arrival", None), ("loaded", None, 3)]
    assert not slot.exists()
    archive = config.archive / "apc_spells" / "RX1"
    assert (archive / GOOD).read_text(encoding="utf-8") == newer
    [kept] = archive.glob(f"{GOOD}.*.superseded")
    assert kept.read_text(encoding="utf-8") == GOOD_TEXT


def test_of_two_waiting_deliveries_the_later_arrival_wins_whatever_its_folder(tmp_path, pseudo_key):
    """Two deliveries of one extract, provider and period end wait in sub-folders; the one
    in the folder that sorts later arrived first. Before, the later-sorting folder's file
    replaced the newer one; now the one that arrived last is the delivery, the other is
    recorded as superseded and kept in the archive. A CSV and a Parquet of the same period
    compete the same way."""
    config = _ics(tmp_path / "ics")
    newer, older = config.landing / "a-folder" / GOOD, config.landing / "z-folder" / GOOD
    for path in (newer, older):
        path.parent.mkdir()
    three_rows = GOOD_TEXT + "S3,9990000034,2024-12-03,21\n"
    newer.write_text(three_rows, encoding="utf-8")
    older.write_text(GOOD_TEXT, encoding="utf-8")
    os.utime(older, (1_700_000_000, 1_700_000_000))
    os.utime(newer, (1_700_000_500, 1_700_000_500))
    parquet = CORPUS / "parquet_typed_columns" / "deaths_QXX_20241231.parquet"
    shutil.copyfile(parquet, config.landing / "deaths_QXX_20241231.parquet")
    (config.landing / DEATHS).write_text(DEATHS_TEXT, encoding="utf-8")
    os.utime(config.landing / "deaths_QXX_20241231.parquet", (1_700_000_000, 1_700_000_000))
    os.utime(config.landing / DEATHS, (1_700_000_900, 1_700_000_900))

    run = _run(config, "run-1")
    outcomes = sorted((o.file_name, o.status, o.rows_read) for o in run)

    assert outcomes == [
        (GOOD, "loaded", 3),
        (GOOD, "superseded", 0),
        (DEATHS, "loaded", 2),
        ("deaths_QXX_20241231.parquet", "superseded", 0),
    ]
    assert _query(config, "SELECT count(*) FROM stg_apc_spells") == [(3,)]
    assert _query(config, "SELECT count(*) FROM stg_deaths") == [(2,)]
    summary = summary_rows("run-1", run)  # what meta_validation_summary records
    assert [(r["extract"], r["files"], r["files_superseded"]) for r in summary] == [
        ("deaths", 2, 1),  # QXX
        ("apc_spells", 2, 1),  # RX1
    ]
    assert [p for p in config.landing.rglob("*") if p.is_file()] == []


def test_control_characters_a_sender_wrote_reach_no_log_reason_or_record_raw(
    tmp_path, pseudo_key, caplog
):
    """An ESC colour sequence in a CSV header and a line break (with a forged log line) in a
    Parquet column name: shown escaped in the run log, reason.txt/.json and landing_files."""
    config = _ics(tmp_path / "ics")
    shutil.copyfile(CORPUS / "control_characters_in_header" / DEATHS, config.landing / DEATHS)
    parquet = "deaths_QXX_20250131.parquet"
    shutil.copyfile(
        CORPUS / "line_break_in_parquet_column_name" / "deaths_QXX_20241231.parquet",
        config.landing / parquet,
    )

    with caplog.at_level(logging.DEBUG, logger="diewell"):
        outcomes = {o.file_name: o for o in _run(config, "run-1")}

    assert outcomes[DEATHS].rule == "required_column_missing"
    assert "date_of_birth\\x1b[31m" in outcomes[DEATHS].reason
    assert outcomes[parquet].status == "loaded"
    written = [
        *(r.getMessage() for r in caplog.records),
        *(p.read_text(encoding="utf-8") for p in config.rejected.glob("*.reason.*")),
        *(
            str(v)
            for row in _query(config, "SELECT reject_reason, extra_columns FROM landing_files")
            for v in row
        ),
    ]
    assert any("\\x1b[31m" in text for text in written)
    assert any("note\\n2024-12-31 info every delivery loaded" in text for text in written)
    for text in written:
        assert "\x1b" not in text
        assert "\n2024-12-31 info" not in text


def test_an_nhs_number_in_any_quarantined_column_is_masked_in_the_results_and_data_docs(
    tmp_path, pseudo_key
):
    """NHS numbers typed into a date and a code column: masked in quarantine_rows, in the
    GX validation results (JSON) and on the Data Docs and quality pages."""
    config = _ics(tmp_path / "ics")
    case = CORPUS / "nhs_number_in_date_and_code_columns" / DEATHS
    shutil.copyfile(case, config.landing / DEATHS)
    con = warehouse.connect(config.warehouse)
    try:
        warehouse.migrate(con)
        [outcome] = ingest_landing(con, config, "run-1")  # with the report
    finally:
        con.close()

    assert (outcome.status, outcome.rows_quarantined) == ("loaded", 2)
    written = "".join(
        p.read_text(encoding="utf-8", errors="ignore")
        for folder in (validation_results_dir(config), data_docs_dir(config), config.outputs.parent)
        for p in folder.rglob("*")
        if p.suffix in (".json", ".html")
    )
    assert "********50" in written  # the lsoa_code value, shown masked
    for number in ("9990000026", "999 000 0026", "9990000050"):
        assert number not in written
    assert not re.search(r"999 ?000 ?00(26|50)", written)


def test_a_failing_build_rolls_back_and_the_run_is_recorded_failed_with_its_own_error(
    tmp_path, pseudo_key, monkeypatch
):
    """A step failing inside the build's transaction: before, the transaction stayed open,
    recording the failure failed at CHECKPOINT with a TransactionException that hid the real
    error, and meta_runs kept the run `running`."""
    config = _ics(tmp_path / "ics")
    (config.landing / DEATHS).write_text(DEATHS_TEXT, encoding="utf-8")

    def fails(con):
        raise ValueError("periods could not be built")

    monkeypatch.setattr(pipeline.indicators, "build_periods", fails)
    summary = pipeline.RunSummary("run-fails")
    with pytest.raises(ValueError, match="periods could not be built"):
        pipeline.refresh(config, summary, publish=False)

    working = warehouse.working_path(config.warehouse)
    con = duckdb.connect(str(working), read_only=True)
    try:
        [(status, message)] = con.execute(
            "SELECT status, message FROM meta_runs WHERE run_id = 'run-fails'"
        ).fetchall()
    finally:
        con.close()
    assert status == "failed"
    assert message == "ValueError: periods could not be built"
    monkeypatch.undo()
    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", pseudo_key.decode())
    pipeline.refresh(config, pipeline.RunSummary("run-next"), publish=False)  # not stopped


def test_a_published_csv_cell_a_spreadsheet_would_run_starts_with_a_quote(tmp_path):
    """Practice, PCN and place names come from senders: a name beginning with =, +, -, @, a
    tab or a carriage return is written to indicators.csv with a leading ', so a spreadsheet
    never runs it; the Parquet keeps the name as it is."""
    names = [
        '=HYPERLINK("http://example.org","x")',
        "+1+1",
        "-2+3",
        "@SUM(A1)",
        "\tTabbed",
        "\rReturn",
        "Plain Place",
        "Mid=dle",
    ]
    con = duckdb.connect()
    schema = release_schema.OUTPUT_SCHEMA
    frame = pl.from_arrow(schema.empty_table())
    rows = frame.extend(
        pl.DataFrame(
            {"indicator_id": [f"PD0{i}" for i in range(len(names))], "geography_name": names},
            schema_overrides={c: frame.schema[c] for c in ("indicator_id", "geography_name")},
        ).select(
            pl.col(c) if c in ("indicator_id", "geography_name") else pl.lit(None, t).alias(c)
            for c, t in frame.schema.items()
        )
    )
    con.register("rows_frame", rows)
    con.execute("CREATE TABLE publication_rows AS SELECT * FROM rows_frame")

    release_files._write_flat_files(tmp_path, con, "publication_rows")

    csv = pl.read_csv(tmp_path / release_files.FLAT_CSV_FILE, encoding="utf8-lossy")
    got = dict(zip(csv["indicator_id"], csv["geography_name"], strict=True))
    assert [got[f"PD0{i}"] for i in range(len(names))] == [
        "'" + '=HYPERLINK("http://example.org","x")',
        "'+1+1",
        "'-2+3",
        "'@SUM(A1)",
        "'\tTabbed",
        "'\rReturn",
        "Plain Place",
        "Mid=dle",
    ]
    parquet = pl.read_parquet(tmp_path / release_files.FLAT_PARQUET_FILE)
    assert sorted(parquet["geography_name"].to_list()) == sorted(names)


def test_json_reason_files_hold_the_escaped_reason(tmp_path, pseudo_key):
    """reason.json is what tools read: the reason there is the same escaped text."""
    config = _ics(tmp_path / "ics")
    shutil.copyfile(CORPUS / "control_characters_in_header" / DEATHS, config.landing / DEATHS)
    _run(config, "run-1")
    [detail] = [json.loads(p.read_text()) for p in config.rejected.glob("*.reason.json")]
    assert "\\x1b[31m" in detail["reason"] and "\x1b" not in detail["reason"]
