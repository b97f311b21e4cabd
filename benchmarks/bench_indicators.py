"""Benchmark: building the cohort and computing every indicator on a loaded warehouse.

    .venv/bin/python benchmarks/bench_indicators.py [--dir DEMO_DIR] [--population N] [--years N]

DEMO_DIR is a folder made by `diewell demo --dir DEMO_DIR` (default ./demo). If it holds no
warehouse yet, a synthetic ICS is generated and loaded first (not timed). Prints the time of
build (core tables, periods, decedent cohort, marts) and of computing all indicators
(aggregation at every level and breakdown, statistics, comparison, SII, trend), and peak
memory. Asserts nothing: tests assert behaviour, benchmarks measure.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default="demo")
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from diewell import pipeline, warehouse
    from diewell.config import load_config
    from diewell.indicators import catalogue

    folder = Path(args.dir).resolve()
    config_path = folder / "diewell.yaml"
    if not config_path.exists():
        from diewell.synth import synthesize

        print(f"generating a synthetic ICS of {args.population:,} people in {folder} ...")
        config_path = synthesize(folder, population=args.population, years=args.years)
    config = load_config(config_path)
    con = pipeline.open_warehouse(config)
    loaded = warehouse.fetch_one(con, "SELECT count(*) FROM landing_files")[0]
    if not loaded:
        print("loading the landing folder (not timed) ...")
        pipeline.start_run(con, config, "bench-load")
        pipeline.ingest(con, config, "bench-load")
    deaths = warehouse.fetch_one(con, "SELECT count(*) FROM core_deaths")
    for attempt in range(1, args.repeat + 1):
        started = time.perf_counter()
        periods, cohort = pipeline.build(con)
        built = time.perf_counter()
        rows = pipeline.compute(con, config, "bench")
        computed = time.perf_counter()
        print(
            f"run {attempt}: build {built - started:.2f} s ({cohort:,} decedents, {periods} periods); "
            f"compute {computed - built:.2f} s ({len(catalogue())} indicators, "
            f"{rows:,} values); total {computed - started:.2f} s"
        )
    con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"deaths in core: {deaths[0] if deaths else 0:,}; peak memory {peak:,.0f} MiB; "
        f"cpus {os.cpu_count()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
