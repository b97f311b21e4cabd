"""The pull flow: MESH mailbox -> landing folder -> report what waits for the nightly load.

It never writes the warehouse, so it runs hourly beside everything else. Without a `mesh`
section in the config, providers put files straight into the landing folder and the pull only
reports what is waiting.
"""

from __future__ import annotations

from prefect import flow

from diewell import permissions, pipeline
from diewell.flows import support
from diewell.flows.tasks import pull_from_mesh, report_pull, survey_landing


@flow(
    name="diewell-pull",
    log_prints=True,
    timeout_seconds=support.flow_timeout(support.PULL_TIMEOUT),
)
def pull(config_path: str | None = None) -> dict[str, int]:
    """Pull new deliveries from the ICS's MESH mailbox and list what waits for the nightly load.

    Args:
        config_path: the ICS configuration file (config.md); default $DIEWELL_CONFIG.
    """
    permissions.private_umask()  # a worker-run flow too: identifiable data is ours alone
    config = support.checked_config(config_path, need_key=False)
    run_id = f"pull-{pipeline.new_run_id()}"
    pulled = pull_from_mesh(config, run_id, return_state=True) if config.mesh else None
    mesh_summary, mesh_problem = support.outcome(pulled) if pulled else (None, None)
    waiting = survey_landing(config)
    report_pull(config, waiting, mesh_summary, mesh_problem)
    support.raise_for_mesh(mesh_summary, mesh_problem)  # messages left behind fail the run
    landed = mesh_summary.landed if mesh_summary else 0
    return {"landed": landed, "waiting": waiting.waiting}
