"""Statistical disclosure control of published rows (indicators.md "Disclosure control").

Applied last, to the rows about to be published; never to the warehouse.

1. Small counts: a numerator or denominator of 1 to `threshold` suppresses its row - the
   counts, the value, the four interval limits and the trend marker (worked out from the
   value) become null, `comparison` becomes `not_compared`, and `suppressed` is true. A zero
   is published: 0 is not a small count. Where the numerator is not a count (medians) it is
   null and the denominator alone decides.
2. Rounding: published counts are rounded to the nearest `multiple`, ties up (a tie arises
   only for an even multiple). Values and intervals stay as computed from the exact counts.
3. Complementary suppression: within one indicator x period x geography x breakdown, if
   exactly one category is suppressed, the next smallest category is suppressed too, so that
   the hidden cell cannot be recovered by subtracting the published categories from the
   published total (the `all` row of the same indicator, period and geography). "Next
   smallest" is the unsuppressed category with the smallest denominator, then numerator, then
   breakdown_value, among the non-empty ones (denominator above 0): hiding an empty category
   beside the small one would hide nothing, as anyone would take its count to be 0. Only
   when every other category is empty is an empty one taken - and then the `all` row equals
   the small cell and is suppressed by rule 1 itself. A group with a single category (the
   `all` breakdown, say) needs nothing more. A category absent from the table is not
   published and needs no protection.
4. `threshold` and `multiple` are parameters defaulting to the NHS values below; the run
   takes them from the configuration (disclosure.suppress_up_to, disclosure.round_to).

The ICS figure repeated on other rows: `comparator_value` is the value of the ICS row with the
same indicator, period, breakdown and breakdown value. Where that ICS row is suppressed its
value must not reappear there, so `comparator_value` becomes null and `comparison`
`not_compared` on every row that quotes it. Where the ICS row is published, suppressed rows
still show it. (A table without the ICS row leaves `comparator_value` as it is.)

Slope index of inequality (breakdown `imd_sii`, breakdown_value `sii`): the row carries no
counts, so rules 1-3 leave it alone, but it is computed from the five IMD quintile rows of the
same indicator, period and geography; if any of those quintiles (`1`-`5`) is suppressed by
rule 1, the SII row is suppressed too, since with it and the other quintiles the hidden
quintile's value could be worked back. A quintile hidden only as a complement (rule 3) has no
small count and leaves the SII row published.

A row that arrives with `suppressed` true stays suppressed and counts as suppressed by rule 1,
so with the default parameters applying the control twice changes nothing more - except that a
second pass cannot tell a quintile hidden as a complement from one hidden by rule 1, and so
may also hide an SII row the first pass published.
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
DERIVED_COLUMNS = ("trend",)  # worked out from the row's value: hidden with it
NOT_COMPARED = "not_compared"
COMPARATOR_COLUMN = "comparator_value"  # the ICS row's value, quoted on every row
COMPARATOR_LEVEL = "ics"
COMPARATOR_KEYS = ("indicator_id", "period_type", "period_end", "breakdown", CATEGORY_COLUMN)

SII_BREAKDOWN = "imd_sii"  # one row per indicator x period x geography, no counts
QUINTILE_BREAKDOWN = "imd_quintile"
QUINTILES = ("1", "2", "3", "4", "5")  # the quintiles an SII is computed from


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


def smallest_published_count(
    threshold: int = SUPPRESSION_THRESHOLD, multiple: int = ROUNDING_MULTIPLE
) -> int:
    """The smallest non-zero count that can appear in a publication: threshold + 1, rounded.

    With the NHS defaults it is 10, so no published count lies in 1-7. Some settings round a
    publishable count back into 1-threshold (threshold 10, multiple 10: 11 is published as
    10); the publication is then still safe - the true count is over the threshold - but the
    published figure alone no longer shows it.
    """
    _check_parameters(threshold, multiple)
    return round_to_multiple(threshold + 1, multiple)


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
    Statistic columns, `trend`, `comparator_value` and `comparison` are handled where present;
    other columns pass through.
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
    empty = pl.col("denominator").fill_null(0) == 0

    # Rule 3: order each group with its suppressed rows first, then the non-empty rest from
    # the smallest, then the empty ones; with exactly one suppressed row, the row at
    # position 1 is its complement.
    ranked = (
        df.select(*groups, CATEGORY_COLUMN, *COUNT_COLUMNS, primary.alias("_primary"))
        .with_row_index("_row")
        .with_columns(empty.alias("_empty"))
        .sort(
            ["_primary", "_empty", "denominator", "numerator", CATEGORY_COLUMN],
            descending=[True, False, False, False, False],
            nulls_last=True,
            maintain_order=True,
        )
        .with_columns(
            pl.int_range(pl.len()).over(groups).alias("_position"),
            pl.col("_primary").sum().over(groups).alias("_n_primary"),
        )
    )
    complement = (pl.col("_n_primary") == 1) & (pl.col("_position") == 1)

    # The SII rule: a quintile suppressed by rule 1 suppresses the SII row of its
    # indicator, period and geography.
    area = [c for c in groups if c != "breakdown"]
    quintile_hidden = (
        (
            pl.col("_primary")
            & (pl.col("breakdown") == QUINTILE_BREAKDOWN)
            & pl.col(CATEGORY_COLUMN).is_in(QUINTILES)
        )
        .any()
        .over(area)
    )
    sii = (pl.col("breakdown") == SII_BREAKDOWN) & quintile_hidden

    suppressed = (
        ranked.with_columns((pl.col("_primary") | complement | sii).alias("_suppressed"))
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
        for col in (*STATISTIC_COLUMNS, *DERIVED_COLUMNS)
        if col in df.columns
    ]
    # The ICS value quoted as comparator goes wherever the ICS row itself is hidden.
    comparator_hidden = pl.lit(False)
    if COMPARATOR_COLUMN in df.columns:
        comparator_hidden = (
            (hide & (pl.col("geography_level") == COMPARATOR_LEVEL)).any().over(COMPARATOR_KEYS)
        )
        updates.append(
            pl.when(comparator_hidden)
            .then(None)
            .otherwise(pl.col(COMPARATOR_COLUMN))
            .alias(COMPARATOR_COLUMN)
        )
    if "comparison" in df.columns:
        updates.append(
            pl.when(hide | comparator_hidden)
            .then(pl.lit(NOT_COMPARED))
            .otherwise(pl.col("comparison"))
            .alias("comparison")
        )
    return out.with_columns(updates)
