"""The flows' tasks: one verb each, each calling one function of diewell.

The refresh's steps are not written here: `diewell.pipeline.refresh` runs them in order and
`TaskSteps` runs each as a Prefect task with the options of STEP_OPTIONS. Retries only on I/O
(the MESH mailbox, the landing folder, the warehouse file copy), with back-off, and only when
the failure is one a later try may not meet (support.on_io_error). Build and compute are
cached on everything they read (support.warehouse_inputs); the other steps change files or
the warehouse, so they always run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import duckdb
import polars as pl
from prefect import task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NONE
from prefect.tasks import exponential_backoff

from diewell import pipeline
from diewell.config import Config
from diewell.flows import artifacts, support
from diewell.sources import mesh
from diewell.warehouse import landing_files


@task(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=10),
    retry_jitter_factor=0.5,
    retry_condition_fn=support.on_io_error,
    cache_policy=NONE,
)
def pull_from_mesh(config: Config, run_id: str) -> mesh.MeshPullSummary:
    """Download every message in the ICS's MESH mailbox into the landing folder."""
    return mesh.pull_from_mesh(config, run_id=run_id)


@task(
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=support.on_io_error,
    cache_policy=NONE,
)
def survey_landing(config: Config) -> artifacts.LandingSurvey:
    """List what waits in the landing folder for the next load, changing nothing."""
    return artifacts.survey_landing(config)


IO_RETRIES = {
    "retries": 2,
    "retry_delay_seconds": [5, 30],
    "retry_condition_fn": support.on_io_error,
}
# Options of each step of pipeline.refresh (pipeline.STEPS) run as a Prefect task.
STEP_OPTIONS: dict[str, dict] = {
    "pull": {
        "retries": 3,
        "retry_delay_seconds": exponential_backoff(backoff_factor=10),
        "retry_jitter_factor": 0.5,
        "retry_condition_fn": support.on_io_error,
    },
    "validate": {},
    "load": {},
    "build": {"cache_key_fn": support.cache_key_build},
    "compute": {"cache_key_fn": support.cache_key_compute},
    "disclosure control": {},
    "publish": {},
    "swap in": IO_RETRIES,
}
CACHED_STEPS = ("build", "compute")
# Windows of files validated ahead of the one loading (ingest.ingest_landing): enough to keep
# two threads or Dask workers busy, few enough that memory holds only three windows.
VALIDATE_AHEAD = 2


class TaskSteps:
    """A step runner for pipeline.refresh: each step a Prefect task, named as the step.

    A step called is run in the flow's process and waited for; a step submitted (`submit`,
    see ingest.submit_step) runs on the flow's task runner (Prefect's threads, or a Dask
    cluster's workers: support.task_runner) and returns its Prefect future. Ingest submits
    the "validate" step of up to `validate_ahead` windows ahead of the one it loads; the
    "load" step is always called, so the one warehouse connection never leaves the flow.

    A failed pull does not stop the refresh (what landed before is loaded); its reason is
    kept in `pull_problem` for the run's report. `reused` says whether build and compute both
    came from the cache.
    """

    validate_ahead = VALIDATE_AHEAD

    def __init__(self, config: Config, rebuild: bool) -> None:
        self.cached = support.cache_options(config, rebuild)
        self.states: dict[str, object] = {}
        self.pull_problem: str | None = None

    def _task(self, name: str, fn: Callable):
        if name not in STEP_OPTIONS:
            raise ValueError(f"no task options for the step {name!r}")
        options = {**STEP_OPTIONS[name], **(self.cached if name in CACHED_STEPS else {})}
        if "cache_key_fn" not in options:
            options["cache_policy"] = NONE
        return task(fn, name=name, **options)

    def submit(self, name: str, fn: Callable, *args):
        """Start the step as a task on the flow's task runner; its future has `.result()`."""
        return self._task(name, fn).submit(*args)

    def __call__(self, name: str, fn: Callable, *args):
        step = self._task(name, fn)
        state = step(*args, return_state=True)
        self.states[name] = state
        if name == "pull":
            result, self.pull_problem = support.outcome(state)
            return result
        return state.result()

    @property
    def reused(self) -> bool:
        return all(
            getattr(self.states.get(name), "name", None) == "Cached" for name in CACHED_STEPS
        )


@task(cache_policy=NONE)
def count_quarantined(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, int, int]]:
    """Count this run's quarantined rows by rule."""
    return landing_files.quarantined_by_rule(con, run_id)


@task(cache_policy=NONE)
def report_refresh(
    config: Config,
    summary: pipeline.RunSummary,
    quarantine: list[tuple[str, int, int]],
    headline: pl.DataFrame,
    *,
    reused: bool,
    mesh_summary: mesh.MeshPullSummary | None,
    mesh_problem: str | None,
) -> None:
    """Publish the run's summary, headline indicators and report link as artifacts."""
    code = config.ics_code.lower()
    published = summary.release is not None
    create_markdown_artifact(
        artifacts.refresh_markdown(
            config,
            summary,
            quarantine,
            published=published,
            reused=reused,
            mesh=mesh_summary,
            mesh_problem=mesh_problem,
        ),
        key=f"diewell-refresh-{code}",
        description=f"diewell refresh {summary.run_id}: files, rejections, quarantine, indicators",
    )
    if published:
        headline = pipeline.headline(summary.release)
        what = f"published in release {summary.release.name}"
    else:
        headline = artifacts.headline_preview(headline, config, summary.release_id)
        what = "not published by this run: disclosure-controlled as they would be"
    period = headline["period_end"][0] if headline.height else None
    create_table_artifact(
        artifacts.headline_table(headline),
        key=f"diewell-headline-{code}",
        description=f"Headline indicators, {config.ics_name}, 12 months to {period} ({what})",
    )
    reports = artifacts.report_paths(config, summary.release, summary.run_id)
    if reports:
        create_markdown_artifact(
            reports, key=f"diewell-reports-{code}", description="Where this run's reports are"
        )


@task(cache_policy=NONE)
def report_pull(
    config: Config,
    survey: artifacts.LandingSurvey,
    mesh_summary: mesh.MeshPullSummary | None,
    mesh_problem: str | None,
) -> None:
    """Publish what the pull brought in and what waits for the nightly load, as an artifact."""
    create_markdown_artifact(
        artifacts.pull_markdown(
            config, survey, mesh_summary, mesh_problem, support.key_problem(config)
        ),
        key=f"diewell-pull-{config.ics_code.lower()}",
        description="diewell pull: MESH messages and files waiting for the nightly load",
    )


@contextmanager
def failure_reported(config: Config, run_id: str) -> Iterator[None]:
    """On failure, say in the run's summary artifact why it failed and what to do; re-raise."""
    try:
        yield
    except Exception as exc:
        create_markdown_artifact(
            artifacts.failure_markdown(config, run_id, exc),
            key=f"diewell-refresh-{config.ics_code.lower()}",
            description=f"diewell refresh {run_id} failed: the reason and what to do",
        )
        raise
