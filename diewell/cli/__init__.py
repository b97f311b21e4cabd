"""diewell's command line: run the palliative and end-of-life care pipeline for an ICS, check
delivered files before they are sent or loaded, and see what is waiting and what ran.

Each command has its own help: diewell COMMAND --help."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import textwrap

from diewell import settings
from diewell.cli.commands import (
    EXIT_CONFIG,
    cmd_check,
    cmd_demo,
    cmd_docs,
    cmd_report,
    cmd_reprocess,
    cmd_run,
    cmd_suites,
    cmd_synth,
)
from diewell.cli.status import cmd_status
from diewell.config import ConfigError
from diewell.permissions import private_umask
from diewell.transforms.sender_text import sender_logger

log = sender_logger("diewell")
HELP_WIDTH = 88  # a command's description is wrapped to this width in its --help


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
    # Prefect shows the diewell loggers in its run logs too, and its temporary local server
    # gets long enough to start on a busy two-core machine (settings.PREFECT_DEFAULTS).
    settings.use_prefect_defaults()


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
    p.add_argument(
        "--layouts",
        choices=("contract", "national"),
        default="contract",
        help="contract: every extract in diewell's own layout (default); national: deaths, "
        "hospital, A&E, community and GP data in their national layouts, pseudonymised "
        "(docs/SOURCES.md)",
    )


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


# Commands that touch neither Prefect nor the warehouse end without the interpreter's teardown
# once their output is flushed: DuckDB's and Arrow's native thread pools, torn down at exit,
# now and then abort the process (SIGABRT, "terminate called without an active exception";
# apache/arrow#34314), which would turn a finished `diewell check` into a crash.
ENDS_WITHOUT_NATIVE_TEARDOWN = frozenset({"check", "suites"})


def entry() -> None:
    """The `diewell` command: main, then the process's end."""
    argv = sys.argv[1:]
    code = main(argv)
    if argv and argv[0] in ENDS_WITHOUT_NATIVE_TEARDOWN:
        sys.stdout.flush()
        sys.stderr.flush()
        logging.shutdown()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
