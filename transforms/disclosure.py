"""Statistical disclosure control of published rows (indicators.md "Disclosure control").

1. Small counts: a numerator or denominator of 1 to `threshold` suppresses its row - the
   counts, the value and the four interval limits become null, `comparison` becomes
   `not_compared`, and `suppressed` is true. A zero is published: 0 is not a small count.
   Where the numerator is not a count (medians, means) it is null and the denominator alone
   decides.
2. Rounding: published counts are rounded to the nearest `multiple`, ties up (a tie arises
   only for an even multiple). Values and intervals stay as computed from the exact counts.
3. Complementary suppression: within one indicator x period x geography x breakdown, if
   exactly one category is suppressed, the next smallest category (smallest denominator,
   then numerator, then breakdown_value) is suppressed too, so that the hidden cell cannot
   be recovered from the total and the published cells. Every other category of such a
   group is by definition unsuppressed, so one is always there to pick - unless the group
   has a single category (the `all` breakdown, say): then there is nothing to recover it
   from and nothing more is done. A category absent from the table is not published and
   needs no protection.
4. `threshold` and `multiple` are parameters defaulting to the NHS values below.

A row that arrives with `suppressed` true stays suppressed and counts as suppressed for
rule 3, so with the default parameters applying the control twice changes nothing more.
"""

from __future__ import annotations

import polars as pl

SUPPRESSION_THRESHOLD = 7  # counts 1-7 are never published
ROUNDING_MULTIPLE = 5  # published counts are multiples of 5

GROUP_COLUMNS = (
    "indicator_id",
    "period_type",
    "period_end",
    "geography_level",
    "geography_code",
    "breakdown",
)
CATEGORY_COLUMN = "breakdown_value"
COUNT_COLUMNS = ("numerator", "denominator")
STATISTIC_COLUMNS = ("value", "lower_95", "upper_95", "lower_99_8", "upper_99_8")
NOT_COMPARED = "not_compared"


def is_small(count: int | None, threshold: int = SUPPRESSION_THRESHOLD) -> bool:
    """True for a count that must not be published: 1 to threshold (0 and None are not)."""
    return count is not None and 1 <= count <= threshold


def round_to_multiple(count: int | None, multiple: int = ROUNDING_MULTIPLE) -> int | None:
    """The count rounded to the nearest multiple, ties up (None stays None)."""
    if count is None:
        return None
    _check_parameters(0, multiple)
    if count < 0:
        raise ValueError("counts must be non-negative")
    return (count + multiple // 2) // multiple * multiple


def _check_parameters(threshold: int, multiple: int) -> None:
    if threshold < 0:
        raise ValueError("the suppression threshold must be 0 or more")
    if multiple < 1:
        raise ValueError("the rounding multiple must be 1 or more")


def _small(col: str, threshold: int) -> pl.Expr:
    return pl.col(col).is_between(1, threshold).fill_null(False)


def _rounded(col: str, multiple: int) -> pl.Expr:
    return (pl.col(col) + multiple // 2) // multiple * multiple


def apply_disclosure_control(
    df: pl.DataFrame,
    *,
    threshold: int = SUPPRESSION_THRESHOLD,
    multiple: int = ROUNDING_MULTIPLE,
) -> pl.DataFrame:
    """Suppress small counts (and their complements) and round the published counts.

    Keeps the input's rows, row order and columns; `suppressed` is set (appended if absent).
    Statistic columns and `comparison` are handled where present; other columns pass through.
    """
    _check_parameters(threshold, multiple)
    required = [*GROUP_COLUMNS, CATEGORY_COLUMN, *COUNT_COLUMNS]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"disclosure control needs the columns {', '.join(missing)}")
    for col in COUNT_COLUMNS:
        if (df[col] < 0).any():
            raise ValueError("counts must be non-negative")
    groups = list(GROUP_COLUMNS)
    if df.select([*groups, CATEGORY_COLUMN]).is_duplicated().any():
        raise ValueError(
            "expected one row per indicator, period, geography, breakdown and breakdown value"
        )

    already = pl.col("suppressed").fill_null(False) if "suppressed" in df.columns else False
    primary = _small("numerator", threshold) | _small("denominator", threshold) | already

    # Rule 3: order each group with its suppressed rows first, then the rest from the
    # smallest; with exactly one suppressed row, the row at position 1 is its complement.
    ranked = (
        df.select(*groups, CATEGORY_COLUMN, *COUNT_COLUMNS, primary.alias("_primary"))
        .with_row_index("_row")
        .sort(
            ["_primary", "denominator", "numerator", CATEGORY_COLUMN],
            descending=[True, False, False, False],
            nulls_last=True,
            maintain_order=True,
        )
        .with_columns(
            pl.int_range(pl.len()).over(groups).alias("_position"),
            pl.col("_primary").sum().over(groups).alias("_n_primary"),
        )
    )
    complement = (pl.col("_n_primary") == 1) & (pl.col("_position") == 1)
    suppressed = (
        ranked.with_columns((pl.col("_primary") | complement).alias("_suppressed"))
        .sort("_row")
        .get_column("_suppressed")
        .alias("suppressed")
    )

    hide = pl.col("suppressed")
    out = df.with_columns(suppressed)
    updates = [
        pl.when(hide).then(None).otherwise(_rounded(col, multiple)).cast(df.schema[col]).alias(col)
        for col in COUNT_COLUMNS
    ]
    updates += [
        pl.when(hide).then(None).otherwise(pl.col(col)).alias(col)
        for col in STATISTIC_COLUMNS
        if col in df.columns
    ]
    if "comparison" in df.columns:
        updates.append(
            pl.when(hide)
            .then(pl.lit(NOT_COMPARED))
            .otherwise(pl.col("comparison"))
            .alias("comparison")
        )
    return out.with_columns(updates)
