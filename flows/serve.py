"""The light mode for a single box: serve the deployments from one long-running process.

    DIEWELL_CONFIG=/srv/diewell/ics/diewell.yaml python -m diewell.flows.serve

The same deployments, schedules, parameters and concurrency limits as prefect.yaml (read
from it), without a work pool or worker: this process starts every scheduled run itself.
It needs a Prefect server (or Prefect Cloud) at PREFECT_API_URL. Stopping it pauses the
schedules.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from prefect import serve
from prefect.client.schemas.objects import ConcurrencyLimitConfig
from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron
from prefect.utilities.templating import apply_values

from diewell import settings
from diewell.flows.pull import pull
from diewell.flows.refresh import refresh
from diewell.flows.region import regional_refresh

PREFECT_YAML = Path(__file__).resolve().parents[1] / "prefect.yaml"
FLOWS = {
    "flows/pull.py:pull": pull,
    "flows/refresh.py:refresh": refresh,
    "flows/region.py:regional_refresh": regional_refresh,
}


def deployments(prefect_yaml: Path = PREFECT_YAML) -> list[RunnerDeployment]:
    """prefect.yaml's deployments, to be served by this process."""
    spec = yaml.safe_load(prefect_yaml.read_text(encoding="utf-8"))
    served = []
    for d in spec["deployments"]:
        limit = d.get("concurrency_limit")
        served.append(
            FLOWS[d["entrypoint"]].to_deployment(
                name=d["name"],
                description=d.get("description"),
                tags=d.get("tags"),
                parameters=apply_values(d.get("parameters", {}), dict(settings.every())),
                schedules=[Cron(s["cron"], timezone=s.get("timezone")) for s in d["schedules"]],
                concurrency_limit=ConcurrencyLimitConfig(**limit) if limit else None,
            )
        )
    return served


if __name__ == "__main__":
    serve(*deployments())
