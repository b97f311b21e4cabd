"""The region benchmark: a region of synthetic ICSs of different sizes, run as a region runs
it, over a Prefect process pool with 1 and then 2 ICS workers, end to end.

    .venv/bin/python benchmarks/region.py [--millions 0.5,1,1.5,2,2] [--years 3]
                                          [--workers 1,2] [--json OUT] [--dir DIR]

Generates one synthetic ICS per size (the project's generator, each its own seed, ICS code
and key; 7 million people in all by default), then for each worker count: a fresh copy of
every ICS's deliveries, a Prefect server of its own (the tests' harness,
tests/system/prefect_stack.Stack: its own PREFECT_HOME and SQLite database on a free
loopback port), the process pool, one publication deployment per ICS made from
prefect.yaml's `monthly-publication` and the repository's `regional-publication` (as
docs/OPERATIONS.md, "Running a region", says), and the workers: one for the regional run on
a work queue of its own (so it never holds an ICS worker's slot) and N for the ICS runs on
the pool's default queue, each taking one run at a time (`--limit 1`). It triggers the
regional run and waits for it: the wall time is from the trigger to the regional release.

Prints, per worker count, the wall time, each ICS run's time in its worker (Prefect's
start and end times) and the regional publication's; the disk each ICS holds after its run;
and a projection for England's 42 ICSs from the measured cost per ICS: the sum of the ICS
runs over the workers (each worker a machine like this one, or a core pair), plus the
regional publication. Asserts nothing: tests assert behaviour, benchmarks measure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
sys.path[:0] = [str(HERE), str(PROJECT)]
from run import machine  # noqa: E402  (the machine and commit of the figures, as run.py)

from tests.system.prefect_stack import (  # noqa: E402  (the tests' Prefect harness)
    Stack,
    region_deployments,
    write_prefect_file,
    write_region_config,
)

REGION_QUEUE = "region"  # the regional run's own queue: it never takes an ICS worker's slot
ENGLAND_ICSS = 42
ENGLAND_POPULATION_M = 57.1  # ONS mid-2023 estimate for England, millions
SEED = 20261208
RUN_TIMEOUT = 3 * 3600  # seconds for the whole regional run


def generate(root: Path, millions: list[float], years: int) -> dict[str, dict]:
    """One synthetic ICS per size under root/sources/<code>; their codes, sizes and times."""
    from diewell.synth import synthesize

    icss = {}
    for i, m in enumerate(millions):
        code = f"Q{chr(ord('A') + i) * 2}"  # QAA, QBB, ...
        folder = root / "sources" / code
        started = time.perf_counter()
        config_path = synthesize(folder, seed=SEED + i, population=round(m * 1e6), years=years)
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
        raw["ics"] = {"code": code, "name": f"Synthetic ICS {code}"}
        config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        files = [p for p in (folder / "landing").rglob("*") if p.is_file()]
        icss[code] = {
            "population": round(m * 1e6),
            "files": len(files),
            "mb": round(sum(p.stat().st_size for p in files) / 1e6, 1),
            "generate_s": round(time.perf_counter() - started, 1),
        }
        print(f"  {code}: {m:g}M people, {len(files):,} files ({icss[code]['mb']:,} MB)")
    return icss


def prefect_file(root: Path, configs: dict[str, Path]) -> Path:
    """prefect.yaml's regional deployment, on its own queue, and one publication deployment
    per ICS (tests/system/prefect_stack.region_deployments)."""
    regional, per_ics = region_deployments(configs)
    regional = {**regional, "work_pool": {**regional["work_pool"], "work_queue_name": REGION_QUEUE}}
    return write_prefect_file(root / "prefect.yaml", [regional, *per_ics])


def seconds_between(run: dict) -> float | None:
    start, end = run.get("start_time"), run.get("end_time")
    if not (start and end):
        return None
    return (dt.datetime.fromisoformat(end) - dt.datetime.fromisoformat(start)).total_seconds()


def disk_mb(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def region_run(root: Path, sources: Path, codes: list[str], workers: int) -> dict:
    """Copy every ICS's deliveries afresh, deploy, start the workers, run the region."""
    run_root = root / f"workers-{workers}"
    configs = {}
    for code in codes:
        target = run_root / code
        shutil.copytree(sources / code, target, ignore=shutil.ignore_patterns(".parts*"))
        configs[code] = target / "diewell.yaml"
    region_config = write_region_config(run_root / "region.yaml", "Benchmark region", codes)
    (run_root / "stack").mkdir()
    stack = Stack(run_root / "stack")
    try:
        stack.serve()
        stack.cli(
            "--no-prompt",
            "deploy",
            "--all",
            "--prefect-file",
            str(prefect_file(run_root, configs)),
            cwd=PROJECT,
            env={"DIEWELL_REGION_CONFIG": str(region_config)},
        )
        home = {"DIEWELL_HOME": str(PROJECT)}  # each ICS's own key file: no key variable
        stack.worker("region-worker", home, "--work-queue", REGION_QUEUE, "--limit", "1")
        for i in range(workers):
            stack.worker(f"ics-worker-{i + 1}", home, "--work-queue", "default", "--limit", "1")
        started = time.perf_counter()
        region_id = stack.trigger("diewell-region/regional-publication")
        deadline = time.monotonic() + RUN_TIMEOUT
        while True:
            region = stack.run(region_id)
            state = (region.get("state") or {}).get("type")
            if state in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"the regional run did not finish in {RUN_TIMEOUT} s")
            time.sleep(1)
        wall = time.perf_counter() - started
        ics_runs, ends = {}, []
        for code in codes:
            found = stack.http.post(
                "/flow_runs/filter",
                json={"deployments": {"name": {"any_": [f"ics-{code.lower()}"]}}, "limit": 5},
            ).json()
            run = found[0] if found else {}
            ics_runs[code] = {
                "state": (run.get("state") or {}).get("type"),
                "run_s": seconds_between(run),
                "disk_mb": disk_mb(run_root / code),
            }
            if run.get("end_time"):
                ends.append(dt.datetime.fromisoformat(run["end_time"]))
        figures = {
            "workers": workers,
            "state": state,
            "wall_s": round(wall, 1),
            "regional_run_s": seconds_between(region),
            "ics": ics_runs,
        }
        # the regional publication itself: the regional run's time after its last ICS ended
        if ends and region.get("end_time"):
            figures["regional_publication_s"] = round(
                (dt.datetime.fromisoformat(region["end_time"]) - max(ends)).total_seconds(), 1
            )
        if state != "COMPLETED":
            figures["logs"] = (stack.root / "region-worker.log").read_text(errors="replace")[-3000:]
        return figures
    finally:
        stack.close()


def projection(icss: dict[str, dict], runs: list[dict]) -> dict:
    """England's 42 ICSs from the cost per ICS measured with one worker (the least contended):
    each ICS run's time in its worker fitted as a fixed part plus a part per million people
    (least squares over the region's ICSs of different sizes), the time the worker takes to
    start each run (the one-worker wall time less the runs and the regional publication,
    shared out), the regional publication scaled by the number of ICSs, and the disk each
    ICS holds after its run fitted the same way. On W workers the ICS work divides by W (the
    ICSs are independent); the regional publication does not."""
    one = next((r for r in runs if r["workers"] == 1 and r["state"] == "COMPLETED"), None)
    if one is None:
        return {}
    import numpy as np

    codes = list(one["ics"])
    people_m = np.array([icss[c]["population"] / 1e6 for c in codes])
    run_s = np.array([one["ics"][c]["run_s"] or 0.0 for c in codes])
    disk = np.array([one["ics"][c]["disk_mb"] for c in codes])
    publication = one.get("regional_publication_s") or 0.0
    start_s = max(0.0, (one["wall_s"] - run_s.sum() - publication) / len(codes))
    if len(set(people_m)) > 1:
        per_m_s, fixed_s = np.polyfit(people_m, run_s, 1)
        per_m_disk, fixed_disk = np.polyfit(people_m, disk, 1)
    else:  # one size: all of it per person
        per_m_s, fixed_s = run_s.sum() / people_m.sum(), 0.0
        per_m_disk, fixed_disk = disk.sum() / people_m.sum(), 0.0
    ics_work = ENGLAND_ICSS * (fixed_s + start_s) + per_m_s * ENGLAND_POPULATION_M
    disk_mb = ENGLAND_ICSS * fixed_disk + per_m_disk * ENGLAND_POPULATION_M
    regional = publication * ENGLAND_ICSS / len(codes)
    two = next((r for r in runs if r["workers"] == 2 and r["state"] == "COMPLETED"), None)
    return {
        "run_s_fixed": round(float(fixed_s), 1),
        "run_s_per_million_people": round(float(per_m_s), 1),
        "worker_start_s_per_ics": round(start_s, 1),
        "disk_mb_fixed": round(float(fixed_disk), 1),
        "disk_mb_per_million_people": round(float(per_m_disk), 1),
        "england_population_m": ENGLAND_POPULATION_M,
        "england_icss": ENGLAND_ICSS,
        "england_disk_gb": round(float(disk_mb) / 1e3, 1),
        "england_mean_ics_disk_gb": round(float(disk_mb) / ENGLAND_ICSS / 1e3, 2),
        "england_regional_publication_s": round(regional, 1),
        "england_wall_s": {w: round(float(ics_work) / w + regional) for w in (1, 2, 4, 8, 16, 42)},
        "two_workers_speed_up_measured": round(one["wall_s"] / two["wall_s"], 2) if two else None,
    }


def describe(figures: dict) -> str:
    m = figures["machine"]
    lines = [
        f"region of {len(figures['icss'])} ICSs, "
        f"{sum(i['population'] for i in figures['icss'].values()) / 1e6:g}M people, "
        f"{figures['years']} years; {m['cpus']} cpus, {m['memory_gib']} GiB; "
        f"commit {m['commit']}",
    ]
    for code, ics in figures["icss"].items():
        lines.append(
            f"  {code}: {ics['population'] / 1e6:g}M people, {ics['files']:,} files, "
            f"{ics['mb']:,} MB (generated in {ics['generate_s']} s)"
        )
    for run in figures["runs"]:
        lines.append(
            f"{run['workers']} ICS worker(s): {run['state']}, wall {run['wall_s']} s "
            f"(regional publication {run.get('regional_publication_s')} s after the last ICS)"
        )
        for code, ics in run["ics"].items():
            lines.append(
                f"  {code}: {ics['state']}, {ics['run_s']:.1f} s in its worker, "
                f"{ics['disk_mb']:,} MB on disk after"
                if ics["run_s"] is not None
                else f"  {code}: {ics['state']}"
            )
    if p := figures.get("projection"):
        lines.append(
            f"per ICS: a run takes {p['run_s_fixed']} s + {p['run_s_per_million_people']} s a "
            f"million people, and {p['worker_start_s_per_ics']} s for the worker to start it; "
            f"it holds {p['disk_mb_fixed']} MB + {p['disk_mb_per_million_people']} MB a "
            "million people on disk"
        )
        lines.append(
            f"England ({p['england_icss']} ICSs, {p['england_population_m']}M people): "
            f"{p['england_disk_gb']} GB of disk in all ({p['england_mean_ics_disk_gb']} GB a "
            f"mean ICS); the regional publication {p['england_regional_publication_s']} s"
        )
        lines.append(
            "  wall time by workers: "
            + ", ".join(f"{w}: {s / 60:.0f} min" for w, s in p["england_wall_s"].items())
        )
        lines.append(f"  2 workers against 1, measured: {p['two_workers_speed_up_measured']}x")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--millions", default="0.5,1,1.5,2,2", help="each ICS's people")
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="the ICS worker counts to run")
    parser.add_argument("--json", type=Path, help="write the figures here as JSON")
    parser.add_argument("--dir", type=Path, help="work here (kept) instead of a temporary folder")
    args = parser.parse_args()
    millions = [float(m) for m in args.millions.split(",")]
    root = (args.dir or Path(tempfile.mkdtemp(prefix="diewell-region-"))).resolve()
    figures: dict = {"machine": machine(), "years": args.years, "runs": []}
    try:
        print(f"generating {len(millions)} ICSs ({sum(millions):g}M people) ...")
        figures["icss"] = generate(root, millions, args.years)
        for workers in (int(w) for w in args.workers.split(",")):
            print(f"the region on {workers} ICS worker(s) ...")
            figures["runs"].append(
                region_run(root, root / "sources", list(figures["icss"]), workers)
            )
            shutil.rmtree(root / f"workers-{workers}", ignore_errors=True)
        figures["projection"] = projection(figures["icss"], figures["runs"])
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)
    print(describe(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
