"""The analysts' warehouse opens read-only in DuckDB 1.4 LTS (issue 11, 10).

Analysts' tools bundle older DuckDBs (a DBeaver driver, an R package, last year's CLI); the
warehouse is written in a storage format DuckDB 1.4 reads (warehouse.ANALYST_STORAGE_VERSION).
DuckDB 1.4 runs in its own venv, made once and cached like the MESH sandbox's
(tests/system/test_mesh.py).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import duckdb
import pytest

from diewell import pipeline, warehouse
from diewell.config import load_config
from tests.conftest import TinyIcs
from tests.system.tiny_cli import DECEDENTS, cli_env, deaths_ics, run_diewell
from tests.venvs import cached_venv_python

OLD_DUCKDB = "duckdb==1.4.*"  # the LTS line analysts' tools bundle
# The documented cohort and mart tables and analyst views (warehouse/dictionary.yaml).
DOCUMENTED = [
    "mart_periods",
    "mart_decedent_cohort",
    "mart_decedent_periods",
    "mart_person_geography",
    "mart_indicator_values",
    "analyst_decedents",
    "analyst_latest_ics_indicators",
    "analyst_run_history",
]
COUNT_ROWS = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
tables = json.loads(sys.argv[2])
print(json.dumps({
    "version": duckdb.__version__,
    "counts": {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in tables},
}))
"""


@pytest.fixture(scope="session")
def duckdb_lts_python(request) -> Path:
    """The python of a venv holding DuckDB 1.4 (made once, then reused)."""
    return cached_venv_python(request, "duckdb-lts", [OLD_DUCKDB])


def counts_in(python: Path, database: Path, tables: list[str]) -> dict:
    done = subprocess.run(
        [str(python), "-c", COUNT_ROWS, str(database), json.dumps(tables)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_real_runs_warehouse_opens_read_only_in_duckdb_1_4(tmp_path, duckdb_lts_python):
    ics = deaths_ics(tmp_path / "ics")
    run = run_diewell(
        "run", "--config", str(ics.config_path), env=cli_env(tmp_path / "prefect-home")
    )
    assert run.returncode == 0, run.stderr[-3000:]
    analysts = load_config(ics.config_path).warehouse

    old = counts_in(duckdb_lts_python, analysts, DOCUMENTED)
    assert old["version"].startswith("1.4.")
    con = duckdb.connect(str(analysts), read_only=True)
    new = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in DOCUMENTED}
    con.close()
    assert old["counts"] == new
    assert new["mart_decedent_cohort"] == DECEDENTS  # twelve adults, all in the cohort
    assert new["mart_periods"] > 0 and new["mart_indicator_values"] > 0


def test_a_warehouse_left_in_the_newest_format_is_rewritten_for_duckdb_1_4(
    tmp_path, pseudo_key, duckdb_lts_python
):
    """A warehouse made before the fix (DuckDB 2's own format) is converted on the next run."""
    config = load_config(
        TinyIcs(
            tmp_path / "ics", [{"code": "QTT", "name": "ICB", "extracts": ["deaths"]}]
        ).config_path
    )
    working = warehouse.working_path(config.warehouse)
    working.parent.mkdir(parents=True)
    con = duckdb.connect(str(working))  # DuckDB 2's default: the newest storage format
    warehouse.migrate(con)
    con.execute(
        "INSERT INTO meta_runs (run_id, started_at, status, config_path) "
        "VALUES ('old', now(), 'completed', 'diewell.yaml')"
    )
    con.close()

    con = pipeline.open_warehouse(config)
    pipeline.close_warehouse(con)
    pipeline.publish_warehouse(config)

    old = counts_in(duckdb_lts_python, config.warehouse, ["meta_runs", "landing_files"])
    assert old["counts"] == {"meta_runs": 1, "landing_files": 0}
