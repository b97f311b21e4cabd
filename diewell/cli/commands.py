"""The commands of the command line, each a `cmd_<name>(args) -> exit code`."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from diewell.cli.progress import _not_ingest_progress, _show_progress_bar
from diewell.config import load_config
from diewell.transforms.sender_text import sender_logger

if TYPE_CHECKING:
    import polars as pl

log = sender_logger("diewell")

# Exit codes (README "Running it"): a run that has nothing to publish yet still ends EXIT_OK.
EXIT_OK = 0
EXIT_REJECTED = 1  # diewell check: a file would be rejected
EXIT_CONFIG = 2  # the configuration or the key is wrong: fix it and run again
EXIT_WAREHOUSE_BUSY = 3  # another run held the warehouse for longer than the wait allows
EXIT_TIMED_OUT = 4  # the run went over its time-out ($DIEWELL_REFRESH_TIMEOUT_SECONDS)


def _synth_progress(step: str, done: int, total: int) -> None:
    if total and (done == total or done % max(1, total // 10) == 0):
        log.info("synth: %s %d/%d", step, done, total)


def cmd_synth(args: argparse.Namespace) -> int:
    from diewell.synth import synthesize

    out = Path(args.out)
    started = time.perf_counter()
    config_path = synthesize(
        out,
        seed=args.seed,
        population=args.population,
        years=args.years,
        progress=_synth_progress,
        layouts=args.layouts,
    )
    files = sum(1 for _ in (out / "landing").rglob("*") if _.is_file())
    print(f"Synthetic ICS written in {time.perf_counter() - started:.1f} s: {files} extract files")
    print(f"Config: {config_path}")
    return 0


def run_pipeline(config_path: Path, publish: bool = True, rebuild: bool = False) -> int:
    from prefect.flow_engine import FlowRunTimeoutError

    from diewell.flows.refresh import refresh
    from diewell.flows.support import WarehouseBusy
    from diewell.pipeline import headline

    config = load_config(config_path)  # fail early, before Prefect starts, on a bad config
    config.pseudonymisation_key()
    started = time.perf_counter()
    bar = _show_progress_bar()
    try:
        summary = refresh(str(config_path), publish=publish, rebuild=rebuild)
    except WarehouseBusy as exc:
        print(f"diewell: the warehouse is busy: {exc}", file=sys.stderr)
        return EXIT_WAREHOUSE_BUSY
    except FlowRunTimeoutError as exc:
        print(f"diewell: the run went over its time-out and was stopped: {exc}", file=sys.stderr)
        return EXIT_TIMED_OUT
    finally:
        if bar is not None:
            bar.progress.stop()
            logging.getLogger("diewell").removeHandler(bar)
            for handler in logging.getLogger().handlers:
                handler.removeFilter(_not_ingest_progress)
    elapsed = time.perf_counter() - started
    print()
    print(f"Run {summary.run_id} completed in {elapsed:.1f} s")
    print(
        f"  files: {summary.count('loaded')} loaded, {summary.count('unchanged')} unchanged, "
        f"{summary.count('rejected')} rejected"
    )
    filtered = (
        f", {summary.rows_filtered:,} filtered by layouts ("
        + ", ".join(f"{r} {n:,}" for r, n in sorted(summary.filtered_by_reason().items()))
        + ")"
        if summary.rows_filtered
        else ""
    )
    print(
        f"  rows:  {summary.rows_loaded:,} loaded, {summary.rows_quarantined:,} quarantined"
        f"{filtered}"
    )
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
    return run_pipeline(Path(args.config), publish=not args.no_publish, rebuild=args.rebuild)


def cmd_demo(args: argparse.Namespace) -> int:
    from diewell.synth import synthesize

    demo = Path(args.dir).resolve()
    for generated in ("landing", "archive", "rejected", "warehouse", "outputs"):
        shutil.rmtree(demo / generated, ignore_errors=True)
    log.info(
        "demo: generating a synthetic ICS of %s people over %d years in %s (%s layouts)",
        f"{args.population:,}",
        args.years,
        demo,
        args.layouts,
    )
    config_path = synthesize(
        demo,
        seed=args.seed,
        population=args.population,
        years=args.years,
        progress=_synth_progress,
        layouts=args.layouts,
    )
    return run_pipeline(config_path)


def cmd_report(args: argparse.Namespace) -> int:
    from diewell.release.promote import CURRENT
    from diewell.release.report import render_report

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
    from diewell.sources.reprocess import queue_quarantined, queue_rejected

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


def cmd_check(args: argparse.Namespace) -> int:
    from diewell.expectations.check import (
        REGISTRATION_SKIPPED,
        REJECTED,
        check_file,
        expand,
        report_lines,
    )

    config = load_config(args.config) if args.config else None
    if config is None:
        print(f"Note: {REGISTRATION_SKIPPED}.")
    print(
        "Note: volume_drop and duplicate_death need the warehouse and are not checked here; "
        "a run applies them as well.\n"
    )
    checks = [check_file(path, config) for path in expand(Path(p) for p in args.files)]
    for check in checks:
        print("\n".join(report_lines(check)))
    rejected = sum(c.verdict == REJECTED for c in checks)
    if args.page:
        from diewell.expectations.check import write_page

        print(f"\nData quality page: {write_page(checks, Path(args.page))}")
    print(
        f"\n{len(checks)} file(s) checked: {len(checks) - rejected} would load, "
        f"{rejected} would be rejected"
    )
    return EXIT_REJECTED if rejected else EXIT_OK


def cmd_suites(args: argparse.Namespace) -> int:
    from diewell.expectations.gx_suites import check_suites

    folder = Path(args.folder)
    found = check_suites(folder)
    if not found:
        print(f"diewell: no suite files (<extract>.json) in {folder}", file=sys.stderr)
        return EXIT_REJECTED
    unreadable = [f for f in found if f.canonical is None]
    for f in found:
        if f.ok:
            continue
        if args.write and f.canonical is not None:
            f.path.write_text(f.canonical, encoding="utf-8")
            print(f"  rewrote {f.path.name}: {f.reason}")
        else:
            print(f"  {f.path.name}: {f.reason}")
    differing = sum(not f.ok for f in found)
    if args.write:
        print(
            f"{len(found)} suite(s) in {folder}: {differing - len(unreadable)} rewritten in "
            f"canonical form, {len(unreadable)} cannot be read"
        )
        return EXIT_REJECTED if unreadable else EXIT_OK
    print(
        f"{len(found)} suite(s) in {folder}: {len(found) - differing} canonical, "
        f"{differing} not"
        + (" (diewell suites --write rewrites the readable ones)" if differing else "")
    )
    return EXIT_REJECTED if differing else EXIT_OK
