"""One writer per warehouse, with a lock the kernel releases when its holder dies (issue 11, 7).

A `diewell run` killed with SIGKILL while it writes must not stop the next run: the next one
completes (its time is printed, see `pytest -s`). A run that finds a live holder waits, says
who holds the warehouse (pid, host, run), and gives up clearly after its wait time-out.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import time

import pytest

from diewell.config import load_config
from diewell.flows.support import writer_lock_path
from tests.conftest import REPO
from tests.system.tiny_cli import cli_env, deaths_ics, diewell, run_diewell


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def is_locked(path) -> bool:
    """Whether another process holds the flock on path (tried from this process)."""
    if not path.exists():
        return False
    with path.open("a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        return False


def kill_session(process: subprocess.Popen) -> None:
    """SIGKILL a process we started and everything in its session (its Prefect server)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(timeout=30)


def test_a_run_killed_with_sigkill_does_not_stop_the_next_run(tmp_path):
    ics = deaths_ics(tmp_path / "ics")
    config = load_config(ics.config_path)
    env = cli_env(tmp_path / "prefect-home")  # both runs share one Prefect home and database
    lock = writer_lock_path(config)
    first_log = tmp_path / "first.log"
    first = diewell("run", "--config", str(ics.config_path), env=env, log=first_log)
    try:
        wait_for(
            lambda: str(first.pid) in lock.read_text() if lock.exists() else False,
            180,
            "the first run to take the writer lock",
        )
        assert is_locked(lock)
    finally:
        kill_session(first)  # kill -9 while it holds the warehouse
    assert first.returncode == -signal.SIGKILL

    started = time.monotonic()
    second = run_diewell("run", "--config", str(ics.config_path), env=env)
    took = time.monotonic() - started
    print(f"\nthe run after a kill -9 completed in {took:.1f} s (exit {second.returncode})")
    assert second.returncode == 0, second.stderr[-3000:]
    assert "completed in" in second.stdout
    assert (config.outputs / "current").is_symlink()
    assert not is_locked(lock)


def test_a_live_holder_makes_a_second_run_wait_naming_it_then_give_up(tmp_path):
    ics = deaths_ics(tmp_path / "ics")
    config = load_config(ics.config_path)
    holder_code = (
        "import sys, time\n"
        "from diewell.config import load_config\n"
        "from diewell.flows.support import one_writer\n"
        "with one_writer(load_config(sys.argv[1]), 'holder-run-1'):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(600)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", holder_code, str(ics.config_path)],
        cwd=REPO,
        env=cli_env(tmp_path / "holder-home"),
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        env = cli_env(
            tmp_path / "prefect-home",
            DIEWELL_WRITER_WAIT_TIMEOUT_SECONDS="6",
            DIEWELL_WRITER_WAIT_LOG_SECONDS="2",
        )
        second = run_diewell("run", "--config", str(ics.config_path), env=env)
    finally:
        kill_session(holder)
    out = second.stdout + second.stderr
    waiting = [line for line in out.splitlines() if "waiting for the warehouse" in line]
    assert len(waiting) >= 2  # said again every 2 s while it waited
    assert all(f"pid {holder.pid} " in line and "holder-run-1" in line for line in waiting)
    assert second.returncode == 3, out[-3000:]  # EXIT_WAREHOUSE_BUSY
    (gave_up,) = [
        line for line in second.stderr.splitlines() if line.startswith("diewell: the warehouse")
    ]
    assert gave_up.startswith("diewell: the warehouse is busy: gave up after waiting")
    assert f"pid {holder.pid} " in gave_up
    assert not (config.outputs / "current").exists()  # nothing ran
