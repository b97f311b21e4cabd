"""What the flows need to run safely, apart from the data itself.

- `checked_config`: the configuration and its secrets, or a failure a person can act on.
- `one_writer`: only one run writes a warehouse at a time (a Prefect global concurrency limit
  that queues runs, and a lock file beside the warehouse that refuses a second writer however
  it was started).
- `cache_key_*` and `cache_storage`: build and compute are skipped when nothing they read has
  changed since they last ran on this warehouse.
- `on_io_error`: the retry condition: only I/O may be retried.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import logging
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
from prefect.blocks.system import Secret
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.concurrency.sync import concurrency
from prefect.exceptions import ObjectAlreadyExists, ObjectNotFound

from diewell import pipeline, warehouse
from diewell.config import Config, ConfigError, load_config
from diewell.mesh import MeshPullError, MeshPullSummary

log = logging.getLogger("diewell.flows")

CONFIG_ENV = "DIEWELL_CONFIG"  # the config path when a run is given none
WRITER_WAIT_SECONDS = 6 * 60 * 60  # a queued writer gives up after this long
LOCK_NAME = "writer.lock"
CACHE_DIR = "cache"


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
    names = [config.key_env]
    if config.mesh is not None:
        names += [config.mesh.password_env, config.mesh.shared_key_env]
    for name in names:
        if os.environ.get(name):
            continue
        try:
            value = Secret.load(secret_block_name(name)).get()
        except (ValueError, ObjectNotFound):
            continue
        if value:
            os.environ[name] = str(value)
            log.info("%s set from the Prefect Secret block %s", name, secret_block_name(name))


def checked_config(config_path: str | None, *, need_key: bool = True) -> Config:
    """The run's configuration, its secrets loaded; raise ConfigError saying what to fix."""
    path = config_path or os.environ.get(CONFIG_ENV)
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


def writer_limit_name(config: Config) -> str:
    """The global concurrency limit (one slot) that queues the runs writing this ICS's warehouse."""
    return f"diewell-warehouse-{config.ics_code.lower()}"


def _ensure_limit(name: str) -> None:
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(
                    GlobalConcurrencyLimitCreate(name=name, limit=1)
                )
                log.info("created the global concurrency limit %s (one writer)", name)
            except ObjectAlreadyExists:
                pass


@contextmanager
def _lock_file(config: Config) -> Iterator[None]:
    folder = warehouse.working_path(config.warehouse).parent
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    with path.open("a+", encoding="utf-8") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "holder unknown"
            raise WarehouseBusy(
                f"another diewell run is writing the warehouse {config.warehouse} ({holder}); "
                "wait for it to finish. The lock is released when that process ends."
            ) from None
        os.ftruncate(f.fileno(), 0)
        started = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        f.write(f"pid {os.getpid()} on {socket.gethostname()} since {started}\n")
        f.flush()
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextmanager
def _writer_slot(config: Config, name: str) -> Iterator[None]:
    acquired = False
    try:
        with concurrency(name, occupy=1, timeout_seconds=WRITER_WAIT_SECONDS, strict=True):
            acquired = True
            yield
    except TimeoutError as exc:
        if acquired:
            raise
        raise WarehouseBusy(
            f"the warehouse {config.warehouse} was busy with other runs for over "
            f"{WRITER_WAIT_SECONDS // 3600} hours (global concurrency limit {name}); "
            "look for a diewell-refresh run that is stuck"
        ) from exc


@contextmanager
def one_writer(config: Config) -> Iterator[None]:
    """Hold the warehouse for this run: queue behind any other writer, then lock it."""
    name = writer_limit_name(config)
    _ensure_limit(name)
    with _writer_slot(config, name), _lock_file(config):
        yield


@contextmanager
def recorded_run(
    config: Config, summary: pipeline.RunSummary
) -> Iterator[duckdb.DuckDBPyConnection]:
    """The working warehouse, open for one run recorded in meta_runs (completed or failed)."""
    con = pipeline.open_warehouse(config)
    pipeline.start_run(con, config, summary.run_id)
    try:
        yield con
    except BaseException as exc:
        pipeline.finish_run(con, summary, "failed", f"{type(exc).__name__}: {exc}")
        pipeline.close_warehouse(con)
        raise
    pipeline.finish_run(con, summary, "completed")
    pipeline.close_warehouse(con)


# --- caching ---------------------------------------------------------------------------------


def warehouse_inputs(con: duckdb.DuckDBPyConnection, config: Config) -> str:
    """A digest of everything build and compute read, for the warehouse as it stands.

    The release id (the loaded files' checksums, the warehouse SQL and catalogue, the version,
    the disclosure settings), the configuration file, every loaded or superseded file by its
    id (a new load always has a new id), the warehouse's first run (a new or replaced warehouse
    starts afresh), and the DuckDB and Polars versions (the source is in the release id).
    """
    digest = hashlib.sha256()
    digest.update(pipeline.release_id(con, config).encode())
    digest.update(config.path.read_bytes())
    for row in con.execute(
        "SELECT file_id, sha256, status FROM landing_files "
        "WHERE status IN ('loaded', 'superseded') ORDER BY file_id"
    ).fetchall():
        digest.update(repr(row).encode())
    # The run that first wrote this warehouse: by when it started writing, not by its id (an
    # id is made when a flow starts, before it queues for the warehouse, so a run that queued
    # may have the smaller id).
    first_run = "SELECT run_id FROM meta_runs ORDER BY started_at, run_id LIMIT 1"
    digest.update(repr(con.execute(first_run).fetchall()).encode())
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
