"""Benchmark: generating a synthetic ICS, wall time, peak memory and what it wrote.

    .venv/bin/python benchmarks/bench_synth.py [--population N] [--years N] [--dir DIR] [--keep]

Runs `diewell synth` in a child process (so its peak resident memory is measured alone) and
prints the wall time, the child's peak memory, and the files and bytes in the landing folder.
The generator works a slice of the population at a time, so memory should stay flat as the
population grows (try --population 57000000 for England). The folder is removed afterwards
unless --keep or --dir is given. Asserts nothing: tests assert behaviour, benchmarks measure.
"""

from __future__ import annotations

import argparse
import resource
import shutil
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
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="diewell-bench-synth-"))
    diewell = Path(sys.executable).with_name("diewell")
    command = [str(diewell), "synth", "--out", str(folder)]
    command += ["--population", str(args.population), "--years", str(args.years)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    wall = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    files = [p for p in (folder / "landing").rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(f"synth: population {args.population:,}, {args.years} years, in {folder}")
    print(f"wall time: {wall:.1f} s")
    print(f"peak memory: {peak_mib:,.0f} MiB")
    print(f"files: {len(files):,}; {size / 1e6:,.0f} MB")
    if not (args.keep or args.dir):
        shutil.rmtree(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
