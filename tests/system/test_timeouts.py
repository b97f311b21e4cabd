"""Every flow has a time-out, and a run that goes over it lets go of the warehouse (issue 11, 12).

A refresh stuck on a read (a dead network share) used to hold the one-writer lock for ever.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time

import pytest
from prefect import flow, task

from diewell.config import load_config
from diewell.flows import support
from tests.conftest import REPO, TinyIcs

PROVIDERS = [{"code": "QTT", "name": "ICB", "extracts": ["deaths"]}]
TINY_TIMEOUT = 2  # seconds
BLOCKS_FOR = 120  # seconds: far longer than the time-out


@pytest.fixture(scope="module")
def prefect_harness():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@task
def stuck_read() -> None:
    """Stands for a read that never returns."""
    time.sleep(BLOCKS_FOR)


@flow(timeout_seconds=TINY_TIMEOUT)
def writer_that_hangs(config_path: str) -> None:
    with support.one_writer(load_config(config_path), "hanging-run"):
        stuck_read()


def test_a_flow_over_its_timeout_ends_timed_out_and_releases_the_writer_lock(
    tmp_path, prefect_harness
):
    ics = TinyIcs(tmp_path / "ics", PROVIDERS)
    started = time.monotonic()
    state = writer_that_hangs(str(ics.config_path), return_state=True)
    took = time.monotonic() - started
    assert state.name == "TimedOut" and state.is_failed()
    assert took < BLOCKS_FOR / 2
    lock = support.writer_lock_path(load_config(ics.config_path))
    with lock.open("a") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no BlockingIOError


def flow_timeouts(**env: str) -> list[str]:
    """The refresh and pull flows' timeout_seconds as a fresh process imports them."""
    code = (
        "from diewell.flows.refresh import refresh\nfrom diewell.flows.pull import pull\n"
        "print(refresh.timeout_seconds, pull.timeout_seconds)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(REPO),
            "PREFECT_HOME": os.environ["PREFECT_HOME"],
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.split()


def test_every_flow_has_a_timeout_set_where_the_worker_runs():
    assert flow_timeouts() == ["14400.0", "1800.0"]  # refresh 4 h, pull 30 min
    assert flow_timeouts(
        DIEWELL_REFRESH_TIMEOUT_SECONDS="7200", DIEWELL_PULL_TIMEOUT_SECONDS="600"
    ) == ["7200.0", "600.0"]
