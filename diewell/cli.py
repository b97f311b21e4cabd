"""diewell's command line: `diewell demo`, `diewell run --config PATH`, `diewell synth --out DIR`,
`diewell reprocess --config PATH (--rejected | --quarantined) [--file NAME ...]
[--accept-low-volume]`."""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from diewell.config import ConfigError, load_config
from diewell.permissions import private_umask

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger("diewell")

# Exit codes (README "Running it"): a run that has nothing to publish yet still ends EXIT_OK.
EXIT_OK = 0
EXIT_CONFIG = 2  # the configuration or the key is wrong: fix it and run again
EXIT_WAREHOUSE_BUSY = 3  # another run held the warehouse for longer than the wait allows
EXIT_TIMED_OUT = 4  # the run went over its time-out ($DIEWELL_REFRESH_TIMEOUT_SECONDS)


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # Libraries' own chatter (each HTTP request to the Prefect API, GX's start-up notes) would
    # drown diewell's progress lines: only their warnings and errors are shown.
    for name in ("httpx", "httpcore", "great_expectations"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Prefect shows the diewell loggers in its run logs too.
    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "diewell")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # The temporary local server Prefect starts without PREFECT_API_URL needs more than the
    # default 20 s on a busy two-core machine the first time (it creates its database).
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")


def _synth_progress(step: str, done: int, total: int) -> None:
    if total and (done == total or done % max(1, total // 10) == 0):
        log.info("synth: %s %d/%d", step, done, total)


def cmd_synth(args: argparse.Namespace) -> int:
    from diewell.synth import synthesize

    out = Path(args.out)
    started = time.perf_counter()
    config_path = synthesize(
        out, seed=args.seed, population=args.population, years=args.years, progress=_synth_progress
    )
    files = sum(1 for _ in (out / "landing").rglob("*") if _.is_file())
    print(f"Synthetic ICS written in {time.perf_counter() - started:.1f} s: {files} extract files")
    print(f"Config: {config_path}")
    return 0


def run_pipeline(config_path: Path) -> int:
    from prefect.flow_engine import FlowRunTimeoutError

    from diewell.pipeline import headline
    from flows.refresh import refresh
    from flows.support import WarehouseBusy

    config = load_config(config_path)  # fail early, before Prefect starts, on a bad config
    config.pseudonymisation_key()
    started = time.perf_counter()
    try:
        summary = refresh(str(config_path))
    except WarehouseBusy as exc:
        print(f"diewell: the warehouse is busy: {exc}", file=sys.stderr)
        return EXIT_WAREHOUSE_BUSY
    except FlowRunTimeoutError as exc:
        print(f"diewell: the run went over its time-out and was stopped: {exc}", file=sys.stderr)
        return EXIT_TIMED_OUT
    elapsed = time.perf_counter() - started
    print()
    print(f"Run {summary.run_id} completed in {elapsed:.1f} s")
    print(
        f"  files: {summary.count('loaded')} loaded, {summary.count('unchanged')} unchanged, "
        f"{summary.count('rejected')} rejected"
    )
    print(f"  rows:  {summary.rows_loaded:,} loaded, {summary.rows_quarantined:,} quarantined")
    for rule, n in sorted(summary.rejections_by_rule().items()):
        print(f"  rejected ({rule}): {n} file(s); reasons beside them in {config.rejected}")
    print(
        f"  decedent cohort: {summary.cohort_rows:,} rows; {summary.indicator_rows:,} indicator values"
    )
    print(f"Warehouse: {config.warehouse}")
    if summary.release is None:
        print(f"Nothing published: {summary.not_published}.")
        return EXIT_OK
    print(f"Outputs:   {config.outputs / 'current'} -> {summary.release}")
    table = headline(summary.release)
    if table.height:
        period = table["period_end"][0]
        print(
            f"\nHeadline indicators, {config.ics_name}, 12 months to {period} (published figures):"
        )
        print("\n".join(headline_lines(table)))
    return EXIT_OK


def headline_lines(table: pl.DataFrame) -> list[str]:
    """The headline table as aligned text: full names, published counts, value, unit, 95% CI.

    Suppressed values print as `suppressed`; counts and limits that are not published are blank.
    """

    def count(x: int | None) -> str:
        return "" if x is None else f"{x:,}"

    def number(x: float | None) -> str:
        return "" if x is None else f"{x:.1f}"

    rows = [
        (
            r["indicator_id"],
            r["indicator_name"],
            count(r["numerator"]),
            count(r["denominator"]),
            "suppressed" if r["value"] is None else number(r["value"]),
            r["unit"] or "",
            "" if r["lower_95"] is None else f"{number(r['lower_95'])} to {number(r['upper_95'])}",
        )
        for r in table.iter_rows(named=True)
    ]
    header = ("id", "indicator", "numerator", "denominator", "value", "unit", "95% CI")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    right = {2, 3, 4}  # numbers align right

    def line(row: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        return ("  " + "  ".join(cells)).rstrip()

    return [line(header), *(line(row) for row in rows)]


def cmd_run(args: argparse.Namespace) -> int:
    return run_pipeline(Path(args.config))


def cmd_demo(args: argparse.Namespace) -> int:
    from diewell.synth import synthesize

    demo = Path(args.dir).resolve()
    for generated in ("landing", "archive", "rejected", "warehouse", "outputs"):
        shutil.rmtree(demo / generated, ignore_errors=True)
    log.info(
        "demo: generating a synthetic ICS of %s people over %d years in %s",
        f"{args.population:,}",
        args.years,
        demo,
    )
    config_path = synthesize(
        demo, seed=args.seed, population=args.population, years=args.years, progress=_synth_progress
    )
    return run_pipeline(config_path)


def cmd_report(args: argparse.Namespace) -> int:
    from diewell.publish import CURRENT
    from diewell.report import render_report

    if args.release:
        release = Path(args.release)
    else:
        release = load_config(args.config).outputs / CURRENT
    if not (release / "manifest.json").is_file():
        print(f"diewell: no published release at {release}", file=sys.stderr)
        return 1
    out = render_report(release.resolve(), Path(args.out) if args.out else None)
    print(f"wrote {out}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from diewell.docs import write_pages

    for path in write_pages():
        print(f"wrote {path}")
    return 0


def cmd_reprocess(args: argparse.Namespace) -> int:
    from diewell.reprocess import queue_quarantined, queue_rejected

    config = load_config(args.config)
    if args.accept_low_volume and not (args.rejected and args.file):
        print(
            "diewell: --accept-low-volume needs --rejected and each file named with --file "
            "(only deliveries the provider has confirmed complete)",
            file=sys.stderr,
        )
        return 2
    if args.rejected:
        done = queue_rejected(config, args.file or None, accept_low_volume=args.accept_low_volume)
    else:
        done = queue_quarantined(config, args.file or None)
    for q in done:
        print(f"  {q.action:<8} {q.file_name}: {q.detail}")
    queued = sum(q.action == "queued" for q in done)
    print(
        f"{queued} file(s) queued in {config.landing}; the next run (diewell run --config "
        f"{args.config}) validates and loads them, replacing any earlier load of the same period"
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="diewell", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run the pipeline for an ICS configuration")
    p.add_argument("--config", required=True, help="path of the ICS configuration file (config.md)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("synth", help="write a synthetic ICS: extract files and config")
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--population", type=int, default=1_000_000)
    p.add_argument("--years", type=int, default=3)
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("demo", help="generate the embedded demo ICS and run the pipeline on it")
    p.add_argument("--dir", default="demo", help="folder for the demo ICS (default: ./demo)")
    p.add_argument("--seed", type=int, default=20261123)
    p.add_argument("--population", type=int, default=1_000_000)
    p.add_argument("--years", type=int, default=3)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "reprocess",
        help="queue rejected files, or files with quarantined rows, for the next run",
    )
    p.add_argument("--config", required=True, help="path of the ICS configuration file")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument(
        "--rejected", action="store_true", help="move rejected files back into the landing folder"
    )
    which.add_argument(
        "--quarantined",
        action="store_true",
        help="re-validate archived files that had quarantined rows (replaces their earlier load)",
    )
    p.add_argument("--file", action="append", help="only this file name (repeatable)")
    p.add_argument(
        "--accept-low-volume",
        action="store_true",
        help="with --rejected --file NAME: load a file rejected as volume_drop without that rule, "
        "once the provider has confirmed it is complete",
    )
    p.set_defaults(func=cmd_reprocess)

    p = sub.add_parser(
        "report",
        help="render the board report (one self-contained HTML page) of a published release",
        description="Render the 'Die well' report from a release's published files only. "
        "Example: diewell report --config ics/diewell.yaml --out report.html",
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="the ICS configuration: report its current release")
    where.add_argument("--release", help="a release folder (outputs/releases/<id>)")
    p.add_argument("--out", help="where to write the page (default: report.html in the release)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("docs", help="regenerate the generated documentation pages in docs/")
    p.set_defaults(func=cmd_docs)

    args = parser.parse_args(argv)
    private_umask()  # identifiable data is the service account's alone (diewell/permissions.py)
    _setup_logging()
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"diewell: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
