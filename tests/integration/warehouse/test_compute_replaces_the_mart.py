"""Compute writes the indicator values into a table of their own, each INSERT committed, and
that table replaces mart_indicator_values in one short transaction at the end
(indicators.compute_indicator_values): a failed compute leaves the mart it found, and no
half-written table; an indicator larger than indicators.PART_ROWS is finished in chunks of
geographies, with the same rows as whole."""

from __future__ import annotations

import polars as pl
import pytest

from diewell import pipeline, warehouse
from diewell.config import load_config
from diewell.synth import synthesize
from diewell.warehouse import connection
from diewell.warehouse.indicators import compute as indicators
from tests.integration.warehouse.test_load_semantics import run_whole_pipeline

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
    monkeypatch.setattr(connection, "GATHERED_ROWS", 1)
    indicator_chunks, calls = indicators.indicator_chunks, []

    def failing_on_the_fourth(*args, **kwargs):
        calls.append(args[2].id)
        if len(calls) == 4:
            raise RuntimeError("an indicator's SQL failed")
        yield from indicator_chunks(*args, **kwargs)

    monkeypatch.setattr(indicators, "indicator_chunks", failing_on_the_fourth)
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


# An indicator with more aggregated rows than indicators.PART_ROWS is finished in chunks of
# geographies (indicators.indicator_chunks), so that what compute holds at once does not grow
# with the population. Chunked or whole, the mart holds the same rows and values.
WHOLE = 10**9  # no indicator is cut
SMALL = 60  # the small ICS's indicators (some 200-3,000 aggregated rows) cut into chunks


def _aggregated_rows(con, config) -> dict[str, int]:
    return {
        i.id: warehouse.fetch_one(
            con, f"SELECT count(*) FROM ({indicators.aggregate_sql(i, config.ics_code)})"
        )[0]
        for i in indicators.catalogue()
    }


def test_compute_in_chunks_gives_the_rows_it_gives_whole(working, monkeypatch):
    config, con = working
    aggregated = _aggregated_rows(con, config)
    biggest = max(aggregated, key=aggregated.get)
    monkeypatch.setattr(indicators, "PART_ROWS", WHOLE)
    indicators.compute_indicator_values(con, config, "run-whole")
    whole = indicators.read_values(con)

    monkeypatch.setattr(indicators, "PART_ROWS", SMALL)
    assert len(indicators.geography_chunks(aggregated[biggest])) >= 10
    held, finished_rows = [], indicators._finished_rows

    def holding(df, *args, **kwargs):
        ics_held = df.filter(pl.col("geography_level") == "ics").height
        held.append((args[1].id, df.height - ics_held, ics_held))
        return finished_rows(df, *args, **kwargs)

    monkeypatch.setattr(indicators, "_finished_rows", holding)
    rows = indicators.compute_indicator_values(con, config, "run-whole")
    chunked = indicators.read_values(con)
    assert rows == chunked.height == whole.height
    assert chunked.equals(whole)  # the same rows, statistics, comparisons, SII rows and trends
    # the biggest indicator was finished a chunk at a time, none of them near the whole
    indicator = next(i for i in indicators.catalogue() if i.id == biggest)
    biggest_sql = indicators.aggregate_sql(indicator, config.ics_code)
    ics_rows = warehouse.fetch_one(
        con, f"SELECT count(*) FROM ({biggest_sql}) WHERE geography_level = 'ics'"
    )[0]
    chunks = [height for indicator_id, height, _ in held if indicator_id == biggest]
    assert len(chunks) >= 10 and sum(chunks) == aggregated[biggest] - ics_rows
    # the ICS's rows were finished once, in the first chunk: the later ones quote them
    assert [ics for indicator_id, _, ics in held if indicator_id == biggest] == [ics_rows] + [0] * (
        len(chunks) - 1
    )
    # (a hash of only 12 geographies into 13 chunks is lumpy: some hold 3, some none)
    assert 0 < ics_rows and max(chunks) < (aggregated[biggest] - ics_rows) / 2
    assert NEXT not in _tables(con) and indicators.AGGREGATED_TABLE not in _tables(con)

    # the comparison with the ICS survived the cut: practices in every chunk quote the ICS's
    # value for the same indicator, period and category, read from the ICS rows here
    keys = ["indicator_id", "period_type", "period_end", "breakdown", "breakdown_value"]
    ics = chunked.filter(pl.col("geography_level") == "ics").select(*keys, ics_value="value")
    practices = chunked.filter(
        (pl.col("geography_level") == "practice") & pl.col("comparator_value").is_not_null()
    ).join(ics, on=keys, how="left", nulls_equal=True)
    assert practices.height > 100
    assert (practices["comparator_value"] == practices["ics_value"]).all()
    # the ICS rows (and the SII's, at ICS level) once each
    ics_keys = chunked.filter(pl.col("geography_level") == "ics").select(*keys)
    assert ics_keys.height == ics_keys.unique().height > 0
    assert chunked.filter(pl.col("breakdown") == "imd_sii").height > 0
