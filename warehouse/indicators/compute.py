"""Compute indicator values from the warehouse: periods, aggregation, statistics, comparison.

Each indicator is `warehouse/indicators/<ID>.sql`, a query returning one row per counted unit
(a decedent in a period, say) with the geography and breakdown columns of the cohort plus
`numerator` and `denominator`. This module aggregates every indicator at every geography
level and breakdown, adds the statistic's value and intervals, the comparison with the ICS
value, and `data_complete`. The exact figures go to `mart_indicator_values` in the warehouse;
disclosure control happens only at publication.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from diewell.expectations.contracts import load_contract
from diewell.transforms import statistics
from diewell.transforms.comparison import COMPARATOR_KEYS, COMPARATOR_LEVEL, add_comparison
from diewell.transforms.disclosure import TREND_KEYS
from diewell.transforms.inequality import SII_BREAKDOWN, add_sii_rows
from diewell.transforms.periods import reporting_periods
from diewell.transforms.trend import add_trend
from diewell.warehouse import GatheredInserts, fetch_one, query_frame
from diewell.warehouse.indicators.catalogue import (
    AGGREGATES,
    BREAKDOWN_COLUMNS,
    LEVELS,
    SNAPSHOT_TABLE,
    Indicator,
    catalogue,
)
from diewell.warehouse.indicators.schema import (
    COMPUTED_SCHEMA,
    MART_SCHEMA,
    OUTPUT_COLUMNS,
    SORT_KEYS,
)

if TYPE_CHECKING:
    from diewell.config import Config


def deaths_coverage(con: duckdb.DuckDBPyConnection) -> tuple[dt.date, dt.date] | None:
    """The days the loaded deaths deliveries cover: from the first day of the month of the
    earliest delivery's period end (deliveries are at least monthly) to the latest period
    end; None before any has loaded."""
    first, last = fetch_one(
        con,
        "SELECT min(period_end), max(period_end) FROM landing_files "
        "WHERE extract = 'deaths' AND status = 'loaded'",
    )
    return None if first is None else (first.replace(day=1), last)


def build_periods(con: duckdb.DuckDBPyConnection) -> int:
    """Write mart_periods from the span of loaded deaths deliveries; return how many periods."""
    coverage = deaths_coverage(con)
    periods = reporting_periods(*coverage) if coverage else []
    frame = pl.DataFrame(
        {
            "period_type": [p.period_type for p in periods],
            "period_start": [p.period_start for p in periods],
            "period_end": [p.period_end for p in periods],
        },
        schema={"period_type": pl.String, "period_start": pl.Date, "period_end": pl.Date},
    )
    con.register("periods_frame", frame)
    con.execute("CREATE OR REPLACE TABLE mart_periods AS SELECT * FROM periods_frame")
    con.unregister("periods_frame")
    return len(periods)


def aggregate_sql(indicator: Indicator, ics_code: str) -> str:
    """One GROUP BY per geography level and breakdown over the indicator's unit rows."""
    parts = []
    for level in indicator.levels:
        geo_col = LEVELS[level]
        for breakdown in indicator.breakdowns:
            col = BREAKDOWN_COLUMNS[breakdown]
            parts.append(
                f"""SELECT '{indicator.id}' AS indicator_id, period_type, period_start, period_end,
       '{level}' AS geography_level, {geo_col or repr(ics_code)} AS geography_code,
       '{breakdown}' AS breakdown, CAST({col or "'all'"} AS VARCHAR) AS breakdown_value,
       {AGGREGATES[indicator.statistic]}
FROM units GROUP BY ALL"""
            )
    return f"WITH units AS ({indicator.sql})\n" + "\nUNION ALL\n".join(parts)


def _geography_names(con: duckdb.DuckDBPyConnection, config: Config) -> pl.DataFrame:
    return query_frame(
        con,
        """
        SELECT 'ics' AS geography_level, ? AS geography_code, ? AS geography_name
        UNION ALL SELECT DISTINCT 'place', place_code, place_name FROM core_ref_lsoa
        UNION ALL SELECT DISTINCT 'pcn', pcn_code, pcn_name FROM core_ref_practice
        UNION ALL SELECT DISTINCT 'practice', gp_practice_code, practice_name FROM core_ref_practice
        """,
        [config.ics_code, config.ics_name],
    )


def delivered_up_to(
    con: duckdb.DuckDBPyConnection, config: Config
) -> dict[tuple[str, str], dt.date]:
    """(extract, provider) -> the latest period end it has a loaded delivery for."""
    rows = con.execute(
        "SELECT extract, provider, max(period_end) FROM landing_files WHERE status = 'loaded' GROUP BY ALL"
    ).fetchall()
    delivered = {(e, p): d for e, p, d in rows}
    return delivered


def data_complete(indicator: Indicator, period_end: dt.date, config: Config, delivered) -> bool:
    """True when every provider registered for the indicator's extracts has delivered up to
    period_end (and, for its follow-up extract, up to the end of the follow-up after it)."""
    for extract in indicator.source_extracts:
        if load_contract(extract).load == SNAPSHOT_TABLE:  # reference data: no period
            continue
        needed = period_end
        if indicator.follow_up and indicator.follow_up[0] == extract:
            needed = period_end + dt.timedelta(days=indicator.follow_up[1])
        for provider in config.providers_for(extract):
            last = delivered.get((extract, provider.code))
            if last is None or last < needed:
                return False
    return True


def add_statistics(df: pl.DataFrame, indicator: Indicator) -> pl.DataFrame:
    """The statistic's value and 95% / 99.8% limits (indicators.md "Statistics")."""
    if indicator.statistic == "proportion":
        return statistics.add_proportion_columns(df)
    if indicator.statistic == "rate_per_100":
        return statistics.add_rate_columns(df, multiplier=100)
    if indicator.statistic in ("mean", "median"):  # no interval
        value = (
            pl.col("value")
            if indicator.statistic == "median"
            else pl.when(pl.col("denominator") > 0).then(
                pl.col("numerator") / pl.col("denominator")
            )
        )
        return df.with_columns(value.cast(pl.Float64).alias("value")).with_columns(
            pl.lit(None, pl.Float64).alias(c) for c in statistics.STATISTIC_COLUMNS[1:]
        )
    if indicator.statistic == "percentage_of_time":  # HU07: no interval
        return statistics.add_percentage_of_time_columns(df)
    if indicator.statistic == "dsr":
        return _standardise(df)
    if indicator.statistic == "count":  # the count itself, no interval
        return df.with_columns(pl.col("numerator").cast(pl.Float64).alias("value")).with_columns(
            pl.lit(None, pl.Float64).alias(c) for c in statistics.STATISTIC_COLUMNS[1:]
        )
    raise ValueError(f"{indicator.id}: unknown statistic {indicator.statistic!r}")


def _standardise(by_band: pl.DataFrame) -> pl.DataFrame:
    """ESP2013 DSRs per area from one row per area x age band; no value unless every band has people."""
    groups = [c for c in by_band.columns if c not in ("esp_band", "numerator", "denominator")]
    std = pl.DataFrame(
        {"esp_band": list(statistics.ESP2013_BANDS), "std_pop": list(statistics.ESP2013)},
        schema={"esp_band": pl.String, "std_pop": pl.Float64},
    )
    bands = by_band.join(std, on="esp_band", how="inner")
    full = (
        bands.filter(pl.col("denominator") > 0)
        .group_by(groups)
        .agg(pl.len().alias("bands"))
        .filter(pl.col("bands") == len(statistics.ESP2013_BANDS))
        .drop("bands")
    )
    totals = by_band.group_by(groups).agg(
        pl.col("numerator").sum().cast(pl.Int64), pl.col("denominator").sum().cast(pl.Int64)
    )
    if full.height:
        rates = statistics.dsr_by_group(
            bands.join(full, on=groups, how="semi"),
            groups,
            count_col="numerator",
            pop_col="denominator",
            std_pop_col="std_pop",
        ).drop("total_count", "total_pop")
    else:
        rates = pl.DataFrame(
            schema={**{c: by_band.schema[c] for c in groups}}
            | {c: pl.Float64 for c in statistics.STATISTIC_COLUMNS}
        )
    return totals.join(rates, on=groups, how="left", nulls_equal=True)


# A part of the release holding more rows than this is cut into chunks by geography
# (geography_chunks), so that what disclosure control and the audit hold at once does not
# grow with the population: at 3M people the place-of-death set alone is 672,000 rows.
PART_ROWS = 250_000


def geography_chunks(rows: int) -> list[str]:
    """SQL conditions, on the rows of one part of the release (`rows` of them), that cut it
    into chunks of some PART_ROWS rows, every geography's rows in one chunk (by a hash of its
    level and code); ["TRUE"] when the part is no larger than PART_ROWS.

    Every rule of compute, disclosure control and the audit looks within one geography
    (release_parts), but for two that read the ICS's rows: the comparison with the ICS, and
    the SII (ICS rows alone). The ICS rows are in the first chunk, and the later chunks
    quote the first chunk's for their comparison."""
    chunks = -(-rows // PART_ROWS)
    if chunks <= 1:
        return ["TRUE"]
    ics = f"geography_level IS NOT DISTINCT FROM '{COMPARATOR_LEVEL}'"
    bucket = f"hash(geography_level, geography_code) % {chunks}"
    return [
        f"({ics} OR {bucket} = {b})" if b == 0 else f"(NOT {ics} AND {bucket} = {b})"
        for b in range(chunks)
    ]


def part_rows(con: duckdb.DuckDBPyConnection, table: str, part: Iterable[str]) -> int:
    """How many rows of `table` the indicators `part` have."""
    return fetch_one(
        con, f"SELECT count(*) FROM {table} WHERE list_contains(?, indicator_id)", [sorted(part)]
    )[0]


SII_UNITS = {"proportion": "percentage points", "rate_per_100": "per 100 (difference)"}


def deprivation_gap_rows(values: pl.DataFrame) -> pl.DataFrame:
    """The slope index of inequality across IMD quintiles at ICS level (breakdown imd_sii).

    As OHID's phe_sii: the fitted difference between the least and the most deprived end of
    the population, in the indicator's unit (percentage points for a proportion); negative
    when the value is higher in more deprived areas. Proportions and rates only.
    """
    ics = values.filter(
        (pl.col("geography_level") == "ics") & (pl.col("breakdown") == "imd_quintile")
    )
    rows = add_sii_rows(ics)
    if rows.height == 0:
        return pl.DataFrame(schema=COMPUTED_SCHEMA)
    rows = rows.with_columns(
        pl.col("statistic").replace_strict(SII_UNITS).alias("unit"),
        pl.lit("sii").alias("statistic"),
        pl.lit(None, pl.Float64).alias("comparator_value"),
        pl.lit("not_compared").alias("comparison"),
    )
    missing = [c for c in COMPUTED_SCHEMA if c not in rows.columns]
    return (
        rows.with_columns(pl.lit(None, pl.String).alias(c) for c in missing)
        .select(list(COMPUTED_SCHEMA))
        .cast(COMPUTED_SCHEMA)
    )


MART_BEING_COMPUTED = "mart_indicator_values_next"


def compute_indicator_values(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    run_id: str,
    only: Iterable[str] | None = None,
) -> int:
    """Every catalogued indicator (or those named in `only`: a spec test computes the one it
    checks), exact (no disclosure control), into mart_indicator_values; return how many rows
    it holds.

    One indicator at a time, to the end: its rows, statistics and comparison, its SII rows,
    its trend (every rule here looks within one indicator), geography names, in SORT_KEYS
    order, then into the mart, in id order, gathered to some 250,000 rows an INSERT
    (warehouse.GatheredInserts). An indicator with more aggregated rows than PART_ROWS is
    finished in chunks of geographies (indicator_chunks), each in SORT_KEYS order. Only one
    chunk's rows and working columns (the trend's lagged ones above all), and the rows
    gathered, are ever held, whatever the population: the tables themselves stay in DuckDB,
    under the run's memory limit (docs/OPERATIONS.md).

    The rows go into MART_BEING_COMPUTED, each INSERT committed, and that table replaces the
    mart in one short transaction at the end: a failed compute leaves the mart before it (and
    drops the new one). Not one transaction around every INSERT: DuckDB holds a
    transaction's uncommitted rows in memory outside its limit, some 320 bytes a row (at 3M
    people, 2,977,250 rows: a peak of 1,921 MiB against 972 MiB committed), which grows with
    the population.
    """
    names = _geography_names(con, config)
    delivered = delivered_up_to(con, config)
    rows = 0
    try:
        mart = GatheredInserts(con, MART_BEING_COMPUTED, create=True)
        chosen = catalogue() if only is None else [i for i in catalogue() if i.id in set(only)]
        for indicator in sorted(chosen, key=lambda i: i.id):
            for values in indicator_chunks(con, config, indicator, names, delivered, run_id):
                mart.add(values.to_arrow())
                rows += values.height
                del values
        mart.close()
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute("DROP TABLE IF EXISTS mart_indicator_values")
            con.execute(f"ALTER TABLE {MART_BEING_COMPUTED} RENAME TO mart_indicator_values")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    except BaseException:
        with suppress(duckdb.Error):  # the failure itself is what is raised
            con.execute(f"DROP TABLE IF EXISTS {MART_BEING_COMPUTED}")
        raise
    return rows


AGGREGATED_TABLE = "indicator_aggregated"  # one indicator's aggregated rows (a temporary table)


def indicator_chunks(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    indicator: Indicator,
    names: pl.DataFrame,
    delivered,
    run_id: str,
) -> Iterator[pl.DataFrame]:
    """One indicator's exact rows, every column of the mart, a chunk of geographies at a
    time (geography_chunks of its aggregated rows; one chunk when they are no more than
    PART_ROWS), each chunk in SORT_KEYS order.

    The aggregation runs once, into a temporary table that DuckDB holds under the run's
    memory limit. Every rule after it looks within one geography but for two that read the
    ICS's rows, the comparison with the ICS and the SII (ICS rows alone): the ICS rows are
    in the first chunk, finished there (SII, trend), and quoted by the later chunks for
    their comparison."""
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {AGGREGATED_TABLE} AS "
        + aggregate_sql(indicator, config.ics_code)
    )
    try:
        aggregated = fetch_one(con, f"SELECT count(*) FROM {AGGREGATED_TABLE}")[0]
        comparators = None  # after the first chunk, its ICS rows (not the SII's)
        for where in geography_chunks(aggregated):
            df = query_frame(con, f"SELECT * FROM {AGGREGATED_TABLE} WHERE {where}")
            finished = _finished_rows(
                df, config, indicator, names, delivered, run_id, comparators=comparators
            )
            del df
            if comparators is None:
                comparators = finished.filter(
                    (pl.col("geography_level") == COMPARATOR_LEVEL)
                    & (pl.col("breakdown") != SII_BREAKDOWN)
                ).select(*COMPARATOR_KEYS, "value")
            yield finished
            del finished
    finally:
        with suppress(duckdb.Error):  # a failure itself is what is raised
            con.execute(f"DROP TABLE IF EXISTS {AGGREGATED_TABLE}")


def _finished_rows(
    df: pl.DataFrame,
    config: Config,
    indicator: Indicator,
    names: pl.DataFrame,
    delivered,
    run_id: str,
    *,
    comparators: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """An indicator's aggregated rows (of some geographies, and the ICS's) finished:
    statistics, comparison, data_complete, SII rows, trend, geography names, in SORT_KEYS
    order.

    `comparators`: for rows without the ICS's (a chunk after the first), the ICS rows the
    comparison quotes (add_comparison)."""
    df = add_statistics(df, indicator).with_columns(pl.lit(indicator.polarity).alias("polarity"))
    df = add_comparison(df, comparators)
    complete = {
        d: data_complete(indicator, d, config, delivered)
        for d in df["period_end"].unique().to_list()
    }
    df = df.with_columns(
        pl.lit(indicator.name).alias("indicator_name"),
        pl.lit(indicator.unit).alias("unit"),
        pl.lit(indicator.statistic).alias("statistic"),
        pl.lit(indicator.polarity).alias("polarity"),
        pl.col("period_end")
        .replace_strict(complete, default=False, return_dtype=pl.Boolean)
        .alias("data_complete"),
    )
    df = df.with_columns(pl.lit(None, pl.String).alias("trend"))
    df = df.select(list(COMPUTED_SCHEMA)).cast(COMPUTED_SCHEMA)
    df = pl.concat([df, deprivation_gap_rows(df)], how="diagonal_relaxed")
    df = add_trend(df, keys=TREND_KEYS).select(list(COMPUTED_SCHEMA))
    df = df.join(names, on=["geography_level", "geography_code"], how="left").with_columns(
        pl.col("geography_name").fill_null(pl.col("geography_code")),
        pl.lit(False).alias("suppressed"),
        pl.lit(run_id).alias("run_id"),
    )
    return df.select(OUTPUT_COLUMNS[:-1]).cast(MART_SCHEMA).sort(SORT_KEYS)


def read_values(
    con: duckdb.DuckDBPyConnection,
    indicator_ids: Iterable[str] | None = None,
    columns: Iterable[str] | None = None,
    where: str = "TRUE",
) -> pl.DataFrame:
    """Exact rows of mart_indicator_values (those of `indicator_ids`, or all; `columns`, or
    all; those meeting the SQL condition `where`, such as one of geography_chunks), in
    SORT_KEYS order."""
    selected = ", ".join(columns) if columns is not None else "*"
    order = ", ".join(f"{k} NULLS FIRST" for k in SORT_KEYS)  # as Polars sorts
    if indicator_ids is None:
        return query_frame(
            con, f"SELECT {selected} FROM mart_indicator_values WHERE {where} ORDER BY {order}"
        )
    return query_frame(
        con,
        f"SELECT {selected} FROM mart_indicator_values WHERE list_contains(?, indicator_id) "
        f"AND {where} ORDER BY {order}",
        [sorted(set(indicator_ids))],
    )


def indicator_ids(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The indicators that have rows in mart_indicator_values, in id order."""
    rows = con.execute("SELECT DISTINCT indicator_id FROM mart_indicator_values").fetchall()
    return sorted(r[0] for r in rows)
