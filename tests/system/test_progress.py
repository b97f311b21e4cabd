"""Progress: a bar on a terminal, plain lines (and no terminal escapes) when output is not one.

`diewell demo` on a small synthetic ICS, once under a pseudo-terminal (python's pty module)
and once with its output to pipes. The terminal run is a user's first run on a machine with
no Prefect server: it starts its own temporary one. The piped run uses the test process's
(tests/conftest.shared_prefect_api).
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, shared_prefect_api

DEMO = ["-m", "diewell.cli", "demo", "--population", "1000", "--years", "1", "--dir"]
TIMEOUT_SECONDS = 900
BAR = "━"  # rich's bar
ANSI_ESCAPE = "\x1b["
PLAIN_LINE = re.compile(r"INFO diewell: ingest: (\d+)/(\d+) files \((\d+)%\)")


def _env(tmp_path: Path, prefect_api: str | None = None) -> dict[str, str]:
    """The demo's environment: with no `prefect_api`, the demo starts its own Prefect server."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "100", "TERM": "xterm"}
    env["PREFECT_HOME"] = str(tmp_path / "prefect-home")
    env.pop("PREFECT_API_URL", None)
    if prefect_api:
        env["PREFECT_API_URL"] = prefect_api
    env.pop("NO_COLOR", None)
    return env


def _run_in_pty(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run a command with stdin, stdout and stderr on a pseudo-terminal; its exit code and output."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=REPO)
    os.close(slave)
    chunks = []
    deadline = time.monotonic() + TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 1)
        if ready:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal closed: the command has ended
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", errors="replace")


@pytest.mark.slow
def test_a_terminal_shows_a_progress_bar(tmp_path):
    code, out = _run_in_pty([sys.executable, *DEMO, str(tmp_path / "demo")], _env(tmp_path))
    assert code == 0, out[-3000:]
    assert "ingest files" in out
    assert BAR in out
    assert "100%" in out
    # the bar counts the files: "n/N" with N the files the run found
    total = re.findall(r"(\d+)/(\d+)", out.split("ingest files")[-1])
    assert total and total[-1][0] == total[-1][1]
    assert not PLAIN_LINE.search(out)  # on a terminal the bar replaces the plain lines


@pytest.mark.slow
def test_without_a_terminal_progress_is_plain_lines(tmp_path):
    out = subprocess.run(
        [sys.executable, *DEMO, str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=_env(tmp_path, shared_prefect_api()),
        cwd=REPO,
        timeout=TIMEOUT_SECONDS,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    lines = PLAIN_LINE.findall(out.stderr)
    assert lines, out.stderr[-3000:]
    done, total, percent = lines[-1]
    assert (done, percent) == (total, "100")
    for text in (out.stdout, out.stderr):
        assert ANSI_ESCAPE not in text
        assert BAR not in text
