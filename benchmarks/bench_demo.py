"""Benchmark: the demo end to end (synthetic ICS generation + pipeline), wall time and peak memory.

    .venv/bin/python benchmarks/bench_demo.py [--population N] [--years N] [--dir DIR]

Prints figures; asserts nothing (tests assert behaviour, benchmarks measure).
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--population", type=int, default=1_000_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--dir", default=None)
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="diewell-bench-"))
    diewell = Path(sys.executable).with_name("diewell")
    started = time.perf_counter()
    subprocess.run(
        [
            str(diewell),
            "demo",
            "--dir",
            str(folder),
            "--population",
            str(args.population),
            "--years",
            str(args.years),
        ],
        check=True,
    )
    wall = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"demo: population {args.population:,}, {args.years} years")
    print(f"wall time: {wall:.1f} s")
    print(f"peak memory (largest process): {peak_mib:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
