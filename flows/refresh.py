"""The refresh flow: pull -> ingest (validate + load) -> build -> compute -> publish.

It reads like a table of contents; every step is a plain function in diewell.pipeline.
"""

from __future__ import annotations

from prefect import flow, task
from prefect.cache_policies import NONE

from diewell import pipeline
from diewell.config import load_config

# One verb per task. Only I/O retries (the landing folder may be on a network share).
# The warehouse connection is passed between tasks, so nothing is cached by inputs.


@task(retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def pull(config):
    """Count what is waiting in the landing folder."""
    return pipeline.pull_from_landing(config)


@task(cache_policy=NONE)
def ingest(con, config, run_id):
    """Validate every delivered file and load it, one transaction per file."""
    return pipeline.ingest(con, config, run_id)


@task(cache_policy=NONE)
def build(con):
    """Build the core tables, reporting periods and the decedent cohort."""
    return pipeline.build(con)


@task(cache_policy=NONE)
def compute(con, config, release_id):
    """Compute every indicator exactly, into the warehouse."""
    return pipeline.compute(con, config, release_id)


@task(cache_policy=NONE)
def publish(con, values, config, release_id):
    """Disclosure-control, audit and publish the Parquet release."""
    return pipeline.publish_release(con, values, config, release_id)


@task(retries=2, retry_delay_seconds=[5, 30], cache_policy=NONE)
def swap_in_warehouse(config):
    """Replace the analysts' warehouse file with the finished working copy, atomically."""
    return pipeline.publish_warehouse(config)


@flow(name="diewell-refresh", log_prints=True)
def refresh(config_path: str) -> pipeline.RunSummary:
    """Refresh the warehouse and publish indicators for the ICS configured at config_path."""
    config = load_config(config_path)
    run_id = pipeline.new_run_id()
    con = pipeline.open_warehouse(config)
    summary = pipeline.RunSummary(run_id)
    pipeline.start_run(con, config, run_id)
    try:
        pull(config)
        summary.files = ingest(con, config, run_id)
        summary.periods, summary.cohort_rows = build(con)
        summary.release_id = pipeline.release_id(con, config)
        values = compute(con, config, summary.release_id)
        summary.indicator_rows = values.height
        summary.release = publish(con, values, config, summary.release_id)
    except BaseException as exc:
        pipeline.finish_run(con, summary, "failed", f"{type(exc).__name__}: {exc}")
        pipeline.close_warehouse(con)
        raise
    pipeline.finish_run(con, summary, "completed")
    pipeline.close_warehouse(con)
    swap_in_warehouse(config)
    return summary
