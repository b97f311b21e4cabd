"""`diewell status`: what waits in landing, the last run, the current release, the lock's holder."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from diewell.cli.commands import EXIT_OK
from diewell.config import load_config

if TYPE_CHECKING:
    pass


STATUS_MESSAGE_CHARS = 300  # of a failed run's message, shown by diewell status


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
    from diewell.release.files import MANIFEST_FILE
    from diewell.release.promote import CURRENT

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
