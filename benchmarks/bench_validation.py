"""Benchmark: validating provider extracts (read + the suites' row rules), per extract.

    .venv/bin/python benchmarks/bench_validation.py [--dir DIR] [--population N] [--years N]

DIR holds a synthetic ICS (`diewell synth`); if its landing folder is empty one is generated
first (not timed; default population 1,000,000 over 3 years). Every file is read and validated
as ingest does (`read_delivery`, `check_columns`, `validate_rows`): the warehouse load, the
pseudonymisation and the GX report are not timed. Prints rows per second per extract and
overall (the issue asks for at least 2M rows/s on the 2-core reference machine). Asserts
nothing: tests assert behaviour, benchmarks measure.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections import defaultdict
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default="bench-validation")
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=2, help="best of N passes")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from diewell.config import load_config
    from diewell.delivery import as_strings, check_columns, discover, parse_file_name, read_delivery
    from diewell.synth import synthesize
    from transforms.contracts import load_contract, validate_rows

    folder = Path(args.dir).resolve()
    config_path = folder / "diewell.yaml"
    if not config_path.exists() or not discover(folder / "landing"):
        print(f"generating a synthetic ICS of {args.population:,} people in {folder} ...")
        config_path = synthesize(folder, population=args.population, years=args.years)
    config = load_config(config_path)
    deliveries = [parse_file_name(p, config) for p in discover(config.landing)]

    best: dict[str, tuple[int, float]] = {}
    for _ in range(args.repeat):
        rows: dict[str, int] = defaultdict(int)
        seconds: dict[str, float] = defaultdict(float)
        for d in deliveries:
            contract = load_contract(d.extract)
            started = time.perf_counter()
            raw = read_delivery(d)
            check_columns(raw, contract, d.format)
            result = validate_rows(as_strings(raw), contract, d.period_end)
            seconds[d.extract] += time.perf_counter() - started
            rows[d.extract] += result.rows_read
        for extract in rows:
            if extract not in best or seconds[extract] < best[extract][1]:
                best[extract] = (rows[extract], seconds[extract])

    print(f"\nValidation (read + row rules), {len(deliveries)} files, best of {args.repeat}:")
    print(f"  {'extract':<22} {'rows':>12} {'seconds':>9} {'rows/s':>12}")
    total_rows = total_seconds = 0
    for extract, (n, s) in sorted(best.items()):
        total_rows += n
        total_seconds += s
        print(f"  {extract:<22} {n:>12,} {s:>9.2f} {n / s if s else 0:>12,.0f}")
    rate = total_rows / total_seconds if total_seconds else 0
    print(f"  {'all':<22} {total_rows:>12,} {total_seconds:>9.2f} {rate:>12,.0f}")
    print(f"\n{'meets' if rate >= 2_000_000 else 'BELOW'} the 2,000,000 rows/s target")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
