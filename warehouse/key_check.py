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
    """Record the key's fingerprint on a warehouse's first run; refuse a run with another key.

    Raises ConfigError when there is no usable key, and KeyMismatch when the key differs from
    the one recorded. A warehouse written before the fingerprint was kept takes the key of the
    first run that starts on it.
    """
    fingerprint = key_fingerprint(config.pseudonymisation_key())
    recorded = con.execute(
        "SELECT fingerprint, recorded_at FROM meta_key_fingerprint ORDER BY recorded_at LIMIT 1"
    ).fetchone()
    if recorded is None:
        con.execute(
            "INSERT INTO meta_key_fingerprint VALUES (?, ?, ?)",
            [fingerprint, dt.datetime.now(dt.UTC).replace(tzinfo=None), run_id],
        )
        return
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
