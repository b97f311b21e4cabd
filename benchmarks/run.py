"""The performance benchmark: diewell beside the bare scan and the usual analyst script.

    .venv/bin/python benchmarks/run.py --size S|M|L [--population N] [--years N]
                                       [--json OUT] [--dir DIR] [--keep]

Generates a synthetic ICS with the project's generator (S: 1M people over 3 years, M: 10M over
5 years, L: 57M over 5 years; --population and --years override, for smoke runs), then, on
the same files and in this order:

0. the read floor: every file read once with Polars, file by file, CSV columns as text (what
   any program that looks at every value pays at least; the run's cost is stated against it);
1. the bare DuckDB scan: `count(*)` of every file, one query per file (mostly CSV sniffing:
   kept to compare with earlier figures);
2. the analyst script (benchmarks/analyst_pandas.py: pandas, GX on pandas, 13 indicators at
   ICS level for one period), in a child process; a failure (MemoryError, killed) is recorded;
3. `diewell run` as pipeline.refresh with a step runner that times each step (pull, validate,
   load, build, compute, disclosure control, publish, swap in; validate and load summed over
   ingest's windows) and the run report with its GX Data Docs (validation_report.record_run,
   timed by a wrapper), in a child process. Like the refresh flow on its default task runner
   (flows/tasks.py, TaskSteps), it validates up to two windows of files ahead, on threads,
   while the load goes on: "validate" then overlaps "load" and the stages sum to more than
   the wall time;
4. the incremental run: the next month's deliveries delivered to the warehouse the full run
   left, and `diewell run` again, timed the same way. The ICS is generated one month past
   the full run's last period end, and that month's files are held back until now
   (`hold_back_month`): the full run covers the years less one month, and the new month
   continues the same people.

Each child measures its own peak resident memory (ru_maxrss of itself and of its children).
Prints every figure and the ratios (diewell / read floor, diewell / bare scan, pandas /
diewell, incremental / full run) and writes them as JSON. The folder is a temporary one, removed afterwards, unless --dir or --keep is given.
Asserts nothing: tests assert behaviour, benchmarks measure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SIZES = {  # size -> (population, years)
    "S": (1_000_000, 3),
    "M": (10_000_000, 5),
    "L": (57_000_000, 5),
}
SEED = 20261123  # the generator's default
PERIOD_END = dt.date(2026, 9, 30)  # the generator's default last period end
NEXT_PERIOD_END = dt.date(2026, 10, 31)  # the incremental run's new month
VALIDATE_AHEAD = 2  # as flows/tasks.py's TaskSteps
STAGES = ("generate", "pull", "validate", "load", "report", "build", "compute")
STAGES += ("disclosure control", "publish", "swap in")
HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent


def resident_mib() -> float:
    """This process's resident memory now (VmRSS), in MiB: what a step left held."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_mib() -> float:
    """The largest resident set of this process and of any child it waited for, in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024  # Linux reports KiB


def duckdb_mib(connections: list) -> float | None:
    """What DuckDB counts as held (duckdb_memory(): its buffer pool, the cached blocks of the
    tables it has read among them), in MiB, through a cursor of the run's connection; None
    before it is opened and after it is closed."""
    import duckdb

    if not connections:
        return None
    try:
        cursor = connections[-1].cursor()
        try:
            rows = cursor.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()
        finally:
            cursor.close()
    except duckdb.Error:
        return None
    return (rows[0][0] or 0) / 2**20


# ---------------------------------------------------------------------------------------------
# The children: each runs one part and writes its figures as JSON to the path it is given.


def child_generate(folder: Path, population: int, years: int, end: str, out: Path) -> None:
    from diewell.synth import synthesize

    started = time.perf_counter()
    end_date = dt.date.fromisoformat(str(end))
    synthesize(folder, seed=SEED, population=population, years=years, end_date=end_date)
    wall = time.perf_counter() - started
    out.write_text(json.dumps({"wall_s": wall, "peak_mib": peak_mib()}))


def child_pandas(landing: Path, out: Path) -> None:
    sys.path.insert(0, str(HERE))
    import analyst_pandas

    started = time.perf_counter()
    values = analyst_pandas.compute(landing, PERIOD_END)
    wall = time.perf_counter() - started
    out.write_text(json.dumps({"wall_s": wall, "peak_mib": peak_mib(), "values": values}))


def child_diewell(config_path: Path, out: Path) -> None:
    import polars as pl

    from diewell import pipeline
    from diewell.config import load_config
    from diewell.sources import ingest

    seconds: dict[str, float] = defaultdict(float)
    memory: dict[str, dict[str, float]] = {}  # step -> peak so far and resident, after it
    connections: list = []  # the run's warehouse connection, once opened
    threads = ThreadPoolExecutor(max_workers=VALIDATE_AHEAD)

    class TimedSteps:
        """Each step timed by name; `submit` runs one on a thread (ingest's look-ahead)."""

        validate_ahead = VALIDATE_AHEAD

        def __call__(self, name, fn, *args):
            started = time.perf_counter()
            finished = False
            try:
                result = fn(*args)
                finished = True
                return result
            finally:
                seconds[name] += time.perf_counter() - started
                memory[name] = {"peak_mib": peak_mib(), "resident_mib": resident_mib()}
                if (held := duckdb_mib(connections)) is not None:
                    memory[name]["duckdb_mib"] = held
                # how far a run got, should it be killed (run_child reads it back)
                partial = {
                    "stages_s": dict(seconds),
                    "peak_mib": peak_mib(),
                    "memory_after_stage": memory,
                    "last": name,
                    "last_finished": finished,
                }
                Path(f"{out}.partial").write_text(json.dumps(partial))

        def submit(self, name, fn, *args):
            return threads.submit(self, name, fn, *args)

    timed_step = TimedSteps()
    open_warehouse = pipeline.open_warehouse

    def kept_warehouse(*args, **kwargs):  # the run's connection, for DuckDB's own count
        connections.append(open_warehouse(*args, **kwargs))
        return connections[-1]

    pipeline.open_warehouse = kept_warehouse

    record_run = ingest.record_run  # the run report and GX Data Docs, inside ingest

    def timed_record_run(*args, **kwargs):
        return timed_step("report", lambda: record_run(*args, **kwargs))

    ingest.record_run = timed_record_run
    config = load_config(config_path)
    summary = pipeline.RunSummary(pipeline.new_run_id())
    started = time.perf_counter()
    values = pipeline.refresh(config, summary, step=timed_step)
    wall = time.perf_counter() - started
    threads.shutdown()
    headline = pipeline.headline_rows(values).filter(pl.col("period_end") == PERIOD_END)
    figures = {
        "wall_s": wall,
        "peak_mib": peak_mib(),
        "stages_s": dict(seconds),
        "memory_after_stage": memory,
        "files": len(summary.files),
        "files_rejected": summary.count("rejected"),
        "rows_loaded": summary.rows_loaded,
        "rows_quarantined": summary.rows_quarantined,
        "indicator_rows": summary.indicator_rows,
        "published": summary.release is not None,
        "values": {
            r["indicator_id"]: [r["numerator"], r["denominator"]] for r in headline.to_dicts()
        },
    }
    out.write_text(json.dumps(figures))


CHILDREN = {"generate": child_generate, "pandas": child_pandas, "diewell": child_diewell}


# The analyst script's address space is capped (RLIMIT_AS), so when it would take more than
# the machine has it fails alone, with its MemoryError recorded, instead of the kernel's OOM
# killer picking some process of the machine (this machine has no swap). diewell's child is
# not capped: DuckDB and Polars reserve address space they never touch (a cap of 20 GiB
# kills a 5,000-person run); its DuckDB holds to limits.warehouse_memory_mib instead.
PANDAS_ADDRESS_SPACE_GIB = 20


def _cap_memory() -> None:
    cap = PANDAS_ADDRESS_SPACE_GIB * 1024**3
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def run_child(part: str, *args: str) -> dict:
    """Run one part in a child process (the analyst script's memory capped); its figures, or
    how it failed."""
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "figures.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", part, *args, str(out)]
        env = os.environ | {"PYTHONPATH": os.pathsep.join([str(PROJECT), str(HERE)])}
        started = time.perf_counter()
        done = subprocess.run(
            command,
            env=env,
            capture_output=True,
            text=True,
            preexec_fn=_cap_memory if part == "pandas" else None,
        )
        wall = time.perf_counter() - started
        if done.returncode == 0 and out.exists():
            return json.loads(out.read_text())
        last = (done.stderr.strip().splitlines() or ["(nothing on stderr)"])[-1]
        killed = done.returncode < 0
        reason = f"killed by signal {-done.returncode}" if killed else last
        failed = {"failed": reason[:300], "returncode": done.returncode, "wall_s": wall}
        partial = Path(f"{out}.partial")
        if partial.exists():  # the steps it reached, and its peak memory by then
            got = json.loads(partial.read_text())
            failed.update(stages_s=got["stages_s"], last_step=got["last"])
            failed["last_step_finished"] = got["last_finished"]  # False: it failed in that step
            failed["peak_mib_before_failing"] = got["peak_mib"]
            failed["memory_after_stage"] = got.get("memory_after_stage", {})
        return failed


# ---------------------------------------------------------------------------------------------
# The read floor, the bare scan and the whole benchmark


def delivered_files(landing: Path) -> list[Path]:
    """Every delivered extract file under the landing folder, in name order."""
    return sorted(p for p in landing.rglob("*") if p.suffix in (".csv", ".parquet"))


def total_bytes(files: list[Path]) -> int:
    return sum(p.stat().st_size for p in files)


def read_floor(landing: Path) -> dict:
    """Every file read once, with Polars, file by file: CSV with every column as text,
    Parquet as written. What any program that looks at every value must pay at least."""
    import polars as pl

    files = delivered_files(landing)
    rows = 0
    started = time.perf_counter()
    for path in files:
        if path.suffix == ".parquet":
            rows += pl.read_parquet(path).height
        else:
            rows += pl.read_csv(path, infer_schema=False).height
    wall = time.perf_counter() - started
    return {"wall_s": wall, "files": len(files), "rows": rows, "bytes": total_bytes(files)}


def bare_scan(landing: Path) -> dict:
    """count(*) of every extract file with DuckDB, one query per file: the floor."""
    import duckdb

    files = delivered_files(landing)
    con = duckdb.connect()
    rows = 0
    started = time.perf_counter()
    for path in files:
        reader = (
            "read_parquet(?)" if path.suffix == ".parquet" else "read_csv(?, all_varchar = true)"
        )
        rows += con.execute(f"SELECT count(*) FROM {reader}", [str(path)]).fetchone()[0]
    wall = time.perf_counter() - started
    con.close()
    return {"wall_s": wall, "files": len(files), "rows": rows, "bytes": total_bytes(files)}


def _move_keeping_folders(path: Path, source: Path, target: Path) -> None:
    """Move a file under `source` to the same place under `target`."""
    moved_to = target / path.relative_to(source)
    moved_to.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(path, moved_to)


def hold_back_month(landing: Path, held: Path, period_end: dt.date, first_end: dt.date) -> int:
    """Move the files of the generated ICS's last month (named ..._<YYYYMMDD>.<ext>) out of
    its landing folder into `held`, keeping their sub-folders, for the incremental run to
    deliver; how many were held back. The reference data (`ref_*`, a snapshot the generator
    dates at its last month) is also left in landing, dated `first_end`, the month before: the
    full run needs it, and the incremental run re-delivers it, as a month's deliveries do.

    One generated ICS, so the new month continues the people and the activity already loaded
    (the generator run again to a later end, same seed, draws another ICS altogether: its
    month would contradict what is loaded, every period's figures would move, and the
    incremental run would measure that instead of one new month)."""
    stamp, first_stamp = f"_{period_end:%Y%m%d}", f"_{first_end:%Y%m%d}"
    moved = 0
    for path in sorted(landing.rglob("*")):
        if path.is_file() and path.stem.endswith(stamp):
            if path.name.startswith("ref_"):
                shutil.copy2(path, path.with_name(path.name.replace(stamp, first_stamp)))
            _move_keeping_folders(path, landing, held)
            moved += 1
    return moved


def deliver_month(held: Path, landing: Path) -> int:
    """Move the held-back month's files into the landing folder, keeping their sub-folders;
    how many were delivered."""
    delivered = 0
    for path in sorted(held.rglob("*")):
        if path.is_file():
            _move_keeping_folders(path, held, landing)
            delivered += 1
    return delivered


def disk_mib(folder: Path) -> dict[str, float]:
    """What each top folder of the ICS's folder holds on disk, in MiB (allocated blocks, so a
    sparse or part-written file counts as what it takes), and the free space left beside it:
    the figures an L run's disk would be projected from."""
    sizes: dict[str, float] = {}
    for top in sorted(p for p in folder.iterdir() if p.is_dir()):
        used = 0
        for root, _, files in os.walk(top):
            for name in files:
                try:
                    used += os.lstat(os.path.join(root, name)).st_blocks * 512
                except FileNotFoundError:
                    continue
        sizes[top.name] = round(used / 2**20, 1)
    sizes["free"] = round(shutil.disk_usage(folder).free / 2**20, 1)
    return sizes


def machine() -> dict:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "commit": commit(),
    }


def commit() -> str:
    """The project's commit the figures were measured on (`+changes` if the tree differs)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT, capture_output=True, text=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:  # no git here
        return "unknown"
    return f"{head or 'unknown'}{' +changes' if changed else ''}"


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a and b else None


def benchmark(size: str, population: int, years: int, folder: Path, baselines: bool = True) -> dict:
    figures: dict = {"size": size, "population": population, "years": years}
    figures["machine"] = machine()
    print(f"generating a synthetic ICS of {population:,} people over {years} years ...")
    figures["generate"] = run_child(
        "generate", str(folder), str(population), str(years), NEXT_PERIOD_END.isoformat()
    )
    if "failed" in figures["generate"]:
        return figures
    landing, later = folder / "landing", folder / "next-month"
    held_back = hold_back_month(landing, later, NEXT_PERIOD_END, PERIOD_END)
    print("read floor (Polars, every file once) ...")
    figures["read_floor"] = read_floor(landing)
    if baselines:
        print("bare scan ...")
        figures["bare_scan"] = bare_scan(landing)
        print("the analyst script (pandas, GX on pandas) ...")
        figures["pandas"] = run_child("pandas", str(landing))  # before diewell moves the files
    else:
        figures["bare_scan"] = {"wall_s": None, "files": None, "rows": None, "bytes": None}
        figures["pandas"] = {"failed": "not run (--no-baselines)", "wall_s": None}
    print("diewell run ...")
    figures["diewell"] = run_child("diewell", str(folder / "diewell.yaml"))
    figures["disk_after_run_mib"] = disk_mib(folder)
    run_s = figures["diewell"].get("wall_s") if "failed" not in figures["diewell"] else None
    incremental_s = None
    if run_s and held_back:
        delivered = deliver_month(later, landing)
        print(f"diewell run, incremental ({delivered:,} new files: the next month) ...")
        figures["incremental"] = run_child("diewell", str(folder / "diewell.yaml"))
        figures["incremental"]["files_delivered"] = delivered
        if "failed" not in figures["incremental"]:
            incremental_s = figures["incremental"]["wall_s"]
    pandas_s = figures["pandas"].get("wall_s") if "failed" not in figures["pandas"] else None
    if run_s and pandas_s:  # with the generator's defects the two may differ (README)
        ours = figures["diewell"]["values"]
        theirs = figures["pandas"]["values"]
        figures["pandas_same_13_values"] = all(ours.get(i) == v for i, v in theirs.items())
    figures["ratios"] = {
        "diewell_over_read_floor": ratio(run_s, figures["read_floor"]["wall_s"]),
        "diewell_over_bare_scan": ratio(run_s, figures["bare_scan"]["wall_s"]),
        "pandas_over_diewell": ratio(pandas_s, run_s),
        "incremental_over_full_run": ratio(incremental_s, run_s),
    }
    if run_s:
        stages = figures["diewell"]["stages_s"]
        rows = figures["diewell"]["rows_loaded"] + figures["diewell"]["rows_quarantined"]
        figures["ratios"]["report_share_of_run"] = ratio(stages.get("report"), run_s)
        # read + validate: the rows the run read over the time its validate step took
        # (on threads beside the load; target at least 2M rows/s)
        figures["ratios"]["read_validate_rows_per_s"] = (
            round(rows / stages["validate"]) if stages.get("validate") else None
        )
    return figures


def describe(figures: dict) -> str:
    """The figures as the lines the benchmark prints."""

    def part(name: str) -> str:
        f = figures.get(name, {})
        if "failed" in f:
            after = f" after {f['wall_s']:.1f} s" if f.get("wall_s") is not None else ""
            step = f" in {f['last_step']}" if f.get("last_step_finished") is False else ""
            return f"FAILED{after}{step}: {f['failed']}"
        return f"{f.get('wall_s', 0):.1f} s, peak {f.get('peak_mib', 0):,.0f} MiB"

    m, scan = figures["machine"], figures.get("bare_scan", {})
    lines = [
        f"size {figures['size']}: {figures['population']:,} people, {figures['years']} years; "
        f"{m['cpus']} cpus, {m['memory_gib']} GiB; commit {m.get('commit', 'unknown')}",
        f"generate:  {part('generate')}",
    ]
    if floor := figures.get("read_floor"):
        lines.append(
            f"read floor: {floor['wall_s']:.1f} s ({floor['files']:,} files, "
            f"{floor['rows']:,} rows, {floor['bytes'] / 1e6:,.0f} MB; Polars, every file once)"
        )
    if scan.get("wall_s"):
        lines.append(
            f"bare scan: {scan['wall_s']:.1f} s ({scan['files']:,} files, {scan['rows']:,} rows, "
            f"{scan['bytes'] / 1e6:,.0f} MB)"
        )
    if "pandas" in figures:
        lines.append(f"pandas:    {part('pandas')} (13 indicators, ICS, one period)")
    run = figures.get("diewell", {})
    if run:
        lines.append(f"diewell:   {part('diewell')}")
        for stage in STAGES[1:]:
            lines.append(stage_line(run, stage))
        if "rows_loaded" in run:
            lines.append(
                f"  {run['files']:,} files ({run['files_rejected']} rejected), "
                f"{run['rows_loaded']:,} rows loaded, {run['rows_quarantined']:,} quarantined, "
                f"{run['indicator_rows']:,} indicator values"
            )
    more = figures.get("incremental", {})
    if more:
        lines.append(
            f"incremental ({more.get('files_delivered', 0):,} new files): {part('incremental')}"
        )
        for stage in STAGES[1:]:
            if stage in more.get("stages_s", {}):
                lines.append(stage_line(more, stage))
    if disk := figures.get("disk_after_run_mib"):
        held = ", ".join(f"{name} {mib:,.0f}" for name, mib in disk.items() if name != "free")
        lines.append(f"disk after the run, MiB: {held}; {disk['free']:,.0f} free")
    if "pandas_same_13_values" in figures:
        lines.append(f"pandas gives diewell's 13 values: {figures['pandas_same_13_values']}")
    for name, value in figures.get("ratios", {}).items():
        lines.append(f"{name.replace('_', ' ')}: {value if value is not None else 'n/a'}")
    return "\n".join(lines)


def stage_line(run: dict, stage: str) -> str:
    """A stage's time, and the peak and resident memory after it (the peak so far)."""
    if stage not in run.get("stages_s", {}):
        return f"  {stage:<20}      not run"
    line = f"  {stage:<20} {run['stages_s'][stage]:8.1f} s"
    if memory := run.get("memory_after_stage", {}).get(stage):
        line += (
            f"   peak so far {memory['peak_mib']:7,.0f} MiB,"
            f" resident after {memory['resident_mib']:7,.0f} MiB"
        )
        if "duckdb_mib" in memory:
            line += f" (DuckDB {memory['duckdb_mib']:7,.0f})"
    return line


def main() -> int:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        part, *args = sys.argv[2:]
        child = CHILDREN[part]
        paths = [Path(a) if not a.isdigit() else int(a) for a in args]
        logging.basicConfig(level=logging.WARNING)
        child(*paths)
        return 0
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), required=True)
    parser.add_argument("--population", type=int, help="instead of the size's (smoke runs)")
    parser.add_argument("--years", type=int, help="instead of the size's")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument(
        "--dir", type=Path, help="generate here (kept) instead of a temporary folder"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="run diewell only: no bare scan, no analyst script (their figures from another run)",
    )
    args = parser.parse_args()
    population, years = SIZES[args.size]
    population, years = args.population or population, args.years or years
    folder = (args.dir or Path(tempfile.mkdtemp(prefix="diewell-bench-"))).resolve()
    try:
        figures = benchmark(args.size, population, years, folder, not args.no_baselines)
    finally:
        if not (args.dir or args.keep):
            shutil.rmtree(folder, ignore_errors=True)
    print(describe(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
