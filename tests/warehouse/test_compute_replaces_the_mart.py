"""Compute writes the indicator values into a table of their own, each INSERT committed, and
that table replaces mart_indicator_values in one short transaction at the end
(indicators.compute_indicator_values): a failed compute leaves the mart it found, and no
half-written table."""

from __future__ import annotations

import pytest

from diewell import indicators, pipeline, warehouse
from diewell.config import load_config
from diewell.synth import synthesize
from tests.warehouse.test_load_semantics import run_whole_pipeline

NEXT = indicators.MART_BEING_COMPUTED


@pytest.fixture(scope="module")
def refreshed(tmp_path_factory):
    """A small synthetic ICS, refreshed once: its config."""
    folder = tmp_path_factory.mktemp("ics")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DIEWELL_PSEUDO_KEY", "k" * 40)
        config_path = synthesize(folder, seed=11, population=3000, years=1, defect_rate=0.0)
        run_whole_pipeline(config_path)
    return config_path


@pytest.fixture
def working(refreshed, monkeypatch):
    """The refreshed ICS's config and its working warehouse, opened as a run opens it."""
    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", "k" * 40)
    config = load_config(refreshed)
    con = pipeline.open_warehouse(config)
    yield config, con
    con.close()


def _tables(con) -> set[str]:
    return {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def test_a_compute_that_fails_part_way_leaves_the_mart_it_found(working, monkeypatch):
    config, con = working
    before = indicators.read_values(con)
    assert before.height > 0 and before["indicator_id"].n_unique() > 4
    # Every indicator its own INSERT, so three are committed into the new table before
    # the fourth fails.
    monkeypatch.setattr(warehouse, "GATHERED_ROWS", 1)
    one_indicator, calls = indicators._one_indicator, []

    def failing_on_the_fourth(*args, **kwargs):
        calls.append(args[2].id)
        if len(calls) == 4:
            raise RuntimeError("an indicator's SQL failed")
        return one_indicator(*args, **kwargs)

    monkeypatch.setattr(indicators, "_one_indicator", failing_on_the_fourth)
    with pytest.raises(RuntimeError, match="an indicator's SQL failed"):
        indicators.compute_indicator_values(con, config, "run-that-fails")
    assert len(calls) == 4
    after = indicators.read_values(con)
    assert after.equals(before)  # every row and value as it was
    assert "run-that-fails" not in set(after["run_id"])
    assert NEXT not in _tables(con)


def test_a_compute_replaces_the_mart_and_a_table_left_by_a_killed_one(working):
    config, con = working
    before = indicators.read_values(con)
    # what a compute killed part way leaves behind
    con.execute(f"CREATE TABLE {NEXT} AS SELECT 1 AS half_written")
    rows = indicators.compute_indicator_values(con, config, "run-2")
    after = indicators.read_values(con)
    assert rows == after.height == before.height
    assert set(after["run_id"].unique()) == {"run-2"}
    # the same figures: only the run that computed them differs
    assert after.drop("run_id").equals(before.drop("run_id"))
    assert NEXT not in _tables(con)
