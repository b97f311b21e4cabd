"""England, region and peer benchmarks beside the ICS's published rows (indicators.md v3).

A benchmarks table (the project's default England figures, or the ICS's own file named by the
config's `benchmarks:` key) has one row per published figure, with the columns
BENCHMARK_COLUMNS. `check_benchmarks` lists its problems; `attach_benchmarks` puts the
benchmarks beside the ICS-level rows of a release, as the long table `benchmarks.parquet`.

Which benchmark a published row gets, for each level (england, region, peer) and area:
- only ICS-level rows of breakdown `all` are benchmarked: public figures come for whole
  populations, not for one age band or quintile of them;
- of that indicator's benchmarks for the level and area, the one with the latest
  `period_end` on or before the row's `period_end`. The period type need not match: the public
  figures are mostly calendar years, and a calendar year is the public comparator for a
  rolling 12 months or a financial year alike. Only where two benchmarks end on that same day
  (a calendar year and a rolling 12 months to 31 December, say) does the one of the row's own
  period type win, then the first period type in alphabetical order;
- no benchmark ending on or before the row's period end: no benchmark row for that level and
  area (a later figure is never compared with an earlier period).

`benchmark_comparison` follows the comparison with the ICS (transforms.comparison), with the
benchmark value as the comparator and the row's published 95% interval: the benchmark inside
the interval (a limit counts as inside) is `similar`; otherwise the ICS is `higher` or
`lower` than the benchmark, or `better` / `worse` where the indicator has a polarity. A row
without an interval (suppressed, a median or a mean, HU07) or a benchmark without a value is
`not_compared`. The benchmark's own limits play no part, and no disclosure rule applies to
benchmarks: they are public figures.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection, Mapping

import polars as pl

from diewell.transforms.comparison import COMPARISON_WORDS, NOT_COMPARED, SIMILAR

BENCHMARK_COLUMNS = (
    "indicator_id",
    "period_type",
    "period_end",
    "area_level",
    "area_code",
    "area_name",
    "value",
    "lower_95",
    "upper_95",
    "source",
)
AREA_LEVELS = ("england", "region", "peer")  # also the order of the output rows
# diewell's own period types, and the calendar year most public figures are published for
PERIOD_TYPES = ("rolling_12m", "financial_year", "calendar_year")
BENCHMARKED_BREAKDOWN = "all"
PUBLISHED_LEVEL = "ics"
# One benchmark per indicator, period type, period end, level and area.
BENCHMARK_KEY = ("indicator_id", "period_type", "period_end", "area_level", "area_code")
NUMBER_COLUMNS = ("value", "lower_95", "upper_95")
OUTPUT_COLUMNS = (
    "indicator_id",
    "period_type",
    "period_end",
    "breakdown",
    "breakdown_value",
    "benchmark_level",
    "benchmark_area_code",
    "benchmark_area",
    "benchmark_period_type",
    "benchmark_period_end",
    "benchmark_value",
    "benchmark_comparison",
    "benchmark_source",
)
OUTPUT_SCHEMA = {
    "indicator_id": pl.String,
    "period_type": pl.String,
    "period_end": pl.Date,
    "breakdown": pl.String,
    "breakdown_value": pl.String,
    "benchmark_level": pl.String,
    "benchmark_area_code": pl.String,
    "benchmark_area": pl.String,
    "benchmark_period_type": pl.String,
    "benchmark_period_end": pl.Date,
    "benchmark_value": pl.Float64,
    "benchmark_comparison": pl.String,
    "benchmark_source": pl.String,
}
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def check_benchmarks(frame: pl.DataFrame, known_indicators: Collection[str]) -> list[str]:
    """The problems of a benchmarks table, each naming its row (1-based, data rows) and column.

    Read a benchmarks CSV as text (every column a string) or typed: both are checked the same.
    Columns beyond BENCHMARK_COLUMNS are allowed (an ICS may keep notes beside its figures).
    """
    missing = [column for column in BENCHMARK_COLUMNS if column not in frame.columns]
    if missing:
        return [
            f"the benchmarks table has no column {', '.join(missing)}; it needs the columns "
            f"{', '.join(BENCHMARK_COLUMNS)}"
        ]
    known = set(known_indicators)
    text = frame.select(pl.col(column).cast(pl.String) for column in BENCHMARK_COLUMNS)
    problems: list[str] = []
    first_row_of: dict[tuple[str, ...], int] = {}
    for number, row in enumerate(text.iter_rows(named=True), start=1):
        cells = {column: (row[column] or "").strip() for column in BENCHMARK_COLUMNS}

        def problem(column: str, what: str, number: int = number) -> None:
            problems.append(f"row {number}, column {column}: {what}")

        if cells["indicator_id"] not in known:
            problem("indicator_id", f"{cells['indicator_id']!r} is no indicator of the catalogue")
        if cells["period_type"] not in PERIOD_TYPES:
            problem(
                "period_type",
                f"{cells['period_type']!r} is none of {', '.join(PERIOD_TYPES)}",
            )
        period_end = _date(cells["period_end"])
        if period_end is None:
            problem("period_end", f"{cells['period_end']!r} is not a date written YYYY-MM-DD")
        if cells["area_level"] not in AREA_LEVELS:
            problem("area_level", f"{cells['area_level']!r} is none of {', '.join(AREA_LEVELS)}")
        for column in ("area_code", "area_name"):
            if not cells[column]:
                problem(column, "empty; every benchmark names its area")
        if not cells["source"]:
            problem("source", "empty; every benchmark names its publisher and the URL it is from")
        numbers: dict[str, float] = {}
        for column in NUMBER_COLUMNS:
            if not cells[column]:
                continue
            number_value = _number(cells[column])
            if number_value is None:
                problem(column, f"{cells[column]!r} is not a number (leave it empty if unknown)")
            else:
                numbers[column] = number_value
        value, low, high = (numbers.get(c) for c in ("value", "lower_95", "upper_95"))
        if bool(cells["lower_95"]) != bool(cells["upper_95"]):
            empty = "upper_95" if cells["lower_95"] else "lower_95"
            problem(empty, "empty while the other limit is not; give both limits or neither")
        if value is None:  # limits without a value: still lower <= upper
            if low is not None and high is not None and low > high:
                problem("lower_95", f"{low:g} is above upper_95 {high:g}")
        else:
            if low is not None and low > value:
                problem("lower_95", f"{low:g} is above the value {value:g}")
            if high is not None and value > high:
                problem("upper_95", f"{high:g} is below the value {value:g}")
        key = (
            cells["indicator_id"],
            cells["period_type"],
            period_end.isoformat() if period_end else cells["period_end"],
            cells["area_level"],
            cells["area_code"],
        )
        if key in first_row_of:
            problems.append(
                f"row {number} repeats row {first_row_of[key]}: the same indicator, period type, "
                f"period end, level and area ({' '.join(key)})"
            )
        else:
            first_row_of[key] = number
    return problems


def attach_benchmarks(
    rows: pl.DataFrame, benchmarks: pl.DataFrame, polarity: Mapping[str, str]
) -> pl.DataFrame:
    """One row per published ICS row of breakdown `all` x benchmark level x area (OUTPUT_COLUMNS).

    `rows`: published rows with at least indicator_id, period_type, period_end, breakdown,
    breakdown_value, lower_95, upper_95 and suppressed; with a geography_level column only its
    `ics` rows are used (without one, every row is taken to be the ICS's). `benchmarks`: a
    table that passes check_benchmarks. `polarity`: indicator id -> none / higher_is_better /
    lower_is_better, for every indicator of the benchmarked rows. `benchmark_area_code` and
    `benchmark_area` are the benchmark's area_code and area_name. Output is in the order of
    the rows, then england, region, peer.
    """
    published = rows.with_row_index("_row")
    if "geography_level" in published.columns:
        published = published.filter(pl.col("geography_level") == PUBLISHED_LEVEL)
    published = published.filter(pl.col("breakdown") == BENCHMARKED_BREAKDOWN).select(
        "_row",
        "indicator_id",
        "period_type",
        _as_date("period_end", published.schema),
        "breakdown",
        "breakdown_value",
        pl.col("lower_95").cast(pl.Float64),
        pl.col("upper_95").cast(pl.Float64),
        pl.col("suppressed").cast(pl.Boolean).fill_null(False),
    )
    indicators = set(published["indicator_id"].unique().to_list())
    missing = sorted(indicators - set(polarity))
    if missing:
        raise ValueError(f"no polarity given for {', '.join(missing)}")
    unknown = sorted({polarity[i] for i in indicators} - set(COMPARISON_WORDS))
    if unknown:
        raise ValueError(f"unknown polarity {', '.join(unknown)}")
    if published.is_empty():
        return pl.DataFrame(schema=OUTPUT_SCHEMA)

    bench = benchmarks.with_columns(pl.col(pl.String).str.strip_chars()).select(
        "indicator_id",
        pl.col("period_type").alias("benchmark_period_type"),
        _as_date("period_end", benchmarks.schema).alias("benchmark_period_end"),
        pl.col("area_level").alias("benchmark_level"),
        pl.col("area_code").alias("benchmark_area_code"),
        pl.col("area_name").alias("benchmark_area"),
        _as_number("value", benchmarks.schema).alias("benchmark_value"),
        pl.col("source").alias("benchmark_source"),
    )
    candidates = published.join(bench, on="indicator_id", how="inner").filter(
        pl.col("benchmark_period_end") <= pl.col("period_end")
    )
    own_type = pl.col("benchmark_period_type") == pl.col("period_type")
    latest = (
        candidates.with_columns(own_type.alias("_own_type"))
        .sort(
            ["benchmark_period_end", "_own_type", "benchmark_period_type"],
            descending=[True, True, False],
        )
        .group_by(["_row", "benchmark_level", "benchmark_area_code"], maintain_order=True)
        .first()
    )

    above = {i: COMPARISON_WORDS[polarity[i]][0] for i in indicators}
    below = {i: COMPARISON_WORDS[polarity[i]][1] for i in indicators}
    benchmark = pl.col("benchmark_value")
    comparison = (
        pl.when(
            pl.col("suppressed")
            | pl.col("lower_95").is_null()
            | pl.col("upper_95").is_null()
            | benchmark.is_null()
        )
        .then(pl.lit(NOT_COMPARED))
        .when(benchmark.is_between(pl.col("lower_95"), pl.col("upper_95")))
        .then(pl.lit(SIMILAR))
        .when(pl.col("lower_95") > benchmark)  # the ICS above the benchmark
        .then(pl.col("indicator_id").replace_strict(above))
        .otherwise(pl.col("indicator_id").replace_strict(below))
    )
    level_order = pl.col("benchmark_level").replace_strict(
        {level: n for n, level in enumerate(AREA_LEVELS)}, return_dtype=pl.Int32
    )
    return (
        latest.with_columns(comparison.alias("benchmark_comparison"), level_order.alias("_level"))
        .sort(["_row", "_level", "benchmark_area", "benchmark_area_code"])
        .select(OUTPUT_COLUMNS)
        .cast(OUTPUT_SCHEMA)
    )


def _date(text: str) -> dt.date | None:
    """`text` as a date if it is one written YYYY-MM-DD, else None."""
    if not ISO_DATE.fullmatch(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def _number(text: str) -> float | None:
    """`text` as a finite number, else None."""
    try:
        number = float(text)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _as_date(column: str, schema: pl.Schema) -> pl.Expr:
    """`column` as a Date: parsed when it is text (YYYY-MM-DD), truncated when a datetime."""
    dtype = schema[column]
    if dtype == pl.String:
        return pl.col(column).str.to_date("%Y-%m-%d")
    if isinstance(dtype, pl.Datetime):
        return pl.col(column).dt.date()
    return pl.col(column).cast(pl.Date)


def _as_number(column: str, schema: pl.Schema) -> pl.Expr:
    """`column` as a Float64: text is stripped and an empty cell is no value."""
    if schema[column] == pl.String:
        text = pl.col(column).str.strip_chars()
        return pl.when(text == "").then(None).otherwise(text).cast(pl.Float64)
    return pl.col(column).cast(pl.Float64)
