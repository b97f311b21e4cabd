"""A new extract is configuration: one more extract added as one suite file loads, with no
Python change.

The project's suites are copied into a temporary folder, a suite for `hospice_volunteer_hours`
(upsert by record_id) is written there as plain JSON, `diewell suites --write` puts it in
canonical form, and the real command line, pointed at the copy by DIEWELL_SUITES_DIR, checks
and loads its deliveries: the extract is known to the configuration and the file names,
staged, made current by its load, described in the warehouse, and checked by its rules.
"""

from __future__ import annotations

import json
import shutil
from functools import partial
from pathlib import Path

import duckdb
import pytest

from diewell.expectations import PROJECT_SUITES, SUITES_ENV
from tests.conftest import DEATHS_COLUMNS, TinyIcs
from tests.system.tiny_cli import ICB, cli_env, deaths, run_diewell

EXTRACT = "hospice_volunteer_hours"
HOURS_DESCRIPTION = "Hours the volunteer gave on the day (more than 0, at most 24)."
# The suite as a person would write it: a column's type and description on one expectation,
# its other rules beside it. Not yet canonical: `diewell suites --write` completes it.
SUITE = {
    "name": EXTRACT,
    "meta": {
        "diewell": {
            "extract": EXTRACT,
            "description": "Hours given by hospice volunteers. Upsert by (provider, record_id).",
            "grain": "one row per volunteer and day",
            "load": "upsert",
            "key": ["record_id"],
        }
    },
    "expectations": [
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "record_id"},
            "meta": {"rule": "missing_required_value"},
        },
        {
            "type": "expect_column_value_lengths_to_be_between",
            "kwargs": {"column": "record_id", "max_value": 255},
            "meta": {
                "rule": "value_too_long",
                "column_type": "text",
                "column_description": "The hospice's identifier of the volunteering record.",
            },
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "volunteer_date"},
            "meta": {"rule": "missing_required_value"},
        },
        {
            "type": "expect_column_values_to_match_strftime_format",
            "kwargs": {"column": "volunteer_date", "strftime_format": "%Y-%m-%d"},
            "meta": {
                "rule": "unparseable_date",
                "column_type": "date",
                "column_description": "Date the volunteering took place.",
            },
        },
        {
            "type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "hours"},
            "meta": {"rule": "missing_required_value"},
        },
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "hours", "regex": "^[0-9]{1,9}(\\.[0-9]{1,6})?$"},
            "meta": {
                "rule": "not_a_number",
                "column_type": "number",
                "column_description": HOURS_DESCRIPTION,
            },
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "hours", "min_value": 0, "max_value": 24, "strict_min": True},
            "meta": {"rule": "value_out_of_range"},
        },
        {
            "type": "expect_column_values_to_be_unique",
            "kwargs": {"column": "record_id"},
            "meta": {"rule": "duplicate_key"},
        },
    ],
}
HOSPICE = {"code": "H1X", "name": "Hospice", "extracts": [EXTRACT]}
COLUMNS = ["record_id", "volunteer_date", "hours"]
RUN_TIMEOUT = 600


def rows(*records: tuple[str, str, str]) -> list[dict]:
    return [dict(zip(COLUMNS, r, strict=True)) for r in records]


# `diewell ARGS` to its end (tests/system/tiny_cli.run_diewell) with this file's time-out
diewell = partial(run_diewell, timeout=RUN_TIMEOUT)


def query(database: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(database), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.mark.slow
def test_one_more_extract_added_as_a_suite_file_loads_with_no_python_change(tmp_path):
    suites = tmp_path / "suites"
    shutil.copytree(PROJECT_SUITES, suites)
    expected = len(list(suites.glob("*.json"))) + 1  # the project's suites and the new one
    (suites / f"{EXTRACT}.json").write_text(json.dumps(SUITE, indent=2), encoding="utf-8")
    env = cli_env(tmp_path / "prefect-home", **{SUITES_ENV: str(suites)})

    # The suite is put in canonical form by the command, then checks clean.
    written = diewell("suites", "--write", env=env)
    assert written.returncode == 0, written.stdout + written.stderr
    assert f"rewrote {EXTRACT}.json" in written.stdout
    checked = diewell("suites", "--check", env=env)
    assert checked.returncode == 0 and f"{expected} suite(s)" in checked.stdout, checked.stdout

    ics = TinyIcs(tmp_path / "ics", [ICB, HOSPICE])  # the hospice may send the new extract
    ics.deliver("deaths_QTT_20240131.csv", [], DEATHS_COLUMNS)  # the ICB's deaths: a cohort too
    ics.deliver("deaths_QTT_20241231.csv", deaths(), DEATHS_COLUMNS)

    # diewell check: a good file would load; a bad one is rejected with the suite's rule.
    good = ics.deliver(
        f"{EXTRACT}_H1X_20240131.csv",
        rows(("R1", "2024-01-05", "3.5"), ("R2", "2024-01-10", "2")),
    )
    bad = tmp_path / f"{EXTRACT}_H1X_20240331.csv"
    bad.write_text(
        "record_id,volunteer_date,hours\nR8,2024-03-01,30\nR9,2024-03-02,0\n", encoding="utf-8"
    )
    check_good = diewell("check", str(good), "--config", str(ics.config_path), env=env)
    assert check_good.returncode == 0, check_good.stdout + check_good.stderr
    assert "would load" in check_good.stdout
    check_bad = diewell("check", str(bad), "--config", str(ics.config_path), env=env)
    assert check_bad.returncode == 1, check_bad.stdout + check_bad.stderr
    assert "would be rejected whole (too_many_rows_failing)" in check_bad.stdout
    assert "value_out_of_range on hours: 2 rows" in check_bad.stdout

    # A run loads January and February; February revises R1 (an upsert across periods).
    ics.deliver(
        f"{EXTRACT}_H1X_20240229.csv",
        rows(("R1", "2024-01-05", "4"), ("R3", "2024-02-02", "1.5")),
    )
    run = diewell("run", "--config", str(ics.config_path), "--no-publish", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    database = ics.root / "warehouse" / "diewell.duckdb"  # the analysts' copy
    files = f"SELECT file_name, status, rows_loaded FROM landing_files WHERE extract = '{EXTRACT}'"
    assert sorted(query(database, files)) == [
        (f"{EXTRACT}_H1X_20240131.csv", "loaded", 2),
        (f"{EXTRACT}_H1X_20240229.csv", "loaded", 2),
    ]
    # (a number column is staged as text today, as education_sessions.hours: compared as numbers)
    staged = f"SELECT record_id, hours::DOUBLE, period_end::VARCHAR FROM stg_{EXTRACT} ORDER BY ALL"
    assert query(database, staged) == [
        ("R1", 3.5, "2024-01-31"),
        ("R1", 4.0, "2024-02-29"),
        ("R2", 2.0, "2024-01-31"),
        ("R3", 1.5, "2024-02-29"),
    ]
    current = (
        f"SELECT provider, record_id, volunteer_date::VARCHAR, hours::DOUBLE FROM core_{EXTRACT}"
    )
    assert sorted(query(database, current)) == [
        ("H1X", "R1", "2024-01-05", 4.0),
        ("H1X", "R2", "2024-01-10", 2.0),
        ("H1X", "R3", "2024-02-02", 1.5),
    ]

    # February re-delivered: it replaces the earlier February delivery, R3 revised.
    ics.deliver(
        f"{EXTRACT}_H1X_20240229.csv",
        rows(("R1", "2024-01-05", "4.5"), ("R3", "2024-02-02", "2.5")),
    )
    run = diewell("run", "--config", str(ics.config_path), "--no-publish", env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert sorted(query(database, files)) == [
        (f"{EXTRACT}_H1X_20240131.csv", "loaded", 2),
        (f"{EXTRACT}_H1X_20240229.csv", "loaded", 2),
        (f"{EXTRACT}_H1X_20240229.csv", "superseded", 2),
    ]
    assert sorted(query(database, current)) == [
        ("H1X", "R1", "2024-01-05", 4.5),
        ("H1X", "R2", "2024-01-10", 2.0),
        ("H1X", "R3", "2024-02-02", 2.5),
    ]
    assert query(database, f"SELECT count(*) FROM stg_{EXTRACT}") == [(4,)]

    # Every table and column of the new extract is described, its own columns by its suite.
    comments = query(
        database,
        "SELECT table_name, column_name, comment FROM duckdb_columns() "
        f"WHERE table_name IN ('stg_{EXTRACT}', 'core_{EXTRACT}')",
    )
    assert {t for t, _, _ in comments} == {f"stg_{EXTRACT}", f"core_{EXTRACT}"}
    assert all(comment for _, _, comment in comments), comments
    assert {c for t, col, c in comments if col == "hours"} == {HOURS_DESCRIPTION}
    tables = query(
        database,
        f"SELECT table_name, comment FROM duckdb_tables() WHERE table_name LIKE '%{EXTRACT}'",
    )
    assert len(tables) == 2 and all("Hours given by hospice volunteers" in c for _, c in tables)
