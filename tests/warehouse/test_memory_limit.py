"""A run's warehouse connection holds DuckDB to limits.warehouse_memory_mib (config.md's
`limits`, docs/CONFIGURATION.md), so its memory does not grow with the population."""

from __future__ import annotations

import dataclasses

from diewell import pipeline
from diewell.config import load_config
from tests.conftest import TinyIcs

PROVIDERS = [{"code": "QTT", "name": "ICB", "extracts": ["deaths"]}]


def _limit_mib(con) -> float:
    # DuckDB reports the setting in its own units, e.g. '1.0 GiB' or '512.0 MiB'
    text = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    number, unit = text.split()
    return float(number) * {"MiB": 1, "GiB": 1024}[unit]


def test_the_run_connection_has_the_configured_memory_limit(tmp_path, pseudo_key):
    config = load_config(TinyIcs(tmp_path / "ics", PROVIDERS).config_path)
    for mib in (config.warehouse_memory_mib, 512):
        con = pipeline.open_warehouse(dataclasses.replace(config, warehouse_memory_mib=mib))
        try:
            assert _limit_mib(con) == mib
        finally:
            pipeline.close_warehouse(con)
