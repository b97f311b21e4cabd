"""A tiny real ICS and the real `diewell` command line in a subprocess, for operations tests.

`deaths_ics` writes one ICB provider with a deaths extract of a few hand-made decedents;
`diewell` starts `python -m diewell.cli` with the ICS's key, in its own session (so a test
can kill it and everything it started), with a Prefect home of the test's choosing (a
run's cached task results are found by the next run only when they share it) and the test
process's Prefect server;
`run_diewell` runs it to the end and returns what it printed.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import DEATHS_COLUMNS, REPO, TEST_KEY, TinyIcs, nhs, shared_prefect_api

ICB = {"code": "QTT", "name": "ICB", "extracts": ["deaths"]}
DECEDENTS = 12
RUN_TIMEOUT = 300  # seconds: a run of the tiny ICS takes about 15 s


def deaths(n: int = DECEDENTS) -> list[dict]:
    """n deaths from June 2024 at home, of cancer, aged 80 (valid test NHS numbers)."""
    return [
        {
            "nhs_number": nhs(i),
            "date_of_birth": "1944-06-01",
            "date_of_death": (dt.date(2024, 6, 1) + dt.timedelta(days=i)).isoformat(),
            "sex": "2" if i % 2 else "1",
            "underlying_cause_icd10": "C34.9",
            "place_of_death": "home",
            "lsoa_code": "E01000001",
            "gp_practice_code": "A81001",
        }
        for i in range(n)
    ]


def deaths_ics(root: Path, *, delivered: bool = True) -> TinyIcs:
    """One ICB provider; with `delivered`, a year of deaths deliveries in its landing folder
    (January's header only, December's with the deaths), enough for every 12-month period."""
    ics = TinyIcs(root, [ICB])
    if delivered:
        ics.deliver("deaths_QTT_20240131.csv", [], DEATHS_COLUMNS)
        ics.deliver("deaths_QTT_20241231.csv", deaths(), DEATHS_COLUMNS)
    return ics


def cli_env(prefect_home: Path, **extra: str) -> dict[str, str]:
    """The environment of a `diewell` process: the test key, its own Prefect home (its task
    cache) and this test process's Prefect server (tests/conftest.shared_prefect_api)."""
    return {
        **os.environ,
        "DIEWELL_PSEUDO_KEY": TEST_KEY,
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": shared_prefect_api(),
        "PYTHONPATH": str(REPO),
        **extra,
    }


def diewell(*args: str, env: dict[str, str], log: Path) -> subprocess.Popen:
    """Start `diewell ARGS` in its own session, its output (stdout and stderr) into log."""
    return subprocess.Popen(
        [sys.executable, "-m", "diewell.cli", *args],
        cwd=REPO,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def run_diewell(
    *args: str, env: dict[str, str], timeout: float = RUN_TIMEOUT
) -> subprocess.CompletedProcess:
    """Run `diewell ARGS` to its end (at most `timeout` seconds); its exit code and output."""
    return subprocess.run(
        [sys.executable, "-m", "diewell.cli", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
