"""Exact monthly counts of the SPC indicators (indicators.md v3, "Statistical process control
for the board"): ICS level, breakdown `all`, one row per indicator x calendar month.

The indicators with a series (catalogue `spc: true`) are decedent indicators: each SQL file
reads `mart_decedent_periods`, the cohort crossed with the rolling 12 months and financial
years its death falls in. For a monthly series the same SQL runs unchanged with that name
bound, in a CTE, to the cohort crossed with the calendar month of each death instead: a death
falls in one month only, so each indicator is one pass over the cohort (where the published
periods take five: four rolling 12 months and a financial year), grouped at ICS level only.
Nothing is written to the warehouse and the published indicators table gains no rows: the
counts are disclosure-controlled and charted at publication (diewell/release/spc.py).

Months are the calendar months wholly inside the deaths deliveries' coverage (as the
published periods are), from each indicator's first month whose deaths look back
(`spc_lookback_days`: 90 days for HU01, HU02 and HU06, 365 for SP01) only over months its
event extracts have delivered: the deaths of an ICS's first months would otherwise count
only the activity delivered after coverage began, and the chart would open on a spurious
special cause. (Registers, whose every delivery holds their history, and reference data do
not hold a series back.) A month without a death of an indicator's cohort has counts 0 and
no value.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from diewell.expectations.contracts import load_contract
from diewell.warehouse import query_frame
from diewell.warehouse.indicators.catalogue import Indicator, spc_indicators
from diewell.warehouse.indicators.compute import data_complete, deaths_coverage, delivered_up_to

if TYPE_CHECKING:
    from diewell.config import Config

MONTH = "month"  # the period_type of a monthly row
MONTHS_TABLE = "spc_months"  # the months of the series (registered for the query only)
DECEDENT_VIEW = "mart_decedent_periods"  # what an SPC indicator's SQL reads
MONTHLY_SCHEMA = {
    "indicator_id": pl.String,
    "period_start": pl.Date,
    "period_end": pl.Date,
    "numerator": pl.Int64,
    "denominator": pl.Int64,
    "data_complete": pl.Boolean,
}


def calendar_months(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """(first day, last day) of every calendar month wholly inside [start, end], in order."""
    months = []
    first = start if start.day == 1 else _next_month(start)
    while (last := _next_month(first) - dt.timedelta(days=1)) <= end:
        months.append((first, last))
        first = _next_month(first)
    return months


def _next_month(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


# Loads whose first delivery holds no history before its period: event extracts (upsert) and
# population snapshots. Registers (cumulative) and reference data (snapshot_table) do.
EVENT_LOADS = ("upsert", "snapshot_period")


def series_start(
    indicator: Indicator, first_delivered: dict[str, dt.date], coverage_start: dt.date
) -> dt.date:
    """The first day of the indicator's first month: deaths on or after it look back
    `spc_lookback_days` only over months each of its event extracts has delivered
    (`first_delivered`: extract -> the first day of its earliest loaded delivery's month)."""
    start = coverage_start
    for extract in indicator.source_extracts:
        first = first_delivered.get(extract)
        if first is None or load_contract(extract).load not in EVENT_LOADS:
            continue
        start = max(start, first + dt.timedelta(days=indicator.spc_lookback_days))
    return start if start.day == 1 else _next_month(start)


def first_deliveries(con: duckdb.DuckDBPyConnection) -> dict[str, dt.date]:
    """extract -> the first day of the month of its earliest loaded delivery's period end."""
    rows = con.execute(
        "SELECT extract, min(period_end) FROM landing_files WHERE status = 'loaded' GROUP BY ALL"
    ).fetchall()
    return {extract: first.replace(day=1) for extract, first in rows}


def monthly_sql(indicator: Indicator) -> str:
    """The indicator's own SQL over the cohort by month of death, summed per month."""
    if DECEDENT_VIEW not in indicator.sql:
        raise ValueError(
            f"{indicator.id} has `spc: true` but its SQL does not read {DECEDENT_VIEW}: a "
            "monthly series is made only of decedent indicators"
        )
    return f"""WITH {DECEDENT_VIEW} AS (
    SELECT m.period_type, m.period_start, m.period_end, c.*
    FROM mart_decedent_cohort c
    JOIN {MONTHS_TABLE} m ON c.date_of_death BETWEEN m.period_start AND m.period_end
),
units AS ({indicator.sql})
SELECT period_start, period_end,
       CAST(sum(numerator) AS BIGINT) AS numerator, CAST(sum(denominator) AS BIGINT) AS denominator
FROM units GROUP BY ALL"""


def monthly_values(con: duckdb.DuckDBPyConnection, config: Config) -> pl.DataFrame:
    """Exact monthly counts of every SPC indicator (MONTHLY_SCHEMA), sorted by indicator and
    month; empty before any deaths delivery has loaded."""
    coverage = deaths_coverage(con)
    months = calendar_months(*coverage) if coverage else []
    if not months:
        return pl.DataFrame(schema=MONTHLY_SCHEMA)
    spine = pl.DataFrame(
        {
            "period_type": [MONTH] * len(months),
            "period_start": [m[0] for m in months],
            "period_end": [m[1] for m in months],
        },
        schema={"period_type": pl.String, "period_start": pl.Date, "period_end": pl.Date},
    )
    delivered = delivered_up_to(con, config)
    first = first_deliveries(con)
    parts = []
    con.register(MONTHS_TABLE, spine)
    try:
        for indicator in spc_indicators():
            counts = query_frame(con, monthly_sql(indicator))
            complete = {end: data_complete(indicator, end, config, delivered) for _, end in months}
            start = series_start(indicator, first, coverage[0])
            parts.append(
                spine.drop("period_type")
                .filter(pl.col("period_start") >= start)
                .join(counts, on=["period_start", "period_end"], how="left")
                .with_columns(
                    pl.lit(indicator.id).alias("indicator_id"),
                    pl.col("numerator", "denominator").fill_null(0),
                    pl.col("period_end")
                    .replace_strict(complete, return_dtype=pl.Boolean)
                    .alias("data_complete"),
                )
                .select(list(MONTHLY_SCHEMA))
                .cast(MONTHLY_SCHEMA)
            )
    finally:
        con.unregister(MONTHS_TABLE)
    return pl.concat(parts).sort("indicator_id", "period_end")
