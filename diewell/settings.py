"""Every environment variable diewell reads or sets, in one place (docs/OPERATIONS.md).

What changes per machine or per run comes from the environment, never from the ICS's
configuration file: where the configuration is, the flows' time-outs, the writer lock's
waits, a Dask scheduler, a trial copy of the suites, the region's configuration, and the
secrets (read here only when asked for, never kept). No other module reads `os.environ`
(tests/unit/test_import_boundaries.py checks it). A leaf: it imports nothing of the project.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path


class ConfigError(ValueError):
    """The configuration (its file, or a setting of the environment) is missing, unreadable
    or wrong; the message names what to fix."""


# The variables, with their defaults where they have one.
CONFIG = "DIEWELL_CONFIG"  # the ICS configuration's path when a run is given none
HOME = "DIEWELL_HOME"  # the clone whose code a worker runs (prefect.yaml's pull step)
SUITES_DIR = "DIEWELL_SUITES_DIR"  # a folder of suites to read instead of the project's
REGION_CONFIG = "DIEWELL_REGION_CONFIG"  # the region's configuration when a run is given none
DASK_ADDRESS = "DIEWELL_DASK_ADDRESS"  # a Dask scheduler for validation, tcp://host:8786
REFRESH_TIMEOUT = ("DIEWELL_REFRESH_TIMEOUT_SECONDS", 4 * 60 * 60)
PULL_TIMEOUT = ("DIEWELL_PULL_TIMEOUT_SECONDS", 30 * 60)
REGION_TIMEOUT = ("DIEWELL_REGION_TIMEOUT_SECONDS", 6 * 60 * 60)  # waits for every ICS's run
WRITER_WAIT_LOG = ("DIEWELL_WRITER_WAIT_LOG_SECONDS", 60)  # a waiting run names the holder
WRITER_WAIT_TIMEOUT = ("DIEWELL_WRITER_WAIT_TIMEOUT_SECONDS", 6 * 60 * 60)  # then gives up
PSEUDO_KEY = "DIEWELL_PSEUDO_KEY"  # the default name of the pseudonymisation key's variable
TEAMS_WEBHOOK_URL = "DIEWELL_TEAMS_WEBHOOK_URL"  # the night shift's channel (automations)
SENDGRID_API_KEY = "DIEWELL_SENDGRID_API_KEY"
# Prefect's own, set for a run of the command line unless already set.
PREFECT_DEFAULTS = {
    "PREFECT_LOGGING_EXTRA_LOGGERS": "diewell",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def text(name: str) -> str | None:
    """The variable's value, stripped; None when unset or empty."""
    value = os.environ.get(name, "").strip()
    return value or None


def path(name: str) -> Path | None:
    value = text(name)
    return Path(value) if value else None


def seconds(setting: tuple[str, float]) -> float:
    """A number of seconds from the variable, else its default; ConfigError when it is not a
    positive number."""
    name, default = setting
    value = text(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"{name} must be a number of seconds, not {value[:40]!r}") from None
    if number <= 0:
        raise ConfigError(f"{name} must be more than 0 seconds")
    return number


def is_set(name: str) -> bool:
    return text(name) is not None


def secret(name: str) -> str | None:
    """A secret's value, read when it is needed and never kept here."""
    return os.environ.get(name) or None


def set_secret(name: str, value: str) -> None:
    """Put a secret found elsewhere (a Prefect Secret block) where the run reads it."""
    os.environ[name] = value


def without(names: Iterable[str]) -> dict[str, str]:
    """This process's environment less the named variables (for a child without secrets)."""
    drop = set(names)
    return {name: value for name, value in os.environ.items() if name not in drop}


def every() -> Mapping[str, str]:
    """The whole environment, read-only (prefect.yaml's `{{ $VAR }}` values)."""
    return dict(os.environ)


def use_prefect_defaults() -> None:
    """Prefect's settings for a run of the command line, each unless already set."""
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)


def use_default(name: str, value: str) -> None:
    """Set a variable only if it is unset (a documentation run's throwaway key)."""
    os.environ.setdefault(name, value)
