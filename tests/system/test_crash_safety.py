"""kill -9 a refresh at several points; the next run completes the work and the warehouse
ends exactly as if nothing had happened. Real processes, real SIGKILL, real DuckDB files."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from diewell import pipeline, warehouse
from diewell.config import load_config
from tests.conftest import REPO

KEY = "crash-test-key-" + "0" * 30


@pytest.fixture(scope="module")
def synthetic_landing(tmp_path_factory):
    from diewell.synth import synthesize

    root = tmp_path_factory.mktemp("crash-source")
    synthesize(root, seed=21, population=2_000, years=1, defect_rate=0.002)
    return root


def fresh_ics(source: Path, target: Path) -> Path:
    shutil.copytree(source / "landing", target / "landing")
    shutil.copy(source / "diewell.yaml", target / "diewell.yaml")
    return target / "diewell.yaml"


def start_worker(config_path: Path, run_id: str) -> subprocess.Popen:
    env = {**os.environ, "DIEWELL_PSEUDO_KEY": KEY, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-m", "tests.system.crash_worker", str(config_path), run_id],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def run_to_completion(config_path: Path, run_id: str) -> None:
    worker = start_worker(config_path, run_id)
    out, _ = worker.communicate(timeout=600)
    assert worker.returncode == 0 and out.strip().endswith("done"), out[-500:]


def kill_at(config_path: Path, run_id: str, point: str) -> str:
    """Start a refresh and SIGKILL it as soon as it reports `point`; return the last line seen."""
    worker = start_worker(config_path, run_id)
    last = ""
    try:
        for line in worker.stdout:
            last = line.strip()
            if last == point:
                os.kill(worker.pid, signal.SIGKILL)
                break
    finally:
        worker.wait(timeout=60)
    assert worker.returncode == -signal.SIGKILL, f"the worker ended before {point!r} ({last})"
    return last


def content(config_path: Path) -> dict:
    """Everything a load determines, without arrival-order ids and timestamps."""
    config = load_config(config_path)
    con = duckdb.connect(str(config.warehouse), read_only=True)
    tables = [
        t
        for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'core_%' "
            "OR table_name IN ('mart_decedent_cohort', 'mart_indicator_values') ORDER BY 1"
        ).fetchall()
    ]
    out = {}
    for t in tables:
        drop = [c for c in ("file_id", "death_file_id") if c in _columns(con, t)]
        exclude = f" EXCLUDE ({', '.join(drop)})" if drop else ""
        out[t] = con.execute(f"SELECT *{exclude} FROM {t} ORDER BY ALL").fetchall()
    out["loaded_files"] = con.execute(
        "SELECT file_name, rows_read, rows_loaded, rows_quarantined FROM landing_files "
        "WHERE status = 'loaded' ORDER BY ALL"
    ).fetchall()
    out["quarantine"] = con.execute(
        "SELECT file_name, row_number, rule, column_name FROM quarantine_rows ORDER BY ALL"
    ).fetchall()
    out["staged"] = {
        t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0]
        for (t,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE table_name LIKE 'stg_%'"
        ).fetchall()
    }
    con.close()
    return out


def _columns(con, table: str) -> set[str]:
    return {
        c
        for (c,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]
        ).fetchall()
    }


@pytest.fixture(scope="module")
def reference(synthetic_landing, tmp_path_factory):
    config_path = fresh_ics(synthetic_landing, tmp_path_factory.mktemp("crash-reference"))
    run_to_completion(config_path, "reference")
    return content(config_path)


@pytest.mark.parametrize(
    "points",
    [
        ["file 40", "file 2"],  # killed twice: mid-ingest, then early in the rerun
        # as each later step starts (pull has no mailbox here; validate and load are per window)
        *([step] for step in pipeline.STEPS[3:]),
    ],
)
def test_killed_refresh_is_completed_by_the_next_run(
    synthetic_landing, reference, tmp_path, points
):
    config_path = fresh_ics(synthetic_landing, tmp_path / "ics")
    config = load_config(config_path)
    for i, point in enumerate(points):
        kill_at(config_path, f"killed-{i}", point)
        # Whatever the analysts' file holds at any moment is a complete warehouse (or none yet).
        if config.warehouse.exists():
            con = duckdb.connect(str(config.warehouse), read_only=True)
            con.execute("SELECT count(*) FROM landing_files").fetchall()
            con.close()
    run_to_completion(config_path, "after-crash")
    assert content(config_path) == reference
    # Nothing was lost: every delivered file is archived or rejected, none left behind.
    assert not [p for p in config.landing.rglob("*") if p.is_file()]
    assert not list(config.warehouse.parent.glob(".*.tmp"))  # no stale partial copies
    assert not warehouse.working_path(config.warehouse).with_suffix(".duckdb.wal").exists()
