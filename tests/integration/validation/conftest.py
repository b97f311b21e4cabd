"""A tiny ICS with apc_spells deliveries, ingested into a real warehouse in tmp_path."""

from __future__ import annotations

import pytest

from diewell import warehouse
from diewell.config import load_config
from diewell.sources.ingest import ingest_landing
from tests.conftest import TinyIcs, nhs

COLUMNS = ["spell_id", "nhs_number", "admission_date", "admission_method"]


def spells(n: int, bad_method_rows: tuple[int, ...] = ()) -> list[dict]:
    """n apc_spells rows; the rows numbered in bad_method_rows (1-based) carry method 99."""
    return [
        {
            "spell_id": f"S{i}",
            "nhs_number": nhs(i),
            "admission_date": "2025-01-15",
            "admission_method": "99" if i + 1 in bad_method_rows else "21",
        }
        for i in range(n)
    ]


class Ics(TinyIcs):
    def __init__(self, root, providers: list[dict] | None = None):
        providers = providers or [{"code": "RX1", "name": "Acute", "extracts": ["apc_spells"]}]
        super().__init__(root, providers)
        self.config = load_config(self.config_path)

    def run(self, run_id: str):
        self.config.warehouse.parent.mkdir(parents=True, exist_ok=True)
        con = warehouse.connect(self.config.warehouse)
        try:
            warehouse.migrate(con)
            return ingest_landing(con, self.config, run_id)
        finally:
            con.close()

    def query(self, sql: str, params=None):
        con = warehouse.connect(self.config.warehouse)
        try:
            return con.execute(sql, params or []).fetchall()
        finally:
            con.close()


@pytest.fixture
def ics(tmp_path, pseudo_key):
    return Ics(tmp_path / "ics")
