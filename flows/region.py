"""The regional flow: one refresh per ICS as a deployment run, then the regional release.

Each ICS's refresh-and-publish deployment (named in the region configuration) is run with
`run_deployment`, all at once: the runs go to the work pool and start on whichever of its
workers is free, so the ICSs run on as many workers as there are. The flow waits for all of
them. If any did not complete, it fails naming each such ICS and publishes nothing regional:
a region total without one of its ICSs would be read as the region's. Otherwise it reads
each ICS's current release and publishes the regional release (diewell/region.py).
"""

from __future__ import annotations

import asyncio

from prefect import flow, get_run_logger
from prefect.deployments import run_deployment

from diewell import permissions
from diewell.config import load_region_config
from diewell.flows import support
from diewell.release.region import (
    publish_region,
    read_ics_release,
    require_every_ics_completed,
)

POLL_SECONDS = 5  # how often the flow asks whether the ICS runs have finished


@flow(
    name="diewell-region",
    timeout_seconds=support.flow_timeout(support.REGION_TIMEOUT),
)
async def regional_refresh(config_path: str | None = None) -> str:
    """Refresh and publish every ICS of the region, then publish the regional release.

    Args:
        config_path: the region configuration file; default $DIEWELL_REGION_CONFIG.

    Returns the regional release's id.
    """
    permissions.private_umask()
    config = load_region_config(config_path)
    logger = get_run_logger()
    logger.info("running %d ICS refreshes: %s", len(config.ics), [s.deployment for s in config.ics])
    runs = await asyncio.gather(
        *(run_deployment(s.deployment, poll_interval=POLL_SECONDS) for s in config.ics)
    )
    require_every_ics_completed(
        [
            (
                s.deployment,
                str(r.id),
                r.state.name if r.state else None,
                bool(r.state and r.state.is_completed()),
            )
            for s, r in zip(config.ics, runs, strict=True)
        ]
    )
    releases = [read_ics_release(s) for s in config.ics]
    flow_runs = {s.deployment: str(r.id) for s, r in zip(config.ics, runs, strict=True)}
    release = publish_region(config, releases, flow_runs)
    logger.info("regional release %s published", release.name)
    return release.name
