"""The flows' tasks: one verb each, each calling one function of diewell.

Retries only on I/O (the MESH mailbox, the landing folder, the warehouse file copy), with
back-off, and only when the failure is one a later try may not meet (support.on_io_error).
Build and compute are cached on everything they read (support.warehouse_inputs); the other
steps change files or the warehouse, so they always run.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import polars as pl
from prefect import task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_table_artifact,
)
from prefect.cache_policies import NONE
from prefect.tasks import exponential_backoff

from diewell import artifacts, mesh, pipeline
from diewell.config import Config
from diewell.ingest import FileOutcome
from flows import support


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


@task(cache_policy=NONE)
def validate_and_load(
    con: duckdb.DuckDBPyConnection, config: Config, run_id: str
) -> list[FileOutcome]:
    """Validate every delivered file and load it, one transaction per file."""
    return pipeline.ingest(con, config, run_id)


@task(cache_key_fn=support.cache_key_build)
def build(con: duckdb.DuckDBPyConnection, config: Config) -> tuple[int, int]:
    """Build the core tables, reporting periods and the decedent cohort."""
    return pipeline.build(con)


@task(cache_key_fn=support.cache_key_compute)
def compute(con: duckdb.DuckDBPyConnection, config: Config, release_id: str) -> pl.DataFrame:
    """Compute every indicator exactly, into the warehouse."""
    return pipeline.compute(con, config, release_id)


@task(cache_policy=NONE)
def publish_release(
    con: duckdb.DuckDBPyConnection, values: pl.DataFrame, config: Config, release_id: str
) -> Path | None:
    """Disclosure-control, audit and publish the Parquet release (None: nothing to publish yet)."""
    return pipeline.publish_release(con, values, config, release_id)


@task(cache_policy=NONE)
def count_quarantined(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, int, int]]:
    """Count this run's quarantined rows by rule."""
    return artifacts.quarantined_by_rule(con, run_id)


@task(
    retries=2,
    retry_delay_seconds=[5, 30],
    retry_condition_fn=support.on_io_error,
    cache_policy=NONE,
)
def swap_in_warehouse(config: Config) -> Path:
    """Replace the analysts' warehouse file with the finished working copy, atomically."""
    return pipeline.publish_warehouse(config)


@task(cache_policy=NONE)
def report_refresh(
    config: Config,
    summary: pipeline.RunSummary,
    quarantine: list[tuple[str, int, int]],
    values: pl.DataFrame,
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
        headline = artifacts.headline_preview(values, config, summary.release_id)
        what = "not published by this run: disclosure-controlled as they would be"
    period = headline["period_end"][0] if headline.height else None
    create_table_artifact(
        artifacts.headline_table(headline),
        key=f"diewell-headline-{code}",
        description=f"Headline indicators, {config.ics_name}, 12 months to {period} ({what})",
    )
    link = artifacts.report_link(config, summary.release)
    if link is not None:
        create_link_artifact(link[0], link_text=link[1], key=f"diewell-reports-{code}")


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
