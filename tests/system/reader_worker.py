"""An analyst for the concurrent-reader test: reads the warehouse read-only, over and over,
while a refresh runs, and records what each read saw.

    python -m tests.system.reader_worker WAREHOUSE STOP_FILE OUT_JSON hold|poll

`hold` keeps one connection open across the refresh; `poll` connects afresh for every read.
(They must be separate processes: DuckDB shares one database instance per file within a
process, so while any connection is open, new ones in that process see the same snapshot.)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb

CHECKS = {
    "running_runs": "SELECT count(*) FROM meta_runs WHERE status <> 'completed'",
    "completed_runs": "SELECT count(*) FROM meta_runs WHERE status = 'completed'",
    "cohort": "SELECT count(*) FROM mart_decedent_cohort",
    "adult_deaths": "SELECT count(*) FROM core_deaths "
    "WHERE date_diff('day', date_of_birth, date_of_death) >= 28",
    "releases_in_mart": "SELECT count(DISTINCT run_id) FROM mart_indicator_values",
    "mart_matches_latest_run": "SELECT count(*) FROM mart_indicator_values v "
    "WHERE v.run_id <> (SELECT release_id FROM meta_runs WHERE status = 'completed' "
    "ORDER BY finished_at DESC LIMIT 1)",
    "unbalanced_files": "SELECT count(*) FROM landing_files WHERE status = 'loaded' "
    "AND rows_read <> rows_loaded + rows_quarantined",
}


def snapshot(con) -> dict:
    return {name: con.execute(sql).fetchall()[0][0] for name, sql in CHECKS.items()}


def main(path: str, stop_file: str, out: str, mode: str) -> None:
    held = duckdb.connect(path, read_only=True) if mode == "hold" else None
    reads, errors = [], []
    while not Path(stop_file).exists():
        try:
            if held is not None:
                reads.append(snapshot(held))
            else:
                con = duckdb.connect(path, read_only=True)
                reads.append(snapshot(con))
                con.close()
        except Exception as exc:  # recorded, and the test fails on it
            errors.append(f"{type(exc).__name__}: {exc}")
        time.sleep(0.05)
    if held is not None:
        held.close()
    Path(out).write_text(json.dumps({"reads": reads, "errors": errors}))


if __name__ == "__main__":
    main(*sys.argv[1:5])
