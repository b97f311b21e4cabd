"""A real Prefect server, the diewell-process pool, prefect.yaml deployed and workers: for the
integration tests that drive the deployments as a data engineer does (test_deployments.py,
test_automations.py, test_region.py), and for benchmarks/region.py.

`Stack` runs a Prefect 3.8.8 server with its own PREFECT_HOME and SQLite database on a free
loopback port (no scheduler: the tests trigger every run), creates the pool, starts process
workers, triggers and waits for runs through the REST API.

`deployed_stack` starts a Prefect server (its own PREFECT_HOME and SQLite database, on a free
loopback port), creates the `diewell-process` work pool, runs `prefect deploy --all
--no-prompt` from the repository's prefect.yaml and starts a process worker from another
folder (so the runs find the code only through the pull step and DIEWELL_HOME). Everything
started here is stopped here: the pool is paused first (a 3.8.8 worker can still pick up a
run after its first SIGTERM), then the worker and the server are stopped by their process
ids, killed if they do not stop in time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from uuid import UUID

import httpx
import pytest
import yaml

from tests.conftest import REPO

POOL = "diewell-process"
PREFECT = str(Path(sys.executable).with_name("prefect"))
RUN_TIMEOUT = 300  # seconds for one flow run, pick-up included
START_TIMEOUT = 120  # seconds for the server to answer
# A Prefect server answers 503 when its SQLite database was busy (the transaction is rolled
# back, so the request may be sent again), 429 and 502 when it is overloaded: Prefect's own
# client retries these (prefect.client.base.PrefectHttpxAsyncClient), and so does the tests'.
RETRY_STATUSES = frozenset({429, 502, 503})
RETRY_ATTEMPTS = 8
RETRY_FIRST_WAIT = 0.25  # seconds, doubled each time, at most RETRY_LONGEST_WAIT
RETRY_LONGEST_WAIT = 4.0


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


class RetryingTransport(httpx.BaseTransport):
    """Sends a request again, after a growing wait (or the server's Retry-After), while the
    server answers with a status in RETRY_STATUSES; the last answer is returned as it is."""

    def __init__(
        self,
        inner: httpx.BaseTransport | None = None,
        attempts: int = RETRY_ATTEMPTS,
        first_wait: float = RETRY_FIRST_WAIT,
    ):
        self.inner = inner or httpx.HTTPTransport()
        self.attempts = attempts
        self.first_wait = first_wait

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for attempt in range(1, self.attempts + 1):
            response = self.inner.handle_request(request)
            if response.status_code not in RETRY_STATUSES or attempt == self.attempts:
                return response
            response.read()
            response.close()
            time.sleep(self.wait(attempt, response.headers.get("Retry-After")))
        raise AssertionError("unreachable")  # the loop returns on its last attempt

    def wait(self, attempt: int, retry_after: str | None) -> float:
        try:
            asked = float(retry_after) if retry_after else None
        except ValueError:  # an HTTP date: not sent by a Prefect server
            asked = None
        if asked is not None and asked >= 0:
            return min(asked, RETRY_LONGEST_WAIT)
        return min(self.first_wait * 2 ** (attempt - 1), RETRY_LONGEST_WAIT)

    def close(self) -> None:
        self.inner.close()


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
        self.http = httpx.Client(base_url=self.api, timeout=30, transport=RetryingTransport())

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

    def scheduled_run(self, name: str, **parameters) -> UUID:
        """A run as Prefect's scheduler makes one, due now: tagged `auto-scheduled` before
        the deployment's tags (the scheduler is off on this server)."""
        deployment = self.deployment(name)
        response = self.http.post(
            f"/deployments/{deployment['id']}/create_flow_run",
            json={"parameters": parameters, "tags": ["auto-scheduled", *deployment["tags"]]},
        )
        response.raise_for_status()
        return UUID(response.json()["id"])

    def run(self, run_id: UUID) -> dict:
        response = self.http.get(f"/flow_runs/{run_id}")
        response.raise_for_status()
        return response.json()

    def run_processes(self, run_id: UUID) -> list[int]:
        """The processes our worker started for a flow run (the worker's descendants whose
        environment names the run), by process id."""
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        worker = next(p for p in self.processes if "worker" in p.args)
        found, todo = [], list(children.get(worker.pid, []))
        while todo:
            pid = todo.pop()
            todo.extend(children.get(pid, []))
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            except OSError:
                continue
            if f"PREFECT__FLOW_RUN_ID={run_id}".encode() in environ:
                found.append(pid)
        return found

    def wait(self, run_id: UUID) -> dict:
        deadline = time.monotonic() + RUN_TIMEOUT
        while time.monotonic() < deadline:
            try:
                run = self.http.get(f"/flow_runs/{run_id}").json()
            except httpx.TimeoutException:  # a server busy with the run: ask at the next poll
                time.sleep(1)
                continue
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

    def serve(self, env: dict | None = None) -> None:
        """Start the server (`env` adds to its environment), wait until it answers, and
        create the process work pool."""
        server = self.start(
            ["server", "start", "--host", "127.0.0.1", "--port", str(self.port)],
            "server.log",
            cwd=self.root,
            env=env,
        )
        self.wait_healthy(server)
        self.cli("work-pool", "create", POOL, "--type", "process")

    def worker(self, name: str, env: dict | None = None, *args: str) -> subprocess.Popen:
        """A process worker of the pool, started from a folder of its own (not the clone)."""
        cwd = self.root / f"{name}-cwd"
        cwd.mkdir()
        return self.start(
            ["worker", "start", "--pool", POOL, "--name", name, *args],
            f"{name}.log",
            cwd=cwd,
            env=env,
        )

    def close(self) -> None:
        self.pause_pool()
        for process in reversed(self.processes):  # the worker first, the server last
            stop(process)
        for out in self.outputs:
            out.close()
        self.http.close()


def region_deployments(configs: dict[str, Path]) -> tuple[dict, list[dict]]:
    """prefect.yaml's regional deployment, and a publication deployment per ICS made from its
    `monthly-publication` as docs/OPERATIONS.md ("Running a region") says: named
    `ics-<code>`, with that ICS's config, publishing, and no schedule (the regional run
    starts it). `configs`: ICS code -> its config file."""
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    by_name = {d["name"]: d for d in spec["deployments"]}
    monthly = {k: v for k, v in by_name["monthly-publication"].items() if k != "schedules"}
    per_ics = [
        {
            **monthly,
            "name": f"ics-{code.lower()}",
            "parameters": {"config_path": str(config), "publish": True},
        }
        for code, config in configs.items()
    ]
    return by_name["regional-publication"], per_ics


def write_prefect_file(path: Path, deployments: list[dict]) -> Path:
    """prefect.yaml with `deployments` in place of its own."""
    spec = yaml.safe_load((REPO / "prefect.yaml").read_text(encoding="utf-8"))
    spec["deployments"] = deployments
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def write_region_config(path: Path, name: str, codes: list[str]) -> Path:
    """A region configuration (region Y60) of the ICSs `codes`: each run by its deployment
    `diewell-refresh/ics-<code>`, its outputs in `<code>/outputs` beside the file."""
    path.write_text(
        yaml.safe_dump(
            {
                "region": {"code": "Y60", "name": name},
                "outputs": "region-outputs",
                "ics": [
                    {"deployment": f"diewell-refresh/ics-{c.lower()}", "outputs": f"{c}/outputs"}
                    for c in codes
                ],
            }
        ),
        encoding="utf-8",
    )
    return path


@contextmanager
def deployed_stack(
    root: Path, config: Path, server_env: dict | None = None, worker_env: dict | None = None
) -> Iterator[Stack]:
    """The server, the pool, prefect.yaml deployed with `config` as every deployment's
    config_path, and a worker; `server_env` and `worker_env` add to the environment of the
    server and of the worker (and so of the runs)."""
    if problem := server_dependencies_problem():
        pytest.fail(problem)
    stack = Stack(root)
    try:
        stack.serve(server_env)
        # deployed from the clone; DIEWELL_CONFIG becomes every deployment's config_path, and
        # DIEWELL_HOME is left for the worker's environment to say where the clone is
        stack.cli("--no-prompt", "deploy", "--all", cwd=REPO, env={"DIEWELL_CONFIG": str(config)})
        stack.worker("test-worker", {"DIEWELL_HOME": str(REPO), **(worker_env or {})})
        yield stack
    finally:
        stack.close()
