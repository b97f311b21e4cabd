"""Shared test helpers: a tiny ICS written from literal rows, and valid test NHS numbers."""

from __future__ import annotations

import atexit
import contextlib
import csv
import io
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml

# Keep Prefect's state out of the home folder and quiet, for every test; the folder made
# for it here goes when the test session ends.
if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="diewell-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

from diewell.transforms.nhs_number import check_digits  # noqa: E402

TEST_KEY = "test-key-0123456789abcdef0123456789abcdef"
# The columns of a deaths delivery, in the contract's order (the optional ones a test adds).
DEATHS_COLUMNS = [
    "nhs_number",
    "date_of_birth",
    "date_of_death",
    "sex",
    "underlying_cause_icd10",
    "place_of_death",
    "lsoa_code",
    "gp_practice_code",
]
REPO = Path(__file__).resolve().parents[1]


def nhs(i: int) -> str:
    """The i-th valid NHS number in the 999 test range (never a real patient)."""
    stems = np.arange(999_000_000, 999_000_000 + 12 * (i + 1), dtype=np.int64)
    checks = check_digits(stems)
    valid = stems[checks != 10][i]
    return f"{valid}{check_digits(np.array([valid]))[0]}"


def shared_prefect_api() -> str:
    """The API of this test process's temporary Prefect server, started on first use.

    A `diewell run` with no PREFECT_API_URL starts a temporary Prefect server of its own and
    migrates a fresh database before its flow begins (8-17 s of the run on 2 cores). The tests
    that start `diewell` processes point them here instead: the same temporary server
    Prefect starts for this process's own flows (one per pytest process, so one per xdist
    worker), stopped when the process exits. A test of a user's first run on a machine
    with no server (test_progress's terminal run) leaves PREFECT_API_URL
    unset, so that run starts its own as a user's would.
    """
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()  # once per process; Prefect stops it at exit
    return server.api_url


def diewell_in_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    """`diewell ARGS` run by cli.main in this process: what it prints and logs, and its exit
    code, as a subprocess would give them. `env` replaces the environment for the call; the
    environment, umask, working folder and root logger are put back after. For commands that start no Prefect server."""
    from diewell.cli import main

    out, err = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(err)  # what the command logs, as its stderr would show
    root = logging.getLogger()
    environ, umask, level, here = dict(os.environ), os.umask(0o022), root.level, os.getcwd()
    os.umask(umask)
    if env is not None:
        os.environ.clear()
        os.environ.update(env)
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        os.chdir(cwd or REPO)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*map(str, args)])
    finally:
        os.chdir(here)
        root.removeHandler(handler)
        root.setLevel(level)
        os.umask(umask)
        os.environ.clear()
        os.environ.update(environ)
    return subprocess.CompletedProcess(["diewell", *args], code, out.getvalue(), err.getvalue())


class TinyIcs:
    """An ICS folder written from literal rows: config, landing files, key in the environment."""

    def __init__(
        self, root: Path, providers: list[dict], code: str = "QTT", name: str = "Tiny Test ICS"
    ):
        self.root = root
        self.config_path = root / "diewell.yaml"
        config = {
            "ics": {"code": code, "name": name},
            "paths": {
                "landing": "landing",
                "warehouse": "warehouse/diewell.duckdb",
                "outputs": "outputs",
            },
            "providers": providers,
        }
        root.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        (root / "landing").mkdir(exist_ok=True)

    def deliver(self, name: str, rows: list[dict], columns: list[str] | None = None) -> Path:
        columns = columns or (list(rows[0]) if rows else [])
        path = self.root / "landing" / name
        with path.open("w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return path


@pytest.fixture
def pseudo_key(monkeypatch):
    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", TEST_KEY)
    return TEST_KEY.encode()


# Property tests are derandomised in CI so a run is reproducible.
try:
    from hypothesis import settings

    settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
    settings.register_profile("dev", deadline=None)
    # A nightly or manual run of the fuzz test (tests/integration/sources/test_fuzz_deliveries.py):
    # HYPOTHESIS_PROFILE=nightly, 20,000 examples, fresh randomness each time.
    settings.register_profile("nightly", deadline=None, max_examples=20_000, print_blob=True)
    chosen = os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
    settings.load_profile(chosen)
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass


# --- one synthetic release, shared by every test that only reads it ---------------------------


@pytest.fixture(scope="session")
def synthetic_run(tmp_path_factory):
    """One run of the pipeline on the fixed synthetic ICS (tests/integration/publication/
    synthetic_release.py), published: the warehouse connection, the exact values and the
    release. Made once a session (once a worker under xdist); every test that only reads it
    shares it: the publication tests, the board report's."""
    from tests.integration.publication.synthetic_release import run_synthetic_ics

    saved = os.environ.get("DIEWELL_PSEUDO_KEY")
    run = run_synthetic_ics(tmp_path_factory.mktemp("synthetic") / "ics")
    yield run
    run.con.close()
    if saved is None:
        os.environ.pop("DIEWELL_PSEUDO_KEY", None)
    else:
        os.environ["DIEWELL_PSEUDO_KEY"] = saved


@pytest.fixture(scope="session")
def release(synthetic_run):
    """The release folder of the shared synthetic run."""
    return synthetic_run.release
