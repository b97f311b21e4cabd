"""TODO docstring."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from diewell.transforms.disclosure import (
    ALL_BREAKDOWN,
    COMPARATOR_COLUMN,
    COMPARATOR_KEYS,
    COMPARATOR_LEVEL,
    COUNT_COLUMNS,
    DERIVED_COLUMNS,
    GROUP_COLUMNS,
    MINIMUM_COUNTS,
    NOT_COMPARED,
    QUINTILE_BREAKDOWN,
    QUINTILES,
    SHARED_DENOMINATOR_KEYS,
    SII_BREAKDOWN,
    STATISTIC_COLUMNS,
    TREND_KEYS,
    restate_from_rounded_counts,
    smallest_published_count,
)
from diewell.transforms.trend import add_trend
from diewell.warehouse import fetch_one
from diewell.warehouse.indicators.catalogue import shared_denominators
from diewell.warehouse.indicators.compute import indicator_ids, read_values
from diewell.warehouse.indicators.schema import PRIMARY_KEY

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class ExactRows:
    """The exact rows a release was made from, for its audit, a part at a time: the primary
    key, counts and statistics of each row before disclosure control."""

    source: str  # what holds them, as the audit's messages name it
    rows: int
    indicator_ids: tuple[str, ...]
    # the rows of some indicators that meet an SQL condition (one of geography_chunks)
    part: Callable[[tuple[str, ...], str], pl.DataFrame]

    @classmethod
    def of_mart(cls, con: duckdb.DuckDBPyConnection) -> ExactRows:
        """mart_indicator_values, each part read when it is audited."""
        columns = [*PRIMARY_KEY, *COUNT_COLUMNS, *STATISTIC_COLUMNS]
        return cls(
            source="mart_indicator_values",
            rows=fetch_one(con, "SELECT count(*) FROM mart_indicator_values")[0],
            indicator_ids=tuple(indicator_ids(con)),
            part=lambda ids, where: read_values(con, ids, columns, where),
        )

    @classmethod
    def of_frame(cls, frame: pl.DataFrame, source: str) -> ExactRows:
        """Exact rows held in memory (a regional release's sums)."""
        exact = frame.select(*PRIMARY_KEY, *COUNT_COLUMNS, *STATISTIC_COLUMNS)

        def part(ids: tuple[str, ...], where: str) -> pl.DataFrame:
            rows = exact.filter(pl.col("indicator_id").is_in(list(ids)))
            if where == "TRUE":
                return rows
            chunk = duckdb.connect()  # DuckDB's hash, as the staged rows were cut with
            try:
                chunk.register("exact_rows", rows)
                return chunk.sql(f"SELECT * FROM exact_rows WHERE {where}").pl()
            finally:
                chunk.close()

        return cls(
            source=source,
            rows=exact.height,
            indicator_ids=tuple(sorted(exact["indicator_id"].unique().to_list())),
            part=part,
        )


def disclosure_problems(
    published: pl.DataFrame,
    exact: pl.DataFrame,
    threshold: int,
    multiple: int,
    not_people: Collection[str] = (),
    comparators: pl.DataFrame | None = None,
) -> list[str]:
    """How the published rows break disclosure control v2, judged against the exact rows.

    The rows of `not_people` indicators (counts of staff or organisations) may show a count
    of 1 to threshold, rounded: rules 1 and 3 do not apply to them, rule 2 does.

    `comparators`: the published ICS rows that comparator values quote, when `published` is
    a chunk of geographies without them (indicators.geography_chunks); else its own.
    """
    problems = []
    compared = [*COUNT_COLUMNS, *STATISTIC_COLUMNS]
    rows = published.join(
        exact.rename({c: f"exact_{c}" for c in compared}).with_columns(pl.lit(True).alias("_in")),
        on=PRIMARY_KEY,
        how="left",
        nulls_equal=True,
    )
    if (n := rows["_in"].null_count()) > 0:
        problems.append(f"{n} published rows have no row in the warehouse")
        rows = rows.filter(pl.col("_in").is_not_null())
    shown = rows.filter(~pl.col("suppressed"))
    hidden = rows.filter(pl.col("suppressed"))
    smallest = smallest_published_count(threshold, multiple)

    def count(frame: pl.DataFrame, condition: pl.Expr) -> int:
        return frame.filter(condition.fill_null(False)).height

    # Rules 1 and 2: counts.
    of_people = shown.filter(~pl.col("indicator_id").is_in(list(not_people)))
    for c in COUNT_COLUMNS:
        exact_c = pl.col(f"exact_{c}")
        if n := count(of_people, exact_c.is_between(1, threshold)):
            problems.append(f"{n} published rows show a {c} whose true count is 1-{threshold}")
        rounded = (exact_c + multiple // 2) // multiple * multiple
        if n := count(shown, pl.col(c).ne_missing(rounded)):
            problems.append(
                f"{n} published {c}s are not the true count rounded to the nearest {multiple}"
            )
        if n := count(shown, pl.col(c) % multiple != 0):
            problems.append(f"{n} published {c}s are not multiples of {multiple}")
        if n := count(of_people, pl.col(c).is_between(1, smallest - 1)):
            problems.append(f"{n} published {c}s lie in 1-{smallest - 1}")
    for statistic, (c, minimum) in MINIMUM_COUNTS.items():
        below = (pl.col("statistic") == statistic) & pl.col(f"exact_{c}").is_between(1, minimum - 1)
        if n := count(shown, below):
            problems.append(f"{n} published {statistic} rows have a {c} under {minimum}")

    # Rule 2: every value and interval follows from the published counts (a median and a
    # DSR from the exact value, rounded as published).
    expected = restate_from_rounded_counts(
        shown.with_columns(
            pl.when(pl.col("statistic").is_in(list(MINIMUM_COUNTS)))
            .then(pl.col("exact_value"))
            .otherwise(pl.col("value"))
            .alias("value")
        )
    )
    differs = pl.any_horizontal(
        ((pl.col(c) - expected[c]).abs() > 1e-9 * (1 + expected[c].abs())).fill_null(False)
        | (pl.col(c).is_null() != expected[c].is_null())
        for c in STATISTIC_COLUMNS
    )
    if n := count(shown, differs):
        problems.append(
            f"{n} published values or intervals do not follow from the published counts"
        )

    withheld = [*compared, *(c for c in DERIVED_COLUMNS if c in rows.columns)]
    if n := count(hidden, pl.any_horizontal(pl.col(c).is_not_null() for c in withheld)):
        problems.append(f"{n} suppressed rows still carry counts, a value, an interval or a trend")
    if n := count(hidden, pl.col("comparison") != NOT_COMPARED):
        problems.append(f"{n} suppressed rows are still compared with the ICS")

    # Rule 4: comparator_value is the published value of the ICS row (null where hidden), and
    # the trend follows from the published counts.
    ics = (
        (rows if comparators is None else comparators)
        .filter(pl.col("geography_level") == COMPARATOR_LEVEL)
        .select(*COMPARATOR_KEYS, pl.col("value").alias("_ics_value"))
    )
    quoted = rows.filter(pl.col("breakdown") != SII_BREAKDOWN).join(
        ics, on=list(COMPARATOR_KEYS), how="left", nulls_equal=True
    )
    if n := count(quoted, pl.col(COMPARATOR_COLUMN).ne_missing(pl.col("_ics_value"))):
        problems.append(f"{n} rows quote a {COMPARATOR_COLUMN} that is not the published ICS value")
    trend = add_trend(published, keys=TREND_KEYS).with_columns(
        pl.when(pl.col("suppressed")).then(None).otherwise(pl.col("trend")).alias("trend")
    )
    if n := int(published["trend"].ne_missing(trend["trend"]).sum()):
        problems.append(f"{n} trend markers do not follow from the published counts")

    # Rule 3: no partition hides exactly one cell - the categories of a breakdown (nor one
    # non-empty category beside empty ones while the `all` row is published), and the
    # indicators sharing a denominator.
    area = [c for c in GROUP_COLUMNS if c != "breakdown"]
    totals = rows.filter(pl.col("breakdown") == ALL_BREAKDOWN).select(
        *area, pl.col("suppressed").alias("_total_hidden")
    )
    groups = (
        rows.filter(~pl.col("breakdown").is_in([ALL_BREAKDOWN, SII_BREAKDOWN]))
        .group_by(list(GROUP_COLUMNS))
        .agg(
            pl.len().alias("categories"),
            pl.col("suppressed").sum().alias("hidden"),
            (pl.col("suppressed") & (pl.col("exact_denominator").fill_null(0) > 0))
            .sum()
            .alias("hidden_non_empty"),
        )
        .join(totals, on=area, how="left", nulls_equal=True)
        .filter(pl.col("categories") >= 2)
    )
    if n := count(groups, pl.col("hidden") == 1):
        problems.append(f"{n} breakdown groups hide exactly one category")
    if n := count(
        groups,
        (pl.col("hidden") > 1)
        & (pl.col("hidden_non_empty") == 1)
        & ~pl.col("_total_hidden").fill_null(True),
    ):
        problems.append(f"{n} breakdown groups hide one non-empty category beside empty ones")
    sets = shared_denominators()
    shared = (
        rows.filter(pl.col("indicator_id").is_in(list(sets)))
        .with_columns(pl.col("indicator_id").replace_strict(sets).alias("_set"))
        .group_by(["_set", *SHARED_DENOMINATOR_KEYS])
        .agg(pl.len().alias("cells"), pl.col("suppressed").sum().alias("hidden"))
    )
    if n := count(shared, (pl.col("cells") >= 2) & (pl.col("hidden") == 1)):
        problems.append(f"{n} shared-denominator sets (such as PD01-PD05) hide exactly one cell")

    # The SII is derived from published quintiles only: all five must be published.
    hidden_quintile = (
        rows.filter(
            (pl.col("breakdown") == QUINTILE_BREAKDOWN)
            & pl.col("breakdown_value").is_in(QUINTILES)
            & pl.col("suppressed")
        )
        .select(area)
        .unique()
    )
    sii = rows.filter(pl.col("breakdown") == SII_BREAKDOWN).join(
        hidden_quintile, on=area, how="semi", nulls_equal=True
    )
    if n := count(sii, ~pl.col("suppressed")):
        problems.append(f"{n} SII rows are published beside a suppressed IMD quintile")
    return problems


_COUNTED = re.compile(r"^(\d+) (.*)$", re.S)


def summed_problems(parts: Iterable[list[str]]) -> list[str]:
    """The disclosure problems of several parts as one list: each text once, its counts
    summed."""
    totals: dict[str, int] = {}
    for problems in parts:
        for problem in problems:
            counted = _COUNTED.match(problem)
            if counted is None:  # every disclosure problem starts with its count
                raise ValueError(f"a disclosure problem without its count: {problem}")
            totals[counted[2]] = totals.get(counted[2], 0) + int(counted[1])
    return [f"{n} {text}" for text, n in totals.items()]
