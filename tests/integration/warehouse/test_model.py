"""The warehouse model: descriptions for everything, migrations that upgrade an older file in
place, and the analysts' example queries (docs/ANALYSTS.md) running on a real warehouse."""

from __future__ import annotations

import re
import shutil

import duckdb
import pytest

from diewell import pipeline, warehouse
from diewell.config import load_config
from diewell.docs import empty_warehouse
from tests.integration.warehouse.test_load_semantics import run_whole_pipeline

DOCS = warehouse.SQL_DIR.parent / "docs"


def test_every_table_view_and_column_has_a_description(tmp_path):
    con = empty_warehouse(tmp_path)
    relations = warehouse.user_relations(con)
    assert {"mart_decedent_cohort", "mart_indicator_values", "analyst_decedents"} <= {
        n for n, _ in relations
    }
    undescribed_tables = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE NOT internal AND coalesce(comment, '') = '' "
        "UNION ALL SELECT view_name FROM duckdb_views() WHERE NOT internal "
        "AND schema_name = 'main' AND coalesce(comment, '') = ''"
    ).fetchall()
    assert undescribed_tables == []
    undescribed_columns = con.execute(
        "SELECT table_name || '.' || column_name FROM duckdb_columns() "
        "WHERE NOT internal AND schema_name = 'main' AND coalesce(comment, '') = ''"
    ).fetchall()
    assert undescribed_columns == []
    con.close()


def test_a_description_is_missing_when_the_dictionary_lacks_it(tmp_path):
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("CREATE TABLE mart_something_new (mystery_column INTEGER)")
    warehouse.describe(con)
    comments = con.execute(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'mart_something_new'"
    ).fetchall()
    assert comments == [(None,)]  # nothing invented: the test above would fail on it


OLD_SCHEMA = "001_landing_and_runs"


def test_an_older_warehouse_is_upgraded_in_place(tmp_path, pseudo_key):
    """A file made when only migration 001 existed keeps its data and gains what came later."""
    from tests.conftest import TinyIcs

    ics = TinyIcs(tmp_path / "ics", [{"code": "QTT", "name": "ICB", "extracts": ["deaths"]}])
    config = load_config(ics.config_path)
    old = warehouse.working_path(config.warehouse)
    old.parent.mkdir(parents=True)
    con = duckdb.connect(str(old))
    con.execute((warehouse.SQL_DIR / "migrations" / f"{OLD_SCHEMA}.sql").read_text())
    con.execute(
        "CREATE TABLE meta_schema_migrations (version VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
    )
    con.execute("INSERT INTO meta_schema_migrations VALUES (?, now())", [OLD_SCHEMA])
    con.execute(
        "INSERT INTO meta_runs (run_id, started_at, status, config_path) "
        "VALUES ('old-run', TIMESTAMP '2025-01-01 02:00', 'completed', 'x')"
    )
    con.close()

    con = pipeline.open_warehouse(config)
    versions = [
        r[0]
        for r in con.execute("SELECT version FROM meta_schema_migrations ORDER BY 1").fetchall()
    ]
    expected = sorted(p.stem for p in (warehouse.SQL_DIR / "migrations").glob("*.sql"))
    assert versions == expected and len(expected) >= 2
    assert con.execute("SELECT run_id, release_id FROM meta_runs").fetchall() == [("old-run", None)]
    # Applying again changes nothing.
    assert warehouse.migrate(con) == []
    con.close()


def test_a_warehouse_from_before_the_working_copy_is_carried_over(tmp_path, pseudo_key):
    from tests.conftest import TinyIcs

    ics = TinyIcs(tmp_path / "ics", [{"code": "QTT", "name": "ICB", "extracts": ["deaths"]}])
    config = load_config(ics.config_path)
    config.warehouse.parent.mkdir(parents=True)
    con = duckdb.connect(str(config.warehouse))
    con.execute("CREATE TABLE carried (x INTEGER); INSERT INTO carried VALUES (42)")
    con.close()
    con = pipeline.open_warehouse(config)
    assert con.execute("SELECT x FROM carried").fetchall() == [(42,)]
    con.close()


def example_queries() -> list[str]:
    text = (DOCS / "ANALYSTS.md").read_text(encoding="utf-8")
    return re.findall(r"```sql\n(.*?)```", text, flags=re.S)


@pytest.fixture(scope="module")
def analyst_warehouse(tmp_path_factory):
    import os

    from diewell.synth import synthesize

    os.environ.setdefault("DIEWELL_PSEUDO_KEY", "k" * 40)
    root = tmp_path_factory.mktemp("analysts")
    config_path = synthesize(root, seed=9, population=5000, years=2)
    run_whole_pipeline(config_path)
    return load_config(config_path).warehouse


@pytest.mark.parametrize("index", range(6))
def test_the_example_queries_in_the_docs_run(analyst_warehouse, index):
    queries = example_queries()
    assert len(queries) == 6
    con = duckdb.connect(str(analyst_warehouse), read_only=True)
    rows = con.execute(queries[index]).fetchall()
    assert rows, f"example query {index + 1} returned nothing"
    con.close()


def test_the_analysts_copy_has_no_write_ahead_log_and_opens_read_only(analyst_warehouse):
    assert not analyst_warehouse.with_name(analyst_warehouse.name + ".wal").exists()
    copy = analyst_warehouse.with_name("copy.duckdb")
    shutil.copy(analyst_warehouse, copy)
    con = duckdb.connect(str(copy), read_only=True)
    assert con.execute("SELECT count(*) FROM mart_indicator_values").fetchall()[0][0] > 0
    con.close()
