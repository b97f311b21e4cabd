"""diewell's command line: run the palliative and end-of-life care pipeline for an ICS, check
delivered files before they are sent or loaded, and see what is waiting and what ran.

Each command has its own help: diewell COMMAND --help."""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

from diewell.config import ConfigError, load_config
from diewell.permissions import private_umask
from diewell.transforms.sender_text import sender_logger

if TYPE_CHECKING:
    import polars as pl

log = sender_logger("diewell")
HELP_WIDTH = 88  # a command's description is wrapped to this width in its --help
STATUS_MESSAGE_CHARS = 300  # of a failed run's message, shown by diewell status

# Exit codes (README "Running it"): a run that has nothing to publish yet still ends EXIT_OK.
EXIT_OK = 0
EXIT_REJECTED = 1  # diewell check: a file would be rejected
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


INGEST_PROGRESS = re.compile(r"^ingest: (\d+)/(\d+) files")  # pipeline.ingest's progress lines


class IngestProgressBar(logging.Handler):
    """A progress bar on the terminal, driven by the pipeline's "ingest: n/N files" log lines.

    The flow's log lines stay as they are (they are the plain progress when output is not a
    terminal, and they reach Prefect's run logs); on a terminal this draws the bar beside them.
    """

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn

        self.progress = Progress(
            "ingest files",
            BarColumn(),
            TaskProgressColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            auto_refresh=False,  # drawn as each progress line arrives, not by a thread
        )
        self.task = None

    def emit(self, record: logging.LogRecord) -> None:
        found = INGEST_PROGRESS.match(record.getMessage())
        if not found:
            return
        done, total = int(found[1]), int(found[2])
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task("ingest", total=total)
        self.progress.update(self.task, completed=done, total=total, refresh=True)
        if done >= total:
            self.progress.stop()
            self.task = None


def _show_progress_bar() -> IngestProgressBar | None:
    """Attach the ingest progress bar to the 'diewell' logger when stderr is a terminal."""
    if not sys.stderr.isatty():
        return None
    bar = IngestProgressBar()
    logging.getLogger("diewell").addHandler(bar)
    for handler in logging.getLogger().handlers:  # the bar replaces the plain lines on screen
        handler.addFilter(_not_ingest_progress)
    return bar


def _not_ingest_progress(record: logging.LogRecord) -> bool:
    return INGEST_PROGRESS.match(record.getMessage()) is None


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
    return run_pipeline(Path(args.config), publish=not args.no_publish, rebuild=args.rebuild)


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
    from diewell.release.publish import CURRENT
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


def _last_run(warehouse_path: Path) -> str:
    """The last run recorded in the analysts' warehouse file (opened read-only), in words."""
    import duckdb

    from diewell.warehouse import connect

    if not warehouse_path.is_file():
        return "none yet (there is no warehouse: the first run creates it)"
    try:
        con = connect(warehouse_path, read_only=True)
    except duckdb.Error:
        return "not readable now (a run has the warehouse open); try again when it finishes"
    try:
        row = con.execute(
            "SELECT run_id, started_at, finished_at, status, files_loaded, files_rejected, "
            "files_unchanged, rows_loaded, rows_quarantined, message FROM meta_runs "
            "ORDER BY started_at DESC LIMIT 1"
        ).fetchone()
    except duckdb.Error:
        return "none yet (the warehouse has no run history)"
    finally:
        con.close()
    if row is None:
        return "none yet"
    run_id, started, finished, status, loaded, rejected, unchanged, rows, held, message = row
    text = f"{run_id}, started {started:%Y-%m-%d %H:%M:%S} UTC: {status}"
    if finished is not None:
        text += f" at {finished:%Y-%m-%d %H:%M:%S} UTC"
    if status == "completed":
        text += (
            f"; files {loaded or 0} loaded, {unchanged or 0} unchanged, {rejected or 0} "
            f"rejected; rows {rows or 0:,} loaded, {held or 0:,} quarantined"
        )
    elif message:
        text += f"; {message[:STATUS_MESSAGE_CHARS]}"
    return text


def _current_release(outputs: Path) -> str:
    from diewell.release.publish import CURRENT, MANIFEST_FILE

    manifest = outputs / CURRENT / MANIFEST_FILE
    if not manifest.is_file():
        return "none published yet"
    about = json.loads(manifest.read_text(encoding="utf-8"))
    return f"{about.get('run_id')}, created {about.get('created_at')}"


def _lock_holder(config) -> str:
    """Who holds the writer lock, read without taking it (flows/support.py one_writer)."""
    import fcntl

    from diewell.flows.support import writer_lock_path

    path = writer_lock_path(config)
    if not path.is_file():
        return "nobody (no run has held it yet)"
    with path.open("r", encoding="utf-8") as f:
        try:  # a shared lock granted means no run holds the exclusive one; release it at once
            fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
            return "nobody: no run is writing the warehouse"
        except BlockingIOError:
            pass
        try:
            who = json.loads(f.read() or "{}")
        except ValueError:
            who = {}
    if not who:
        return "a run (holder unknown)"
    return (
        f"run {who.get('run_id')}, pid {who.get('pid')} on {who.get('host')}, "
        f"since {who.get('started')}"
    )


def cmd_status(args: argparse.Namespace) -> int:
    from diewell.flows.artifacts import survey_landing

    config = load_config(args.config)
    survey = survey_landing(config)
    waiting = sum(survey.by_extract.values()) + sum(survey.name_problems.values())
    print(f"ICS: {config.ics_name}")
    print(f"Waiting in landing: {waiting} file(s)")
    for extract, n in sorted(survey.by_extract.items()):
        print(f"  {extract}: {n}")
    for rule, n in sorted(survey.name_problems.items()):
        print(f"  names a run will reject ({rule}): {n}")
    print(f"Last run: {_last_run(config.warehouse)}")
    print(f"Current release: {_current_release(config.outputs)}")
    print(f"Writer lock: {_lock_holder(config)}")
    return EXIT_OK


def _command(sub, name: str, summary: str, description: str, example: str, func):
    """A sub-command with its one-line summary, a sentence describing it and an example."""
    p = sub.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, HELP_WIDTH),
        epilog=f"Example: {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.set_defaults(func=func)
    return p


CONFIG_HELP = "the ICS configuration file (docs/CONFIGURATION.md), e.g. ics/diewell.yaml"


def _synthetic_options(p) -> None:
    p.add_argument(
        "--seed", type=int, default=20261123, help="random seed: the same seed, the same ICS"
    )
    p.add_argument(
        "--population",
        type=int,
        default=1_000_000,
        help="people registered with the ICS's practices (default: 1,000,000)",
    )
    p.add_argument("--years", type=int, default=3, help="years of deliveries (default: 3)")


def build_parser() -> argparse.ArgumentParser:
    from diewell import __version__

    parser = argparse.ArgumentParser(
        prog="diewell",
        description=__doc__,
        epilog="Example: diewell run --config ics/diewell.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"diewell {__version__}", help="print the version"
    )
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar="COMMAND",
        help="what to do (each command has its own --help)",
    )

    p = _command(
        sub,
        "run",
        "run the pipeline for an ICS configuration",
        "Validate and load what waits in landing, build the warehouse, compute the indicators "
        "and publish a disclosure-controlled release.",
        "diewell run --config ics/diewell.yaml --no-publish",
        cmd_run,
    )
    p.add_argument("--config", required=True, help=CONFIG_HELP)
    p.add_argument(
        "--no-publish",
        action="store_true",
        help="refresh the warehouse and compute, but publish no release (as the nightly run)",
    )
    p.add_argument(
        "--rebuild",
        action="store_true",
        help="build and compute even when nothing they read has changed",
    )

    p = _command(
        sub,
        "check",
        "check delivered files against the contract, without a warehouse or a key",
        "Say, for each file, whether a run would load it (and which rows it would hold back, "
        "and why) or reject it (and why), with the same rules and reasons as a run; nothing "
        "is moved or loaded. Exits 1 when any file would be rejected.",
        "diewell check deaths_QXX_20241231.csv --config ics/diewell.yaml",
        cmd_check,
    )
    p.add_argument(
        "files",
        nargs="+",
        metavar="FILE",
        help="a delivered file, or a folder of them (each named as the contract says)",
    )
    p.add_argument(
        "--config",
        help=CONFIG_HELP + "; with it the sender's registration and the file size limit are "
        "checked too",
    )
    p.add_argument(
        "--page",
        metavar="HTML",
        help="also write the data quality page a run would give these files (one "
        "self-contained HTML file, no network needed), for example check.html",
    )

    p = _command(
        sub,
        "status",
        "what waits in landing, the last run, the current release and the writer lock",
        "Show what waits in the landing folder, the last run and how it ended, the current "
        "release and which run (if any) holds the warehouse; nothing is changed.",
        "diewell status --config ics/diewell.yaml",
        cmd_status,
    )
    p.add_argument("--config", required=True, help=CONFIG_HELP)

    p = _command(
        sub,
        "synth",
        "write a synthetic ICS: extract files and config",
        "Write a synthetic ICS (its configuration and a landing folder of extract files) with "
        "no real person in it, for trying the pipeline out.",
        "diewell synth --out synthetic-ics --population 50000 --years 2",
        cmd_synth,
    )
    p.add_argument("--out", required=True, help="the folder to write the synthetic ICS into")
    _synthetic_options(p)

    p = _command(
        sub,
        "demo",
        "generate the embedded demo ICS and run the pipeline on it",
        "Generate a synthetic ICS in a folder (replacing an earlier demo there) and run the "
        "whole pipeline on it, publication included.",
        "diewell demo --dir demo --population 20000 --years 2",
        cmd_demo,
    )
    p.add_argument("--dir", default="demo", help="folder for the demo ICS (default: ./demo)")
    _synthetic_options(p)

    p = _command(
        sub,
        "reprocess",
        "queue rejected files, or files with quarantined rows, for the next run",
        "Put rejected files back into landing, or mark archived files with quarantined rows "
        "for validation again, so the next run loads them.",
        "diewell reprocess --config ics/diewell.yaml --rejected --file deaths_QXX_20241231.csv",
        cmd_reprocess,
    )
    p.add_argument("--config", required=True, help=CONFIG_HELP)
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

    p = _command(
        sub,
        "report",
        "render the board report (one self-contained HTML page) of a published release",
        "Render the 'Die well' report from a release's published files only.",
        "diewell report --config ics/diewell.yaml --out report.html",
        cmd_report,
    )
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="the ICS configuration: report its current release")
    where.add_argument("--release", help="a release folder (outputs/releases/<id>)")
    p.add_argument("--out", help="where to write the page (default: report.html in the release)")

    from diewell.expectations import suites_dir

    p = _command(
        sub,
        "suites",
        "check the expectation suites are in canonical form, or rewrite them so",
        "Compare each suite file (expectations/suites/<extract>.json, the one hand-edited "
        "source of an extract's rules) with the canonical form its contract builds, and say "
        "which differ and why; exits 1 when any does.",
        "diewell suites --check",
        cmd_suites,
    )
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument(
        "--check",
        action="store_true",
        help="list each suite file not in canonical form, with the reason, and exit 1 if any "
        "(for example: diewell suites --check)",
    )
    mode.add_argument(
        "--write",
        action="store_true",
        help="rewrite the suite files in canonical form and say which changed (for example: "
        "diewell suites --write)",
    )
    p.add_argument(
        "--folder",
        default=str(suites_dir()),
        help="the folder of suite files (default: the project's expectations/suites, or "
        "$DIEWELL_SUITES_DIR); for example: diewell suites --check --folder my-suites",
    )

    _command(
        sub,
        "docs",
        "regenerate the generated documentation pages in docs/",
        "Write the documentation pages generated from the contract (the extracts' columns "
        "and rules) into docs/.",
        "diewell docs",
        cmd_docs,
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    private_umask()  # identifiable data is the service account's alone (diewell/permissions.py)
    _setup_logging()
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"diewell: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
