"""The refresh flow: pull -> validate and load -> build -> compute -> publish -> swap in -> report.

It reads like a table of contents: each step is a task in flows/tasks.py calling one function
of diewell.pipeline; flows/support.py holds the machinery (configuration and secrets, one
writer per warehouse, caching). prefect.yaml deploys it twice: nightly without publication,
monthly with it.
"""

from __future__ import annotations

from prefect import flow

from diewell import permissions, pipeline
from flows import support
from flows.tasks import (
    build,
    compute,
    count_quarantined,
    failure_reported,
    publish_release,
    pull_from_mesh,
    report_refresh,
    swap_in_warehouse,
    validate_and_load,
)


@flow(
    name="diewell-refresh",
    log_prints=True,
    timeout_seconds=support.flow_timeout(
        support.REFRESH_TIMEOUT_ENV, support.REFRESH_TIMEOUT_SECONDS
    ),
)
def refresh(
    config_path: str | None = None, publish: bool = True, rebuild: bool = False
) -> pipeline.RunSummary:
    """Refresh the warehouse, and publish the indicators, for the ICS configured at config_path.

    Args:
        config_path: the ICS configuration file (config.md); default $DIEWELL_CONFIG.
        publish: publish a disclosure-controlled release; False refreshes the warehouse only.
        rebuild: build and compute even when nothing they read has changed.
    """
    permissions.private_umask()  # a worker-run flow too: identifiable data is ours alone
    config = support.checked_config(config_path)  # a bad config or a missing key stops here
    summary = pipeline.RunSummary(pipeline.new_run_id())
    run_id = summary.run_id
    cached = support.cache_options(config, rebuild)
    with failure_reported(config, run_id), support.one_writer(config, run_id):
        pulled = pull_from_mesh(config, run_id, return_state=True) if config.mesh else None
        with support.recorded_run(config, summary) as con:
            summary.files = validate_and_load(con, config, run_id)
            built = build.with_options(**cached)(con, config, return_state=True)
            summary.periods, summary.cohort_rows = built.result()
            summary.release_id = pipeline.release_id(con, config)
            computed = compute.with_options(**cached)(
                con, config, summary.release_id, return_state=True
            )
            values = computed.result()
            summary.indicator_rows = values.height
            if publish:
                summary.release = publish_release(con, values, config, summary.release_id)
                if summary.release is None:
                    summary.not_published = pipeline.nothing_to_publish(con, values)
            quarantine = count_quarantined(con, run_id)
            support.prune_cache(con, config, summary.release_id)
        swap_in_warehouse(config)
        mesh_summary, mesh_problem = support.outcome(pulled) if pulled else (None, None)
        report_refresh(
            config,
            summary,
            quarantine,
            values,
            reused=built.name == "Cached" and computed.name == "Cached",
            mesh_summary=mesh_summary,
            mesh_problem=mesh_problem,
        )
    return summary
