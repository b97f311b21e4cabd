"""The run's GX Data Docs, built by a low-priority process started when ingest starts.

Importing GX costs seconds of CPU in a fresh process, whatever the run's size, and ingest
leaves part of the two cores idle. So this process, started with ingest at the lowest CPU
priority (nice 19), imports GX on those idle cycles while the files load, then makes what the
pages need before the run has any result (`validation_report.DataDocsSite`: the suites and
their pages). When ingest has finished, `record_run` hands it the run's findings and waits for
the pages, which `DataDocsSite.build` renders exactly as it would in the run's own process
(the figures: benchmarks/README.md, "The Data Docs' own process"). A run of fewer than 64 MiB
of files builds its pages itself (sources.ingest.DATA_DOCS_APART_FROM_BYTES).

It is the run's process in every other way: the same interpreter, environment (less the
secrets it does not need: the key, the MESH password) and suites (`$DIEWELL_SUITES_DIR` set
to the folder the run reads), none of the run's open files (the warehouse, its writer lock),
and the same umask. Its log lines come back to the run's log.

A failure while building fails the run, with the reason, as one in the run's own process
would; a process that could not start, or that ended before it was given the run, is
replaced by building the pages in the run's process (with a warning), so a report is never
lost to a helper. A run that ends early (a failed load) stops it.

Nothing crosses the pipe that the run's own process would not hold: the findings (masked
values, row numbers, file names escaped for HTML) and the configuration, never the key.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

from diewell import settings
from diewell.transforms.sender_text import sender_logger

if TYPE_CHECKING:
    from diewell.config import Config

log = sender_logger("diewell.validation")

LOWEST_PRIORITY = 19  # nice: a core only when the run leaves one idle
STOP_WAIT_SECONDS = 5


class DataDocsFailed(RuntimeError):
    """The Data Docs process could not build the run's pages; the message says why."""


class DataDocsProcess:
    """A child process that imports GX now and builds the run's Data Docs when asked."""

    def __init__(self) -> None:
        self._child: subprocess.Popen | None = None

    @property
    def pid(self) -> int | None:
        return self._child.pid if self._child is not None else None

    def start(self, config: Config, index_results: int) -> DataDocsProcess:
        """Start the child and give it the site to make ahead (`DataDocsSite(config,
        index_results)`: the suites and their pages), which it does once GX is imported."""
        from diewell.expectations import SUITES_ENV
        from diewell.expectations.contracts import SUITES_DIR

        if not sys.executable:
            return self
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "diewell.expectations.report.data_docs_process"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                close_fds=True,  # never the warehouse, nor the writer's lock
                env=_environment(config) | {SUITES_ENV: str(SUITES_DIR)},
            )
            pickle.dump(("site", config, index_results), self._child.stdin, protocol=5)
            self._child.stdin.flush()
        except OSError as exc:
            log.warning("validation reports: no process of their own (%s); built here", exc)
            self.stop()
        return self

    def build(self, config: Config, run_id: str, validated: list, settings: dict) -> Path:
        """The run's Data Docs (`validation_report.build_data_docs(config, run_id, validated,
        **settings)`), built by the child on the site it made ahead; their index. In this
        process instead if the child is gone before it was given the run."""
        from diewell.expectations.report import validation_report

        child, self._child = self._child, None
        if child is None:
            return validation_report.build_data_docs(config, run_id, validated, **settings)
        try:
            run_settings = {k: v for k, v in settings.items() if k != "index_results"}
            # Plain namespaces, not the run's own classes: the child imports nothing of the
            # parts that call it (no import cycle through pickle).
            plain = [SimpleNamespace(**vars(o)) for o in validated]
            pickle.dump(("run", run_id, plain, run_settings), child.stdin, protocol=5)
            child.stdin.close()
        except (BrokenPipeError, OSError):
            code = _stopped(child, at_once=True)
            log.warning(
                "validation reports: their process ended before the run was ready (exit code "
                "%s); built here instead",
                code,
            )
            return validation_report.build_data_docs(config, run_id, validated, **settings)
        try:
            while True:
                try:
                    kind, *body = pickle.load(child.stdout)
                except EOFError:
                    raise DataDocsFailed(
                        "the validation reports' process ended without finishing (exit code "
                        f"{_stopped(child, at_once=True)}); the next run builds them again from "
                        "the stored results"
                    ) from None
                if kind == "log":
                    level, message = body
                    log.log(level, "%s", message)
                elif kind == "done":
                    return Path(body[0])
                else:  # "failed"
                    raise DataDocsFailed(f"the validation reports were not built: {body[0]}")
        finally:
            _stopped(child, at_once=False)

    def stop(self) -> None:
        """End the child if it is still running (a run that ended before its report)."""
        child, self._child = self._child, None
        if child is not None:
            _stopped(child, at_once=True)


def _environment(config: Config) -> dict[str, str]:
    """The run's environment without its secrets (the key, the MESH password): the pages
    need none of them."""
    secrets = set(config.secret_env_names())
    return settings.without(secrets)


def _stopped(child: subprocess.Popen, at_once: bool) -> int | None:
    """Close the child's pipes and wait for it to end, ending it `at_once` or if it has not
    ended within STOP_WAIT_SECONDS (no process is left behind); its exit code."""
    for pipe in (child.stdin, child.stdout):
        try:
            pipe.close()
        except OSError:
            pass
    if child.poll() is None and not at_once:
        try:
            child.wait(STOP_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            pass
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(STOP_WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return child.returncode


@contextmanager
def data_docs_process(
    config: Config, index_results: int, wanted: bool
) -> Iterator[DataDocsProcess | None]:
    """A started DataDocsProcess for the `with` block when `wanted`, else None; stopped at
    the end of the block whatever happens."""
    if not wanted:
        yield None
        return
    process = DataDocsProcess().start(config, index_results)
    try:
        yield process
    finally:
        process.stop()


# ---------------------------------------------------------------------------------------------
# The child


class _Forward(logging.Handler):
    """Each log record of diewell's, sent back to the run's process as ("log", level, text)."""

    def __init__(self, channel) -> None:
        super().__init__()
        self.channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        _send(self.channel, ("log", record.levelno, record.getMessage()))


def _send(channel, message: tuple) -> None:
    pickle.dump(message, channel, protocol=5)
    channel.flush()


def serve() -> None:
    """The child: lower its own priority, import GX, then build the one run it is given."""
    # The pipe to the run is this process's stdout; anything a library prints goes to stderr.
    channel = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    try:
        os.nice(LOWEST_PRIORITY)
    except OSError:
        pass
    from diewell.expectations import gx_suites  # noqa: F401  (the import paid for ahead)
    from diewell.expectations.report import validation_report

    diewell_log = logging.getLogger("diewell")
    diewell_log.addHandler(_Forward(channel))
    diewell_log.setLevel(logging.INFO)
    diewell_log.propagate = False
    site, problem = None, None
    try:
        _, config, index_results = pickle.load(sys.stdin.buffer)
        site = validation_report.DataDocsSite(config, index_results)
    except EOFError:  # the run ended before it began
        return
    except Exception as exc:  # told when the run asks for its pages, as a build would be
        problem = f"{type(exc).__name__}: {exc}"
    try:
        _, run_id, validated, settings = pickle.load(sys.stdin.buffer)
    except EOFError:  # the run ended before its report
        return
    if problem is None:
        try:
            index = site.build(run_id, validated, **settings)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        _send(channel, ("failed", problem))
        return
    _send(channel, ("done", str(index)))


if __name__ == "__main__":
    serve()
    # Its work is written and its answer sent: end now, without the interpreter's teardown of
    # GX and pandas (some 0.5-1 s at the lowest priority, which the run would wait for).
    sys.stderr.flush()
    os._exit(0)
