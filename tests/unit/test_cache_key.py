"""The cache key of build and compute (flows.support.warehouse_inputs) on a real DuckDB file."""

from __future__ import annotations

from diewell import pipeline
from diewell.config import load_config
from diewell.flows import support
from tests.conftest import TinyIcs

PROVIDERS = [{"code": "QTT", "name": "ICB", "extracts": ["deaths"]}]


def test_a_later_run_with_a_smaller_id_keeps_the_cache_key(tmp_path, pseudo_key):
    """Run ids are made when a flow starts, before it queues for the warehouse: two runs started
    in the same second may write in either order of id. The key must not change when the run
    that writes second has the smaller id (nothing it reads has changed)."""
    config = load_config(TinyIcs(tmp_path / "ics", PROVIDERS).config_path)
    con = pipeline.open_warehouse(config)
    pipeline.start_run(con, config, "20260101T020000Z-ffffff")
    before = support.warehouse_inputs(con, config)
    pipeline.start_run(con, config, "20260101T020000Z-000000")  # queued, then wrote second
    assert support.warehouse_inputs(con, config) == before

    # A warehouse whose history starts with another run is another warehouse: a new key.
    con.execute("DELETE FROM meta_runs WHERE run_id = '20260101T020000Z-ffffff'")
    assert support.warehouse_inputs(con, config) != before
    con.close()
