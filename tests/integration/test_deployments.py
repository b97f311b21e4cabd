"""The deployments as a data engineer runs them, end to end on this machine.

A real Prefect server (its own PREFECT_HOME and SQLite database, on a free loopback port),
the `diewell-process` work pool, `prefect deploy --all --no-prompt` from the repository's
prefect.yaml, a process worker started from another folder (so the runs find the code only
through the pull step and DIEWELL_HOME), and a run of each deployment on a small synthetic
ICS. Everything started here is stopped here: the pool is paused first (a 3.8.8 worker can
still pick up a run after its first SIGTERM), then the worker and the server are stopped by
their process ids, killed if they do not stop in time.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path
from uuid import UUID

import duckdb
import httpx
import pytest
import yaml

from diewell.config import load_config
from diewell.synth import synthesize
from tests.conftest import REPO

pytestmark = pytest.mark.slow

POOL = "diewell-process"
PREFECT = str(Path(sys.executable).with_name("prefect"))
RUN_TIMEOUT = 300  # seconds for one flow run, pick-up included
START_TIMEOUT = 120  # seconds for the server to answer


def server_dependencies_problem() -> str | None:
    """Prefect 3.8.8's client sends `"limit": null` in some requests (`prefect deploy` reads
    the pool's workers so); FastAPI 0.151 and later answer 422 instead of using the default."""
    fastapi = tuple(int(x) for x in version("fastapi").split(".")[:2])
    if fastapi >= (0, 151):
        return (
            f"fastapi {version('fastapi')} is installed: a Prefect 3.8.8 server on it refuses "
            "`prefect deploy` (422 on 'limit': null). Pin fastapi<0.151 in pyproject.toml."
        )
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(process: subprocess.Popen, grace: float = 15) -> None:
    """SIGTERM our process (and its session: only what it started), then SIGKILL if needed."""
    if process.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        try:
            os.killpg(process.pid, sig)  # the session we started for it: its children too
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Stack:
    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        home = root / "prefect-home"
        home.mkdir()
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api,
            "PREFECT_API_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home}/prefect.db",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_UI_ENABLED": "false",
            # the test triggers every run itself: no scheduled runs may join in
            "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
            # a run queued on the warehouse's concurrency limit asks again within 2 s
            "PREFECT_SERVER_CONCURRENCY_MAXIMUM_CONCURRENCY_SLOT_WAIT_SECONDS": "2",
            "PREFECT_WORKER_QUERY_SECONDS": "2",
        }
        self.env.pop("DIEWELL_PSEUDO_KEY", None)  # the synthetic ICS's key file is used
        self.env.pop("DIEWELL_HOME", None)
        self.processes: list[subprocess.Popen] = []
        self.outputs: list = []
        self.http = httpx.Client(base_url=self.api, timeout=30)

    def start(
        self, args: list[str], log: str, cwd: Path, env: dict | None = None
    ) -> subprocess.Popen:
        out = (self.root / log).open("wb")
        self.outputs.append(out)
        process = subprocess.Popen(
            [PREFECT, *args],
            cwd=cwd,
            env={**self.env, **(env or {})},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.processes.append(process)
        return process

    def cli(self, *args: str, cwd: Path | None = None, env: dict | None = None) -> str:
        done = subprocess.run(
            [PREFECT, *args],
            cwd=cwd or self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def wait_healthy(self, server: subprocess.Popen) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert server.poll() is None, (self.root / "server.log").read_text()
            try:
                if self.http.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        raise TimeoutError((self.root / "server.log").read_text())

    def deployment(self, name: str) -> dict:
        response = self.http.get(f"/deployments/name/{name}")
        response.raise_for_status()
        return response.json()

    def trigger(self, name: str, **parameters) -> UUID:
        deployment = self.deployment(name)
        response = self.http.post(
            f"/deployments/{deployment['id']}/create_flow_run", json={"parameters": parameters}
        )
        response.raise_for_status()
        return UUID(response.json()["id"])

    def wait(self, run_id: UUID) -> dict:
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            run = self.http.get(f"/flow_runs/{run_id}").json()
            state = run.get("state") or {}
            if state.get("type") in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED"):
                return run
            time.sleep(1)
        raise TimeoutError(f"flow run {run_id} not finished in {RUN_TIMEOUT} s:\n{self.logs()}")

    def artifacts(self, run_id: UUID) -> dict[str, dict]:
        response = self.http.post(
            "/artifacts/filter",
            json={"artifacts": {"flow_run_id": {"any_": [str(run_id)]}}, "limit": 50},
        )
        response.raise_for_status()
        return {a["key"]: a for a in response.json()}

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
            for p in sorted(self.root.glob("*.log"))
        )

    def pause_pool(self) -> None:
        try:
            self.http.patch(f"/work_pools/{POOL}", json={"is_paused": True})
        except httpx.HTTPError:
            pass

    def close(self) -> None:
        self.pause_pool()
        for process in reversed(self.processes):  # the worker first, the server last
            stop(process)
        for out in self.outputs:
            out.close()
        self.http.close()


@pytest.fixture(scope="module")
def ics(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("deployed-ics")
    return synthesize(root, seed=11, population=20_000, years=2)


@pytest.fixture(scope="module")
def stack(tmp_path_factory, ics):
    if problem := server_dependencies_problem():
        pytest.fail(problem)
    root = tmp_path_factory.mktemp("prefect-stack")
    stack = Stack(root)
    try:
        server = stack.start(
            ["server", "start", "--host", "127.0.0.1", "--port", str(stack.port)],
            "server.log",
            cwd=root,
        )
        stack.wait_healthy(server)
        stack.cli("work-pool", "create", POOL, "--type", "process")
        # deployed from the clone; DIEWELL_CONFIG becomes every deployment's config_path, and
        # DIEWELL_HOME is left for the worker's environment to say where the clone is
        stack.cli("--no-prompt", "deploy", "--all", cwd=REPO, env={"DIEWELL_CONFIG": str(ics)})
        elsewhere = root / "worker-cwd"
        elsewhere.mkdir()
        stack.start(
            ["worker", "start", "--pool", POOL, "--name", "test-worker"],
            "worker.log",
            cwd=elsewhere,
            env={"DIEWELL_HOME": str(REPO)},
        )
        yield stack
    finally:
        stack.close()


def test_prefect_yaml_deploys_three_scheduled_deployments(stack, ics):
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    assert spec["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ $DIEWELL_HOME }}"}}
    ]
    expected = {
        "diewell-pull/hourly": ("0 8-18 * * 1-5", {"config_path": str(ics)}),
        "diewell-refresh/nightly": ("30 2 * * *", {"config_path": str(ics), "publish": False}),
        "diewell-refresh/monthly-publication": (
            "0 6 15 * *",
            {"config_path": str(ics), "publish": True},
        ),
    }
    for name, (cron, parameters) in expected.items():
        deployment = stack.deployment(name)
        assert deployment["work_pool_name"] == POOL
        assert deployment["parameters"] == parameters
        [schedule] = [s["schedule"] for s in deployment["schedules"]]
        assert (schedule["cron"], schedule["timezone"]) == (cron, "Europe/London")
        # the clone is found where the worker runs, not where someone deployed from
        assert deployment["pull_steps"] == spec["pull"]
        assert deployment["global_concurrency_limit"]["limit"] == 1
        assert "PASSWORD" not in str(deployment).upper()


def test_hourly_pull_reports_what_waits_and_writes_nothing(stack, ics):
    config = load_config(ics)
    waiting = sorted(p.name for p in config.landing.rglob("*") if p.is_file())
    run = stack.wait(stack.trigger("diewell-pull/hourly"))
    assert run["state"]["type"] == "COMPLETED", stack.logs()
    assert sorted(p.name for p in config.landing.rglob("*") if p.is_file()) == waiting
    assert not config.warehouse.exists()
    summary = stack.artifacts(run["id"])[f"diewell-pull-{config.ics_code.lower()}"]["data"]
    assert f"{len(waiting)} file(s) in" in summary
    assert "No MESH mailbox is configured" in summary


def test_nightly_and_monthly_runs_take_turns_and_publish(stack, ics):
    config = load_config(ics)
    code = config.ics_code.lower()
    nightly = stack.trigger("diewell-refresh/nightly")
    monthly = stack.trigger("diewell-refresh/monthly-publication")
    runs = {"nightly": stack.wait(nightly), "monthly": stack.wait(monthly)}
    for run in runs.values():
        assert run["state"]["type"] == "COMPLETED", stack.logs()

    # outputs: landing emptied into the archive, analysts' warehouse, a published release
    assert not [p for p in config.landing.rglob("*") if p.is_file()]
    assert any(config.archive.rglob("*.csv"))
    release = (config.outputs / "current").resolve()
    assert (release / "manifest.json").is_file()
    assert list((release / "indicators").rglob("*.parquet"))

    # one writer: the two runs did not overlap in the warehouse
    with duckdb.connect(str(config.warehouse), read_only=True) as con:
        rows = con.execute(
            "SELECT run_id, started_at, finished_at, status FROM meta_runs ORDER BY started_at"
        ).fetchall()
    assert [r[3] for r in rows] == ["completed", "completed"]
    assert rows[0][2] <= rows[1][1]

    # artifacts: summary, headline table and report link; the second run reused the first's work
    notes = {}
    for name, run in runs.items():
        found = stack.artifacts(run["id"])
        summary = found[f"diewell-refresh-{code}"]["data"]
        assert "## Files received" in summary and "## Quarantined rows by rule" in summary
        assert not re.search(r"\b\d{10}\b", summary)  # counts and rules, never NHS numbers
        table = found[f"diewell-headline-{code}"]
        assert table["type"] == "table" and "PD01" in table["data"]
        notes[re.search(r"Run `([^`]+)`", summary)[1]] = (name, summary, found)
    first, second = (notes[r[0]] for r in rows)
    assert "(cached)" in second[1] and "(cached)" not in first[1]
    monthly_found = notes[next(k for k, v in notes.items() if v[0] == "monthly")][2]
    assert f"diewell-reports-{code}" in monthly_found
    assert release.name in monthly_found[f"diewell-headline-{code}"]["description"]


def test_serve_mode_serves_what_prefect_yaml_deploys(monkeypatch):
    from flows.serve import deployments

    monkeypatch.setenv("DIEWELL_CONFIG", "/srv/ics/diewell.yaml")
    monkeypatch.setenv("DIEWELL_REGION_CONFIG", "/srv/region/region.yaml")
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    served = {d.name: d for d in deployments()}
    assert set(served) == {d["name"] for d in spec["deployments"]}
    for d in spec["deployments"]:
        one = served[d["name"]]
        assert one.entrypoint == d["entrypoint"]
        region = d["entrypoint"] == "flows/region.py:regional_refresh"
        assert one.parameters["config_path"] == (
            "/srv/region/region.yaml" if region else "/srv/ics/diewell.yaml"
        )
        assert [(s.schedule.cron, s.schedule.timezone) for s in one.schedules] == [
            (s["cron"], s["timezone"]) for s in d["schedules"]
        ]
        assert one.concurrency_limit == 1


def test_a_missing_key_fails_the_run_with_the_reason(stack, tmp_path):
    bad = tmp_path / "no-key"
    bad.mkdir()
    config = bad / "diewell.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ics": {"code": "QZZ", "name": "No key ICS"},
                "paths": {"landing": "landing", "warehouse": "w/diewell.duckdb", "outputs": "out"},
                "providers": [{"code": "QZZ", "extracts": ["deaths"]}],
                "pseudonymisation": {"key_env": "DIEWELL_TEST_KEY_NOT_SET"},
            }
        ),
        encoding="utf-8",
    )
    run = stack.wait(stack.trigger("diewell-refresh/nightly", config_path=str(config)))
    assert run["state"]["type"] == "FAILED"
    assert "no pseudonymisation key" in run["state"]["message"]
    assert "DIEWELL_TEST_KEY_NOT_SET" in run["state"]["message"]
    assert not (bad / "w").exists()  # failed before touching the warehouse
    shutil.rmtree(bad)
