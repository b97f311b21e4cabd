"""The spec tests' one way to run a hand-made tiny ICS and read one indicator value back.

`computed_values` ingests every file in the ICS's landing folder (each must load whole: a
hand-made fixture with a held-back row is a broken fixture), builds the warehouse and
computes the indicators (or only those a test checks), exactly as a run does before
disclosure control. `pick` returns the
single row of one indicator, geography and breakdown (and any other column given).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator

import polars as pl

from diewell import pipeline
from diewell.config import load_config
from diewell.warehouse.indicators import compute as indicators
from tests.conftest import TinyIcs

RUN_ID = "test-run"


def computed_values(ics: TinyIcs, only: Collection[str] | None = None) -> Iterator[pl.DataFrame]:
    """Yield the tiny ICS's exact indicator values (of the indicators `only` names: a spec test
    computes the ones it checks; every one when None); the warehouse closes afterwards."""
    tables = computed_tables(ics, only)
    try:
        yield next(tables)[0]
    finally:
        tables.close()  # closes the warehouse


def computed_tables(
    ics: TinyIcs, only: Collection[str] | None = None
) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """As computed_values, with the decedent cohort (mart_decedent_cohort) beside the values."""
    config = load_config(ics.config_path)
    con = pipeline.open_warehouse(config)
    try:
        pipeline.start_run(con, config, RUN_ID)
        outcomes = pipeline.ingest(con, config, RUN_ID)
        assert all(o.status == "loaded" and o.rows_quarantined == 0 for o in outcomes), [
            (o.file_name, o.status, o.reason)
            for o in outcomes
            if o.status != "loaded" or o.rows_quarantined
        ]
        pipeline.build(con)
        if only is None:
            pipeline.compute(con, config, RUN_ID)
        else:
            indicators.compute_indicator_values(con, config, RUN_ID, only=only)
        cohort = con.sql("SELECT * FROM mart_decedent_cohort").pl()
        yield indicators.read_values(con), cohort
    finally:
        con.close()


def pick(
    values: pl.DataFrame,
    indicator: str,
    level: str = "ics",
    code: str = "QTT",
    breakdown: str = "all",
    breakdown_value: str = "all",
    **columns: object,
) -> dict:
    """The one row of `indicator` at this geography and breakdown (and `columns`' values)."""
    where = {
        "indicator_id": indicator,
        "geography_level": level,
        "geography_code": code,
        "breakdown": breakdown,
        "breakdown_value": breakdown_value,
        **columns,
    }
    rows = values.filter(*(pl.col(name) == value for name, value in where.items()))
    assert rows.height == 1, (where, rows)
    return rows.row(0, named=True)
