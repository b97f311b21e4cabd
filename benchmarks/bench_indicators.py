"""Benchmark: building the cohort and computing every indicator on a loaded warehouse.

    .venv/bin/python benchmarks/bench_indicators.py [--dir DEMO_DIR] [--population N] [--years N]
        [--repeat N] [--compute-only] [--part-rows N]

DEMO_DIR is a folder made by `diewell demo --dir DEMO_DIR` (default ./demo), or kept by
`benchmarks/run.py --dir`. If it holds no warehouse yet, a synthetic ICS is generated and
loaded first (not timed). Prints the time of build (core tables, periods, decedent cohort,
marts) and of computing all indicators (aggregation at every level and breakdown,
statistics, comparison, SII, trend), and peak memory: of the process, and during compute the
largest resident set and the largest resident set less what DuckDB says it holds
(`duckdb_memory()`, sampled every 50 ms), which is what compute itself holds beside DuckDB's
capped memory. `--compute-only` computes on the warehouse as built; `--part-rows` sets
`indicators.PART_ROWS`, above which an indicator is finished a chunk of geographies at a time
(10**9: every indicator whole). Asserts nothing: tests assert behaviour, benchmarks measure.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import threading
import time
from pathlib import Path

from run import resident_mib  # benchmarks/run.py, beside this script


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default="demo")
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--compute-only", action="store_true", help="do not build first")
    parser.add_argument("--part-rows", type=int, help="indicators.PART_ROWS for this run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from diewell import pipeline, warehouse
    from diewell.config import load_config
    from diewell.warehouse.indicators import compute as indicators
    from diewell.warehouse.indicators.catalogue import catalogue

    folder = Path(args.dir).resolve()
    config_path = folder / "diewell.yaml"
    if not config_path.exists():
        from diewell.synth import synthesize

        print(f"generating a synthetic ICS of {args.population:,} people in {folder} ...")
        config_path = synthesize(folder, population=args.population, years=args.years)
    config = load_config(config_path)
    if args.part_rows:
        indicators.PART_ROWS = args.part_rows
    con = pipeline.open_warehouse(config)
    loaded = warehouse.fetch_one(con, "SELECT count(*) FROM landing_files")[0]
    if not loaded:
        print("loading the landing folder (not timed) ...")
        pipeline.start_run(con, config, "bench-load")
        pipeline.ingest(con, config, "bench-load")
    deaths = warehouse.fetch_one(con, "SELECT count(*) FROM core_deaths")
    for attempt in range(1, args.repeat + 1):
        started = time.perf_counter()
        built_text = "build not run"
        if not args.compute_only:
            periods, cohort = pipeline.build(con)
            built_text = f"build {time.perf_counter() - started:.2f} s"
            built_text += f" ({cohort:,} decedents, {periods} periods)"
        built = time.perf_counter()
        with ComputeMemory(con) as memory:
            rows = pipeline.compute(con, config, "bench")
        computed = time.perf_counter()
        print(
            f"run {attempt}: {built_text}; compute {computed - built:.2f} s "
            f"({len(catalogue())} indicators, {rows:,} values, PART_ROWS "
            f"{indicators.PART_ROWS:,}; resident peak {memory.peak:,} MiB, less DuckDB's "
            f"{memory.peak_less_duckdb:,} MiB); total {computed - started:.2f} s"
        )
    con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"deaths in core: {deaths[0] if deaths else 0:,}; peak memory {peak:,.0f} MiB; "
        f"cpus {os.cpu_count()}"
    )
    return 0


class ComputeMemory:
    """The largest resident set while the block runs, and the largest resident set less what
    DuckDB holds (duckdb_memory(), read on a cursor of its own), sampled every 50 ms."""

    def __init__(self, con) -> None:
        self.cursor = con.cursor()
        self.peak = self.peak_less_duckdb = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self.done.wait(0.05):
            resident = int(resident_mib())
            held = self.cursor.execute(
                "SELECT coalesce(sum(memory_usage_bytes), 0) FROM duckdb_memory()"
            ).fetchone()[0]
            self.peak = max(self.peak, resident)
            self.peak_less_duckdb = max(self.peak_less_duckdb, resident - held // 2**20)

    def __enter__(self) -> ComputeMemory:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join()
        self.cursor.close()


if __name__ == "__main__":
    raise SystemExit(main())
