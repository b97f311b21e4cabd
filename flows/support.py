"""What the flows need to run safely, apart from the data itself.

- `checked_config`: the configuration and its secrets, or a failure a person can act on.
- `one_writer`: only one run writes a warehouse at a time (an flock on `<warehouse>.lock`,
  which the kernel releases when its holder ends, however it ends; a second run waits, saying
  who holds it).
- `cache_key_*` and `cache_storage`: build and compute are skipped when nothing they read has
  changed since they last ran on this warehouse.
- `on_io_error`: the retry condition: only I/O may be retried.
- `task_runner`: where the refresh's tasks run: Prefect's threads, or a Dask cluster's
  workers when `$DIEWELL_DASK_ADDRESS` names its scheduler.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
from prefect.blocks.system import Secret
from prefect.exceptions import ObjectNotFound
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from diewell import settings, warehouse
from diewell.config import Config, ConfigError, load_config
from diewell.release import identity
from diewell.sources.mesh import MeshPullSummary
from diewell.sources.mesh_files import MeshPullError
from diewell.transforms.sender_text import sender_logger
from diewell.warehouse import landing_files

log = sender_logger("diewell.flows")

CONFIG_ENV = settings.CONFIG  # the config path when a run is given none
CACHE_DIR = "cache"

# Every flow has a time-out, so a run stuck on a read (a dead network share, a hung mailbox)
# ends, and with it its hold on the warehouse. Set where the worker runs, in seconds.
REFRESH_TIMEOUT = settings.REFRESH_TIMEOUT
PULL_TIMEOUT = settings.PULL_TIMEOUT
REGION_TIMEOUT = settings.REGION_TIMEOUT  # waits for every ICS's refresh


class WarehouseBusy(RuntimeError):
    """Another run is writing this warehouse."""


# --- configuration and secrets ---------------------------------------------------------------


def secret_block_name(env_var: str) -> str:
    """The Prefect Secret block that may hold an environment variable's value."""
    return env_var.lower().replace("_", "-")


def load_secrets(config: Config) -> None:
    """Fill each unset secret environment variable from the Secret block of the same name.

    The pseudonymisation key (`pseudonymisation.key_env`) and the MESH password and shared
    key: for DIEWELL_PSEUDO_KEY the block is `diewell-pseudo-key`. A variable already set wins;
    a missing block is not an error (the key file, or the check that follows, decides).
    """
    for name in config.secret_env_names():
        if settings.is_set(name):
            continue
        try:
            value = Secret.load(secret_block_name(name)).get()
        except (ValueError, ObjectNotFound):
            continue
        if value:
            settings.set_secret(name, str(value))
            log.info("%s set from the Prefect Secret block %s", name, secret_block_name(name))


def checked_config(config_path: str | None, *, need_key: bool = True) -> Config:
    """The run's configuration, its secrets loaded; raise ConfigError saying what to fix."""
    path = config_path or settings.text(CONFIG_ENV)
    if not path:
        raise ConfigError(
            f"no configuration file: give the run a config_path, or set {CONFIG_ENV} "
            "where the worker runs"
        )
    config = load_config(path)
    load_secrets(config)
    if need_key:
        config.pseudonymisation_key()
    return config


def key_problem(config: Config) -> str | None:
    """Why the pseudonymisation key cannot be read here, or None when it can."""
    try:
        config.pseudonymisation_key()
    except ConfigError as exc:
        return str(exc)
    return None


# --- one writer ------------------------------------------------------------------------------

# The one-writer lock is an flock on `<warehouse>.lock`: the kernel releases it when the holding
# process ends however it ends (even SIGKILL), so a crashed run can never keep it. (A Prefect
# global concurrency slot did not: its lease lived in the temporary Prefect server that died
# with the run, and the next run waited on it for ever.)
LOCK_SUFFIX = ".lock"
LOCK_POLL_SECONDS = 0.5  # how often a waiting run tries the lock again
WAIT_LOG = settings.WRITER_WAIT_LOG  # a waiting run says who holds the lock this often
WAIT_TIMEOUT = settings.WRITER_WAIT_TIMEOUT  # a run waiting for the warehouse then gives up


def writer_lock_path(config: Config) -> Path:
    """The lock file beside the analysts' warehouse file: `<warehouse>.lock`."""
    return config.warehouse.with_name(config.warehouse.name + LOCK_SUFFIX)


def flow_timeout(setting: tuple[str, float]) -> float:
    """A flow's time-out in seconds: the environment variable's value, else the default."""
    return settings.seconds(setting)


DASK_ADDRESS_ENV = settings.DASK_ADDRESS  # a Dask scheduler, such as tcp://10.0.0.5:8786


def task_runner() -> TaskRunner:
    """The refresh flow's task runner: `prefect_dask.DaskTaskRunner` on the cluster whose
    scheduler `$DIEWELL_DASK_ADDRESS` names, else Prefect's threads. Only the validation
    runs there (see ingest.ingest_landing); the loads stay in the flow's process, the one
    writer. The cluster's workers must see the landing folder at the same path."""
    address = settings.text(DASK_ADDRESS_ENV) or ""
    if not address:
        return ThreadPoolTaskRunner()
    from prefect_dask import DaskTaskRunner

    return DaskTaskRunner(address=address)


def _holder(f) -> str:
    f.seek(0)
    try:
        who = json.loads(f.read() or "{}")
    except ValueError:
        who = {}
    if not who:
        return "holder unknown"
    return (
        f"pid {who.get('pid')} on {who.get('host')}, run {who.get('run_id')}, "
        f"since {who.get('started')}"
    )


@contextmanager
def one_writer(
    config: Config,
    run_id: str = "",
    *,
    wait_timeout: float | None = None,
    log_every: float | None = None,
) -> Iterator[None]:
    """Hold the warehouse for this run: wait for the writer lock, naming its holder as it waits.

    The lock is held until the block exits or the process ends. `wait_timeout` (default
    $DIEWELL_WRITER_WAIT_TIMEOUT_SECONDS, else 6 hours) ends the wait with WarehouseBusy;
    `log_every` (default $DIEWELL_WRITER_WAIT_LOG_SECONDS, else 60 s) spaces the waiting lines.
    """
    wait_timeout = wait_timeout or settings.seconds(WAIT_TIMEOUT)
    log_every = log_every or settings.seconds(WAIT_LOG)
    path = writer_lock_path(config)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+", encoding="utf-8") as f:
        started_waiting = time.monotonic()
        next_line = started_waiting
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            waited = time.monotonic() - started_waiting
            if waited >= wait_timeout:
                raise WarehouseBusy(
                    f"gave up after waiting {waited:.0f} s for the warehouse {config.warehouse}: "
                    f"another diewell run is writing it ({_holder(f)}). Let that run finish, "
                    "or stop it; its lock goes with its process."
                )
            if time.monotonic() >= next_line:
                log.warning(
                    "waiting for the warehouse %s: another diewell run is writing it (%s); "
                    "waited %.0f s, giving up after %.0f s",
                    config.warehouse,
                    _holder(f),
                    waited,
                    wait_timeout,
                )
                next_line += log_every
            time.sleep(LOCK_POLL_SECONDS)
        os.ftruncate(f.fileno(), 0)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "run_id": run_id,
            "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        f.write(json.dumps(holder) + "\n")
        f.flush()
        try:
            yield
        finally:
            os.ftruncate(f.fileno(), 0)
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


# --- caching ---------------------------------------------------------------------------------


def warehouse_inputs(con: duckdb.DuckDBPyConnection, config: Config) -> str:
    """A digest of everything build and compute read, for the warehouse as it stands.

    The release id (the loaded files' checksums, the warehouse SQL and catalogue, the version,
    the disclosure settings), the configuration file, every loaded or superseded file by its
    id (a new load always has a new id), the warehouse's first run (a new or replaced warehouse
    starts afresh), and the DuckDB and Polars versions (the source is in the release id).
    """
    digest = hashlib.sha256()
    digest.update(identity.release_id(con, config).encode())
    digest.update(config.path.read_bytes())
    files, first_run = landing_files.history(con)
    for row in files:
        digest.update(repr(row).encode())
    digest.update(repr(first_run).encode())
    digest.update(f"{duckdb.__version__}|{pl.__version__}".encode())
    return digest.hexdigest()[:32]


def _build_key(con: duckdb.DuckDBPyConnection, config: Config) -> str:
    return f"build-{warehouse_inputs(con, config)}"


def _compute_key(con: duckdb.DuckDBPyConnection, config: Config, release_id: str) -> str:
    return f"compute-{warehouse_inputs(con, config)}-{release_id}"


def cache_key_build(context, parameters: dict) -> str:
    return _build_key(parameters["con"], parameters["config"])


def cache_key_compute(context, parameters: dict) -> str:
    return _compute_key(parameters["con"], parameters["config"], parameters["release_id"])


def cache_options(config: Config, rebuild: bool) -> dict:
    """Task options for the cached steps: results beside the warehouse; `rebuild` recomputes."""
    return {"result_storage": cache_storage(config), "refresh_cache": rebuild}


def cache_storage(config: Config) -> Path:
    """Cached results live beside the warehouse's working copy, and go with it."""
    return warehouse.working_path(config.warehouse).parent / CACHE_DIR


def prune_cache(con: duckdb.DuckDBPyConnection, config: Config, release_id: str) -> None:
    """Keep only the cached results of the warehouse as it now stands: the others describe
    states that are gone (loads only ever add files)."""
    keep = {_build_key(con, config), _compute_key(con, config, release_id)}
    folder = cache_storage(config)
    if not folder.is_dir():
        return
    for path in folder.iterdir():
        if path.is_file() and path.name not in keep:
            try:
                path.unlink()
            except OSError as exc:
                log.warning("could not remove the stale cached result %s: %s", path, exc)


# --- retries ---------------------------------------------------------------------------------


def on_io_error(task, task_run, state) -> bool:
    """Retry only failures that may pass on a later try: I/O, time-outs, an unreachable mailbox."""
    try:
        state.result()
    except ConfigError:
        return False
    except (OSError, TimeoutError, MeshPullError):
        return True
    except Exception:
        return False
    return False


def raise_for_mesh(summary: MeshPullSummary | None, problem: str | None) -> None:
    """Fail the run when the mailbox could not be polled or a message could not be taken."""
    if problem:
        raise MeshPullError(f"the MESH mailbox could not be polled: {problem}")
    if summary is not None:
        summary.raise_if_failed()


def outcome(state) -> tuple[object | None, str | None]:
    """(result, None) for a task run that completed; (None, the reason) for one that failed."""
    if state.is_completed():
        return state.result(), None
    exc = state.result(raise_on_failure=False)
    if isinstance(exc, BaseException):
        return None, f"{type(exc).__name__}: {str(exc)[:300]}"
    return None, state.message or state.name
