"""The warehouse's record of which pseudonymisation key built it (config.md).

A person's pseudonym is an HMAC of their NHS number under the key, so a run with another key
would load every person as a stranger to their earlier records, silently. The warehouse keeps
a fingerprint of the key, an HMAC of a fixed label under it (it tells keys apart and reveals
nothing of the key), and a run whose key does not match is refused before it loads anything.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from typing import TYPE_CHECKING

import duckdb

from diewell import settings
from diewell.settings import ConfigError

if TYPE_CHECKING:
    from diewell.config import Config

FINGERPRINT_LABEL = b"diewell pseudonymisation key fingerprint v1"
FINGERPRINT_HEX_CHARS = 16


class KeyMismatch(ConfigError):
    """The run's pseudonymisation key is not the one the warehouse was built with."""


def key_fingerprint(key: bytes) -> str:
    """The first hex digits of HMAC-SHA256(key, FINGERPRINT_LABEL)."""
    return hmac.new(key, FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:FINGERPRINT_HEX_CHARS]


def check_key_fingerprint(con: duckdb.DuckDBPyConnection, config: Config, run_id: str) -> None:
    """Record the key's fingerprint, and what the person keys are (person_key and domain,
    sources.md v3), on a warehouse's first run; refuse a run with another key, person key or
    domain.

    Raises ConfigError when there is no usable key, and KeyMismatch when the key, the person
    key or the domain differs from the one recorded. A warehouse written before the
    fingerprint was kept takes the key of the first run that starts on it.
    """
    fingerprint = key_fingerprint(config.pseudonymisation_key())
    recorded = con.execute(
        "SELECT fingerprint, recorded_at, person_key, domain FROM meta_key_fingerprint "
        "ORDER BY recorded_at LIMIT 1"
    ).fetchone()
    if recorded is None:
        con.execute(
            "INSERT INTO meta_key_fingerprint (fingerprint, recorded_at, run_id, person_key, "
            "domain) VALUES (?, ?, ?, ?, ?)",
            [
                fingerprint,
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                run_id,
                config.person_key,
                config.pseudonym_domain,
            ],
        )
        return
    _refuse_other_person_keys(config, recorded[2], recorded[3], recorded[1])
    if not hmac.compare_digest(recorded[0], fingerprint):
        source = (
            f"the environment variable {config.key_env}"
            if settings.secret(config.key_env)
            else f"the key file {config.key_file}"
        )
        raise KeyMismatch(
            f"{config.path}: pseudonymisation key: the key in {source} is not the key this "
            f"warehouse was built with (its fingerprint, recorded {recorded[1]:%Y-%m-%d %H:%M} "
            "UTC, is in meta_key_fingerprint); a new key would unlink every person from their "
            "earlier records. Nothing was loaded: run again with the original key, or, to start "
            "afresh with this key, point paths.warehouse at a new warehouse file"
        )


def _keys_named(person_key: str, domain: str | None) -> str:
    if person_key == "pseudonymised":
        return f"pseudonyms made by {domain} (person_key pseudonymised, domain {domain})"
    return "NHS numbers (person_key nhs_number)"


def _refuse_other_person_keys(
    config: Config, person_key: str, domain: str | None, since: dt.datetime
) -> None:
    """Refuse a run whose person keys are not the warehouse's (sources.md v3)."""
    if (config.person_key, config.pseudonym_domain) == (person_key, domain):
        return
    configured = f"person_key {config.person_key}" + (
        f", domain {config.pseudonym_domain}" if config.pseudonym_domain else ""
    )
    raise KeyMismatch(
        f"{config.path}: pseudonymisation: the configuration's person keys ({configured}) are "
        f"not this warehouse's, which links people on {_keys_named(person_key, domain)} "
        f"(recorded {since:%Y-%m-%d %H:%M} UTC in meta_key_fingerprint); people keyed one way "
        "would silently fail to link to their earlier records keyed the other. Nothing was "
        "loaded: set pseudonymisation back to the warehouse's person_key and domain, or, to "
        "start afresh, point paths.warehouse at a new warehouse file"
    )
