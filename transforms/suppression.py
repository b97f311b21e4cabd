"""Rules 1 and 3 of disclosure control (indicators.md, "Disclosure control"; see
transforms/disclosure.py for the whole): which published rows are hidden, the small counts
first, then the complements within every partition, until no partition changes. Also the
NHS defaults (7 and 5) and the columns that group rows, one place for each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from diewell.transforms import statistics
from diewell.transforms.inequality import SII_BREAKDOWN

SUPPRESSION_THRESHOLD = 7  # counts 1-7 are never published


ROUNDING_MULTIPLE = 5  # published counts are multiples of 5


# statistic -> (count column, the smallest count the statistic has a value for)
MINIMUM_COUNTS = {
    "median": ("denominator", 10),
    "dsr": ("numerator", statistics.MIN_EVENTS_FOR_DSR),
}


GROUP_COLUMNS = (
    "indicator_id",
    "period_type",
    "period_end",
    "geography_level",
    "geography_code",
    "breakdown",
)


CATEGORY_COLUMN = "breakdown_value"


ALL_BREAKDOWN = "all"


COUNT_COLUMNS = ("numerator", "denominator")


STATISTIC_COLUMNS = statistics.STATISTIC_COLUMNS


DERIVED_COLUMNS = ("trend",)  # worked out from the row's published figures: hidden with them


TREND_KEYS = [
    "indicator_id",
    "period_type",
    "geography_level",
    "geography_code",
    "breakdown",
    CATEGORY_COLUMN,
]


QUINTILE_BREAKDOWN = "imd_quintile"


# A set of indicators sharing one denominator, one cell per indicator (rule 3b).
SHARED_DENOMINATOR_KEYS = (
    "period_type",
    "period_end",
    "geography_level",
    "geography_code",
    "breakdown",
    CATEGORY_COLUMN,
)


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


def _rounded(col: str, multiple: int) -> pl.Expr:
    return (pl.col(col) + multiple // 2) // multiple * multiple


def primary_suppression(df: pl.DataFrame, threshold: int) -> pl.Series:
    """Rule 1: rows with a count of 1 to threshold, or under their statistic's minimum."""
    small = pl.lit(False)
    for col in COUNT_COLUMNS:
        small = small | pl.col(col).is_between(1, threshold).fill_null(False)
    if "statistic" in df.columns:
        for statistic, (col, minimum) in MINIMUM_COUNTS.items():
            small = small | (
                (pl.col("statistic") == statistic) & pl.col(col).is_between(1, minimum - 1)
            ).fill_null(False)
    if "suppressed" in df.columns:
        small = small | pl.col("suppressed").fill_null(False)
    return df.select(small.alias("suppressed")).to_series()


class _Partitions:
    """The cells of one kind of partition in the order complements are chosen from: by
    partition, then non-empty first, then by `order` (a missing count after every count).

    The order does not depend on which cells are hidden: in a partition with exactly one
    hidden cell, the next smallest cell is its first unhidden one in this order. So the
    cells are sorted once, and each pass is a few array operations on them."""

    def __init__(self, cells: pl.DataFrame, groups: Sequence[str], order: Sequence[str]):
        columns = [*groups, "_empty", *order]
        ranked = cells.sort(columns, nulls_last=True).with_columns(
            pl.any_horizontal(
                (pl.int_range(pl.len()) == 0),
                *(pl.col(g).ne_missing(pl.col(g).shift(1)) for g in groups),
            )
            .cum_sum()
            .sub(1)
            .alias("_partition")
        )
        self.rows = ranked["_row"].to_numpy()
        self.partition = ranked["_partition"].to_numpy()
        self.cells = np.bincount(self.partition)

    def complements(self, hidden: np.ndarray) -> np.ndarray:
        """The rows to hide so that no partition of two or more cells is left with exactly
        one hidden cell: in each such partition, its first unhidden cell."""
        if not len(self.rows):
            return self.rows
        held = hidden[self.rows]
        in_partition = np.bincount(self.partition, weights=held, minlength=len(self.cells))
        single = (in_partition == 1) & (self.cells >= 2)
        candidates = single[self.partition] & ~held
        partition = self.partition[candidates]
        first = np.flatnonzero(np.diff(partition, prepend=-1) != 0)
        return self.rows[candidates][first]


def complementary_suppression(
    df: pl.DataFrame, suppressed: pl.Series, shared_denominators: Mapping[str, str]
) -> pl.Series:
    """Rule 3 over both kinds of partition, repeated until no partition has one hidden cell.

    `shared_denominators` maps an indicator id to the name of its shared-denominator set
    (PD01-PD05 -> place_of_death); indicators not named are in no such set.
    """
    work = df.select(*GROUP_COLUMNS, CATEGORY_COLUMN, *COUNT_COLUMNS).with_row_index("_row")
    work = work.with_columns(
        pl.col("indicator_id")
        .replace_strict(dict(shared_denominators), default=None, return_dtype=pl.String)
        .alias("_set")
    )
    breakdowns = work.filter(~pl.col("breakdown").is_in([ALL_BREAKDOWN, SII_BREAKDOWN]))
    breakdowns = breakdowns.with_columns((pl.col("denominator").fill_null(0) == 0).alias("_empty"))
    sets = work.filter(pl.col("_set").is_not_null() & (pl.col("breakdown") != SII_BREAKDOWN))
    sets = sets.with_columns((pl.col("numerator").fill_null(0) == 0).alias("_empty"))
    partitions = (
        _Partitions(breakdowns, GROUP_COLUMNS, ["denominator", "numerator", CATEGORY_COLUMN]),
        _Partitions(sets, ["_set", *SHARED_DENOMINATOR_KEYS], ["numerator", "indicator_id"]),
    )
    del work, breakdowns, sets

    hidden = suppressed.fill_null(False).to_numpy().copy()
    changed = True
    while changed:  # each pass hides cells only, so this ends within as many passes as rows
        changed = False
        for cells in partitions:
            new = cells.complements(hidden)
            if len(new):
                hidden[new] = True
                changed = True
    return pl.Series("suppressed", hidden)
