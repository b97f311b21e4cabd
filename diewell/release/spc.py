"""The monthly SPC series of a release (indicators.md v3, "Statistical process control for the
board"): `spc.parquet`, one row per SPC indicator x calendar month of the ICS, all people.

The exact monthly counts (warehouse/indicators/monthly.py) are disclosure-controlled with the
rules of the indicators table (transforms/disclosure.apply_disclosure_control: a count of 1-7
suppresses the month, the place-of-death set PD01-PD05 is complemented within each month,
counts are rounded to 5 and the value is worked out from the rounded counts), then each
indicator's published values are charted (transforms/spc_series.chart_table): the limits and
flags come from the published values only, and a suppressed month breaks no run and is not
plotted. The months are not rows of the indicators table.

Rule 3 is not applied across time (a financial year's months sum to its row in the indicators
table; indicators.md names no such partition, as it names none for the overlapping rolling
periods): every count involved is rounded, and a published total that holds a hidden month
holds at least one other non-zero month too (else the total would be the hidden count itself,
1-7, and suppressed), so a hidden month worked out from published figures keeps at least two
rounding errors of up to 2 each, a range of at least 9 whole numbers around it.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from diewell.transforms.disclosure import (
    ROUNDING_MULTIPLE,
    STATISTIC_COLUMNS,
    SUPPRESSION_THRESHOLD,
    apply_disclosure_control,
)
from diewell.transforms.spc_series import chart_table
from diewell.warehouse.indicators.catalogue import (
    counts_not_people,
    shared_denominators,
    spc_indicators,
)
from diewell.warehouse.indicators.monthly import MONTH
from diewell.warehouse.indicators.schema import SCHEMA_VERSION, SPC_TABLE_SCHEMA, table_dtypes

SPC_DTYPES = table_dtypes(SPC_TABLE_SCHEMA)
SPC_KEY: list[str] = SPC_TABLE_SCHEMA["primaryKey"]
# indicator id -> target, for the assurance icon (indicators.md: none by default)
TARGETS: dict[str, float] = {}


def controlled_months(
    exact: pl.DataFrame,
    ics_code: str,
    threshold: int = SUPPRESSION_THRESHOLD,
    multiple: int = ROUNDING_MULTIPLE,
) -> pl.DataFrame:
    """The exact monthly counts (warehouse.indicators.monthly.MONTHLY_SCHEMA) as published:
    disclosure rules 1-3, counts rounded, value from the rounded counts; `suppressed` added."""
    statistic = {i.id: i.statistic for i in spc_indicators()}
    rows = exact.with_columns(
        pl.lit(MONTH).alias("period_type"),
        pl.lit("ics").alias("geography_level"),
        pl.lit(ics_code).alias("geography_code"),
        pl.lit("all").alias("breakdown"),
        pl.lit("all").alias("breakdown_value"),
        pl.col("indicator_id").replace_strict(statistic).alias("statistic"),
        *(pl.lit(None, pl.Float64).alias(c) for c in STATISTIC_COLUMNS),
    )
    return apply_disclosure_control(
        rows,
        threshold=threshold,
        multiple=multiple,
        shared_denominators=shared_denominators(),
        not_people=counts_not_people(),
    )


def spc_rows(
    exact: pl.DataFrame,
    *,
    ics_code: str,
    ics_name: str,
    run_id: str,
    threshold: int = SUPPRESSION_THRESHOLD,
    multiple: int = ROUNDING_MULTIPLE,
    targets: Mapping[str, float] | None = None,
) -> pl.DataFrame:
    """spc.parquet's rows (its committed schema's columns, in key order) from the exact
    monthly counts: controlled, then charted from the published values."""
    if exact.is_empty():
        return pl.DataFrame(schema=SPC_DTYPES)
    indicators = {i.id: i for i in spc_indicators()}
    published = controlled_months(exact, ics_code, threshold, multiple)
    series = published.select(
        "indicator_id",
        "period_start",
        "period_end",
        "numerator",
        "denominator",
        "value",
        "suppressed",
        "data_complete",
    )
    polarity = {i: indicators[i].polarity for i in series["indicator_id"].unique()}
    charted = chart_table(series, polarity, targets=TARGETS if targets is None else targets)
    return (
        charted.with_columns(
            pl.col("indicator_id")
            .replace_strict({i: x.name for i, x in indicators.items()})
            .alias("indicator_name"),
            pl.col("indicator_id")
            .replace_strict({i: x.unit for i, x in indicators.items()})
            .alias("unit"),
            pl.col("indicator_id").replace_strict(polarity).alias("polarity"),
            pl.lit(ics_code).alias("geography_code"),
            pl.lit(ics_name).alias("geography_name"),
            pl.lit(run_id).alias("run_id"),
            pl.lit(SCHEMA_VERSION).alias("schema_version"),
        )
        .select(list(SPC_DTYPES))
        .cast(SPC_DTYPES)
        .sort(SPC_KEY)
    )
