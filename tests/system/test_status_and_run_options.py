"""`diewell status` on a real tiny ICS before and after real runs, and `diewell run --no-publish`.

A first run with --no-publish refreshes the warehouse and leaves outputs/current absent; a
second run publishes. Status says what waits in landing, the last run and how it ended, the
current release and who holds the writer lock (read without taking it). Then, with nothing
changed, a plain run reuses the cached build and compute and `--rebuild` runs them again.
"""

from __future__ import annotations

import json
import os
import re
from functools import partial
from pathlib import Path

from diewell.config import load_config
from diewell.flows.support import one_writer
from tests.conftest import diewell_in_process
from tests.system.tiny_cli import cli_env, deaths_ics, run_diewell

TIMEOUT_SECONDS = 600
CACHED = "Finished in state Cached"  # Prefect's line for a task whose cached result was reused


# `diewell ARGS` to its end (tests/system/tiny_cli.run_diewell) with this file's time-out
diewell = partial(run_diewell, timeout=TIMEOUT_SECONDS)


def status_lines(config_path: Path, env: dict[str, str]) -> dict[str, str]:
    """`diewell status` (in this process: it reads the warehouse and starts no server)."""
    out = diewell_in_process("status", "--config", str(config_path), env=env)
    assert out.returncode == 0, out.stderr
    lines = {}
    for line in out.stdout.splitlines():
        key, _, value = line.partition(": ")
        lines[key] = value
    return lines


def test_status_and_a_first_run_without_publication(tmp_path):
    ics = deaths_ics(tmp_path / "ics")  # January header-only, December's 12 deaths
    env = cli_env(tmp_path / "prefect-home")
    config = load_config(ics.config_path)

    before = status_lines(ics.config_path, env)
    assert before["Waiting in landing"] == "2 file(s)"
    assert before["  deaths"] == "2"
    assert before["Last run"].startswith("none yet (there is no warehouse")
    assert before["Current release"] == "none published yet"
    assert before["Writer lock"] == "nobody (no run has held it yet)"

    first = diewell("run", "--config", str(ics.config_path), "--no-publish", env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Nothing published" in first.stdout
    assert not os.path.lexists(config.outputs / "current")

    after = status_lines(ics.config_path, env)
    assert after["Waiting in landing"] == "0 file(s)"
    assert "  deaths" not in after
    assert ": completed at " in after["Last run"]
    assert after["Last run"].endswith(
        "files 2 loaded, 0 unchanged, 0 rejected; rows 12 loaded, 0 quarantined"
    )
    assert after["Current release"] == "none published yet"
    assert after["Writer lock"] == "nobody: no run is writing the warehouse"

    second = diewell("run", "--config", str(ics.config_path), env=env)
    assert second.returncode == 0, second.stderr[-3000:]
    release = (config.outputs / "current").resolve()
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    published = status_lines(ics.config_path, env)
    assert published["Current release"] == f"{release.name}, created {manifest['created_at']}"
    [run_id] = re.findall(r"^Run (\S+) completed", second.stdout, re.MULTILINE)
    assert published["Last run"].startswith(f"{run_id}, started ")
    assert published["Last run"].endswith(
        "files 0 loaded, 0 unchanged, 0 rejected; rows 0 loaded, 0 quarantined"
    )

    with one_writer(config, "run-held-by-the-test"):
        held = status_lines(ics.config_path, env)
    assert held["Writer lock"].startswith(f"run run-held-by-the-test, pid {os.getpid()} on ")
    assert status_lines(ics.config_path, env)["Writer lock"] == (
        "nobody: no run is writing the warehouse"
    )

    # Nothing has changed since: a plain run reuses the cached build and compute, while
    # --rebuild (the flow's rebuild parameter) runs them again.
    again = diewell("run", "--config", str(ics.config_path), env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert CACHED in again.stderr
    rebuilt = diewell("run", "--config", str(ics.config_path), "--rebuild", env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    assert CACHED not in rebuilt.stderr
