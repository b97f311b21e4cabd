"""Comparison of each area with the ICS (indicators.md "Statistics", last point).

The comparator is the ICS row's value for the same indicator, period, breakdown and
breakdown value. The ICS value inside the area's 95% interval is `similar`; otherwise the
area is `higher` / `lower`, or `better` / `worse` where the indicator has a polarity. A row
without an interval, or without a comparator, is `not_compared`, and so is the ICS itself.
"""

from __future__ import annotations

import polars as pl

COMPARATOR_LEVEL = "ics"
COMPARATOR_COLUMN = "comparator_value"
COMPARATOR_KEYS = ("indicator_id", "period_type", "period_end", "breakdown", "breakdown_value")
NOT_COMPARED = "not_compared"
SIMILAR = "similar"
# polarity -> (word for an area above the comparator, word for one below it)
COMPARISON_WORDS = {
    "none": ("higher", "lower"),
    "higher_is_better": ("better", "worse"),
    "lower_is_better": ("worse", "better"),
}


def add_comparison(df: pl.DataFrame, comparators: pl.DataFrame | None = None) -> pl.DataFrame:
    """Set `comparator_value` and `comparison` from the rows' own values and 95% limits.

    Needs the key columns, geography_level, value, lower_95, upper_95 and polarity; row order
    is kept and existing comparator_value / comparison columns are replaced.

    `comparators`: for rows of some geographies without the ICS's own (a chunk of an
    indicator after the first), the ICS rows they are compared with: the key columns and
    `value`.
    """
    unknown = set(df["polarity"].unique().to_list()) - set(COMPARISON_WORDS)
    if unknown:
        raise ValueError(f"unknown polarity {sorted(map(str, unknown))}")
    keys = list(COMPARATOR_KEYS)
    at_comparator_level = pl.col("geography_level") == COMPARATOR_LEVEL
    if comparators is None:
        ics = df.filter(at_comparator_level)
    elif df.filter(at_comparator_level).height:
        raise ValueError("comparators are for rows without the ICS rows they quote")
    else:
        ics = comparators
    ics = ics.select(*keys, pl.col("value").alias(COMPARATOR_COLUMN))
    out = df.drop(COMPARATOR_COLUMN, "comparison", strict=False).join(
        ics, on=keys, how="left", nulls_equal=True, maintain_order="left"
    )
    above = pl.col("polarity").replace_strict({p: w[0] for p, w in COMPARISON_WORDS.items()})
    below = pl.col("polarity").replace_strict({p: w[1] for p, w in COMPARISON_WORDS.items()})
    comparator = pl.col(COMPARATOR_COLUMN)
    comparison = (
        pl.when(pl.col("geography_level") == COMPARATOR_LEVEL)
        .then(pl.lit(NOT_COMPARED))  # the ICS is the comparator itself
        .when(pl.col("lower_95").is_null() | pl.col("upper_95").is_null() | comparator.is_null())
        .then(pl.lit(NOT_COMPARED))
        .when(comparator.is_between(pl.col("lower_95"), pl.col("upper_95")))
        .then(pl.lit(SIMILAR))
        .when(pl.col("lower_95") > comparator)
        .then(above)
        .otherwise(below)
    )
    columns = [*df.columns, *(c for c in (COMPARATOR_COLUMN, "comparison") if c not in df.columns)]
    return out.with_columns(comparison.alias("comparison")).select(columns)
