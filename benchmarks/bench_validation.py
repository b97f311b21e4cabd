"""Benchmark: validating provider extracts, per extract, as ingest does.

    .venv/bin/python benchmarks/bench_validation.py [--dir DIR] [--population N] [--years N]

DIR holds a synthetic ICS (`diewell synth`); if its landing folder is empty one is generated
first (not timed; default population 1,000,000 over 3 years). Two figures per extract, best
of `--repeat` passes:

- validate: the suites' row rules (`validate_batch`, the files of the extract in ingest's
  windows) on tables already read - the engine that the issue's 2M rows/s target is about;
- read + validate: what ingest does before loading (`ingest.validate_window`: checksum, file
  name, reading CSV/Parquet with the file rules, then the row rules).

The warehouse load, the pseudonymisation and the GX report are not timed. Asserts nothing:
tests assert behaviour, benchmarks measure.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import defaultdict
from pathlib import Path

TARGET = 2_000_000  # rows per second across files (the validation issue)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default="bench-validation")
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3, help="best of N passes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from diewell import warehouse
    from diewell.config import load_config
    from diewell.expectations.contracts import load_contract
    from diewell.expectations.files import discover, parse_file_name
    from diewell.expectations.reading import read_delivery
    from diewell.expectations.rules import validate_batch
    from diewell.expectations.validate import validate_window
    from diewell.sources.landing import windows
    from diewell.synth import synthesize
    from diewell.warehouse.landing_files import LandingIndex

    folder = Path(args.dir).resolve()
    config_path = folder / "diewell.yaml"
    if not config_path.exists() or not discover(folder / "landing"):
        print(f"generating a synthetic ICS of {args.population:,} people in {folder} ...")
        config_path = synthesize(folder, population=args.population, years=args.years)
    config = load_config(config_path)
    by_extract: dict[str, list] = defaultdict(list)
    for path in discover(config.landing):
        by_extract[parse_file_name(path, config).extract].append(path)
    for paths in by_extract.values():
        paths.sort(key=lambda p: parse_file_name(p, config).sort_key)

    with tempfile.TemporaryDirectory() as scratch:
        con = warehouse.connect(Path(scratch) / "empty.duckdb")  # nothing loaded: all validated
        warehouse.migrate(con)
        rows: dict[str, int] = {}
        best: dict[str, list[float]] = defaultdict(lambda: [float("inf"), float("inf")])
        for _ in range(args.repeat):
            for extract, paths in sorted(by_extract.items()):
                contract = load_contract(extract)
                batches = windows(paths)
                tables = [
                    [
                        (
                            read_delivery(parse_file_name(p, config)).rows,
                            parse_file_name(p, config).period_end,
                        )
                        for p in window
                    ]
                    for window in batches
                ]
                started = time.perf_counter()
                results = [r for t in tables for r in validate_batch(t, contract)]
                validate = time.perf_counter() - started
                rows[extract] = sum(r.rows_read for r in results)
                del tables, results
                started = time.perf_counter()
                current = LandingIndex.read(con).loaded()
                for window in batches:
                    validate_window(config, window, set(), current)
                read_and_validate = time.perf_counter() - started
                best[extract][0] = min(best[extract][0], validate)
                best[extract][1] = min(best[extract][1], read_and_validate)
        con.close()

    files = sum(len(p) for p in by_extract.values())
    print(f"\nValidation per extract, {files} files, best of {args.repeat} (rows per second):")
    print(f"  {'extract':<22} {'files':>6} {'rows':>11} {'validate':>12} {'read + validate':>16}")
    total_rows, total = 0, [0.0, 0.0]
    for extract in sorted(best):
        n, (v, rv) = rows[extract], best[extract]
        total_rows += n
        total[0] += v
        total[1] += rv
        print(
            f"  {extract:<22} {len(by_extract[extract]):>6} {n:>11,} {n / v:>12,.0f} {n / rv:>16,.0f}"
        )
    v_rate, rv_rate = total_rows / total[0], total_rows / total[1]
    print(f"  {'all':<22} {files:>6} {total_rows:>11,} {v_rate:>12,.0f} {rv_rate:>16,.0f}")
    print(f"  seconds{'':>29} {total[0]:>12.2f} {total[1]:>16.2f}")
    for what, rate in (("validate", v_rate), ("read + validate", rv_rate)):
        verdict = "meets" if rate >= TARGET else "is BELOW"
        print(f"{what}: {rate:,.0f} rows/s {verdict} the {TARGET:,} rows/s target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
