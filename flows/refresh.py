"""The refresh flow: diewell.pipeline.refresh's steps, each a Prefect task, then the report.

The steps and their order are written once, in `pipeline.refresh` (pull, validate, load, build,
compute, disclosure control, publish, swap in); flows/tasks.py runs each as a task
(`TaskSteps`) and flows/support.py holds the machinery (configuration and secrets, one writer
per warehouse, caching). prefect.yaml deploys it twice: nightly without publication, monthly
with it.
"""

from __future__ import annotations

from prefect import flow

from diewell import permissions, pipeline
from diewell.flows import support
from diewell.flows.tasks import TaskSteps, count_quarantined, failure_reported, report_refresh


@flow(
    name="diewell-refresh",
    log_prints=True,
    timeout_seconds=support.flow_timeout(support.REFRESH_TIMEOUT),
    task_runner=support.task_runner(),  # Prefect's threads, or $DIEWELL_DASK_ADDRESS's cluster
)
def refresh(
    config_path: str | None = None, publish: bool = True, rebuild: bool = False
) -> pipeline.RunSummary:
    """Refresh the warehouse, and publish the indicators, for the ICS configured at config_path.

    Args:
        config_path: the ICS configuration file (docs/CONFIGURATION.md); default $DIEWELL_CONFIG.
        publish: publish a disclosure-controlled release; False refreshes the warehouse only.
        rebuild: build and compute even when nothing they read has changed.
    """
    permissions.private_umask()  # a worker-run flow too: identifiable data is ours alone
    config = support.checked_config(config_path)  # a bad config or a missing key stops here
    summary = pipeline.RunSummary(pipeline.new_run_id())
    steps = TaskSteps(config, rebuild)
    quarantine: list[tuple[str, int, int]] = []

    def before_closing(con) -> None:
        quarantine.extend(count_quarantined(con, summary.run_id))
        support.prune_cache(con, config, summary.release_id)

    with failure_reported(config, summary.run_id), support.one_writer(config, summary.run_id):
        headline = pipeline.refresh(
            config, summary, publish=publish, step=steps, before_closing=before_closing
        )
        report_refresh(
            config,
            summary,
            quarantine,
            headline,
            reused=steps.reused,
            mesh_summary=summary.pulled,
            mesh_problem=steps.pull_problem,
        )
    return summary
