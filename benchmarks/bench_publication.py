"""Benchmark: disclosure control and publication of a computed warehouse, step by step.

    .venv/bin/python benchmarks/bench_publication.py --dir DEMO_DIR [--repeat N]

DEMO_DIR is a folder made by `diewell demo --dir DEMO_DIR`, or kept by `benchmarks/run.py
--dir`, whose warehouse has been refreshed (mart_indicator_values filled). Runs the steps a
refresh runs after compute, in its order, and prints the time of each: disclosure control
(`control.control_release`), writing the release files (`release_files.write_release`), the audit
that reads them back (`audit.audit`) and the board report (`render_report`), with the
largest resident set and that less what DuckDB holds (bench_indicators.ComputeMemory,
sampled every 50 ms), and the run's peak memory. The release is written into a staging
folder of the benchmark's own under the ICS's outputs and deleted after each run: nothing
is published, `current` is not moved. Asserts nothing: tests assert behaviour, benchmarks
measure.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import time
from pathlib import Path

from bench_indicators import ComputeMemory  # beside this script

from diewell.release import audit, control, promote
from diewell.release import files as release_files
from diewell.release.report import render_report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default="demo")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from diewell import pipeline, warehouse
    from diewell.config import load_config
    from diewell.release import publish

    config = load_config(Path(args.dir).resolve() / "diewell.yaml")
    con = pipeline.open_warehouse(config)
    values = warehouse.fetch_one(con, "SELECT count(*) FROM mart_indicator_values")[0]
    if not values:
        raise SystemExit(f"{args.dir}: mart_indicator_values is empty; run `diewell run` first")
    staging = config.outputs / promote.STAGING / "bench-publication"
    for attempt in range(1, args.repeat + 1):
        shutil.rmtree(staging, ignore_errors=True)
        times: dict[str, float] = {}
        run_id = f"bench-publication-{attempt}"
        try:
            with ComputeMemory(con) as memory:
                for name, step in publication_steps(publish, con, config, staging, run_id):
                    started = time.perf_counter()
                    step()
                    times[name] = time.perf_counter() - started
        finally:
            con.execute(f"DROP TABLE IF EXISTS {control.PUBLICATION_TABLE}")
            shutil.rmtree(staging, ignore_errors=True)
        print(
            f"run {attempt}: {values:,} values; "
            + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in times.items())
            + f"; total {sum(times.values()):.1f} s; resident peak {memory.peak:,} MiB, less "
            f"DuckDB's {memory.peak_less_duckdb:,} MiB"
        )
    con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:,.0f} MiB; cpus {os.cpu_count()}")
    return 0


def publication_steps(publish, con, config, staging: Path, run_id: str):
    """The steps after compute, as pipeline.publish_release runs them, less the promotion."""
    return (
        ("disclosure control", lambda: control.control_release(con, config, run_id)),
        ("write", lambda: release_files.write_release(staging, con, config, run_id)),
        ("audit", lambda: audit.audit(staging, con, config, run_id)),
        ("report", lambda: render_report(staging, staging / "report.html")),
    )


if __name__ == "__main__":
    raise SystemExit(main())
