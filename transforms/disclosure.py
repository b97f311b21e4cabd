"""Statistical disclosure control of published rows (indicators.md "Disclosure control", v2).

The promise: no published figure, alone or combined with any other figures of the same
release, tells more than its rounded counts, and no count of 1 to `threshold` people can be
worked out from a release. Applied last, to the rows about to be published; never to the
warehouse, which keeps the exact figures.

1. Small counts. A numerator or denominator of 1 to `threshold` suppresses its row: counts,
   value, the four limits, trend and comparator become null, `comparison` is `not_compared`
   and `suppressed` is true. 0 is not a small count and is published. A statistic that has
   no value below a minimum count is suppressed there too, as a small count would be
   (MINIMUM_COUNTS): a median over fewer than 10 people, a DSR of fewer than 10 deaths.
   Publishing its rounded count without a value would tell that the exact count lay below
   the minimum, which is finer than the rounded count.
2. Rounding. Published counts are rounded to the nearest `multiple` (ties up), and every
   value and limit is recomputed from the rounded counts with its statistic's method
   (`restate_from_rounded_counts`), so inverting any of them gives back the rounded counts
   and nothing finer. A mean is the rounded sum over the rounded denominator; a percentage
   of time (HU07) is 100 - 100 x the rounded day total / (the rounded people x 182.5); a median is
   rounded to whole days; a DSR (which needs the exact age-band counts) is rounded to one
   decimal place and its limits are Byar's limits on the rounded total count O, scaled to
   the published rate: DSR x O_lower / O and DSR x O_upper / O (Dobson's limits with the
   variance taken as DSR^2 / O, the only form that uses no figure finer than O).
3. Complementary suppression within every partition, repeated until no partition changes:
   where exactly one cell of a partition is suppressed, the next smallest cell is
   suppressed too. The partitions are (a) the categories of one breakdown of one indicator,
   period and geography (they sum to its `all` row), and (b) each set of indicators that
   share a denominator and whose numerators sum to it (the place-of-death set PD01-PD05),
   for one period, geography, breakdown and breakdown value. A cell hidden in one partition
   can leave another with a single hidden cell, hence the repetition: each pass settles the
   breakdowns, then the shared-denominator sets, until a pass hides nothing more. "Next smallest" is the
   unsuppressed cell with the smallest count (denominator then numerator for a breakdown;
   numerator for a shared-denominator set), among the non-empty ones first: hiding an empty
   cell beside the small one would hide nothing, as anyone would take it to be 0.
4. Derived figures use published figures only: the comparison with the ICS is made from the
   published values and intervals (`transforms.comparison`), the trend marker from the
   published counts of the periods (a suppressed period leaves the marker
   `could_not_be_calculated`), and the SII from the published IMD quintile rows; an SII row
   is suppressed when any of its five quintiles is.
5. `threshold` and `multiple` are parameters defaulting to the NHS values below; the run
   takes them from the configuration (disclosure.suppress_up_to, disclosure.round_to).

A day total is a count under rule 1 as a count of people is: HU04's and HU07's numerators
(bed days) of 1 to `threshold` suppress their rows, as their denominators (people) do. At
most that many people spent any day in hospital, and a handful of people with long stays
is as identifiable as a handful of people; rule 3 then treats their breakdowns as any other.

Counts that are not of people (indicators.md v2: ED01 attendances, ED02 care homes): the
indicators named in `not_people` count staff and organisations, so rules 1 and 3 do not
apply to their rows (a count of 1 to `threshold` is published, rounded, and their rows are
neither hidden nor used as complements); rule 2 does: counts are rounded and values restated
from them. A `count` statistic's value is its rounded numerator; it has no denominator and
no interval.

A row that arrives with `suppressed` true stays suppressed and counts as suppressed by rule 1.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np
import polars as pl

from diewell.transforms import statistics
from diewell.transforms.comparison import (
    COMPARATOR_COLUMN,
    COMPARATOR_KEYS,
    COMPARATOR_LEVEL,
    NOT_COMPARED,
    add_comparison,
)
from diewell.transforms.inequality import QUINTILES, SII_BREAKDOWN, add_sii_rows
from diewell.transforms.suppression import (
    ALL_BREAKDOWN,
    CATEGORY_COLUMN,
    COUNT_COLUMNS,
    DERIVED_COLUMNS,
    GROUP_COLUMNS,
    MINIMUM_COUNTS,
    QUINTILE_BREAKDOWN,
    ROUNDING_MULTIPLE,
    SHARED_DENOMINATOR_KEYS,
    STATISTIC_COLUMNS,
    SUPPRESSION_THRESHOLD,
    TREND_KEYS,
    _check_parameters,
    _rounded,
    complementary_suppression,
    is_small,
    primary_suppression,
    round_to_multiple,
    smallest_published_count,
)
from diewell.transforms.trend import add_trend

MEDIAN_DECIMALS = 0  # medians are published to whole days
DSR_DECIMALS = 1  # DSRs are published to one decimal place


# --------------------------------------------------------------------------------------------
# Rules 1 and 3: which rows are suppressed


# --------------------------------------------------------------------------------------------
# Rule 2: values and intervals from the rounded counts


def restate_from_rounded_counts(df: pl.DataFrame) -> pl.DataFrame:
    """Recompute value and limits of every row from its (already rounded) counts.

    By `statistic`: proportion (Wilson, percent), rate_per_100 (crude rate), mean (sum over
    denominator, no interval), percentage_of_time (HU07, no interval), median (to whole days, no interval), dsr (one decimal
    place, limits from the rounded total count) and count (the rounded numerator). Rows of other statistics (sii) and rows
    with null counts keep their columns as they are.
    """
    if df.height == 0:
        return df
    parts = [
        _restated(part, statistic)
        for (statistic,), part in df.with_row_index("_row").group_by(
            "statistic", maintain_order=True
        )
    ]
    return pl.concat(parts, how="vertical_relaxed").sort("_row").select(df.columns)


def _restated(part: pl.DataFrame, statistic: str) -> pl.DataFrame:
    if statistic == "proportion":
        return statistics.add_proportion_columns(part)
    if statistic == "rate_per_100":
        return statistics.add_rate_columns(part, multiplier=100)
    if statistic == "mean":
        mean = pl.when(pl.col("denominator") > 0).then(pl.col("numerator") / pl.col("denominator"))
        return part.with_columns(mean.cast(pl.Float64).alias("value"))
    if statistic == "percentage_of_time":  # HU07: from the rounded day total and people
        return statistics.add_percentage_of_time_columns(part)
    if statistic == "median":
        return part.with_columns(_half_up(pl.col("value"), MEDIAN_DECIMALS).alias("value"))
    if statistic == "dsr":
        return _dsr_from_rounded_total(part)
    if statistic == "count":  # the rounded count itself, no interval
        return part.with_columns(pl.col("numerator").cast(pl.Float64).alias("value"))
    return part


def _half_up(value: pl.Expr, decimals: int) -> pl.Expr:
    """Round half up (2.5 -> 3) to the given decimals; Python's round() would go to even."""
    scale = 10.0**decimals
    return (value * scale + 0.5).floor() / scale


def _dsr_from_rounded_total(part: pl.DataFrame) -> pl.DataFrame:
    value = part.select(_half_up(pl.col("value"), DSR_DECIMALS)).to_series().to_numpy()
    total = part["numerator"].cast(pl.Float64).fill_null(float("nan")).to_numpy()
    columns = {"value": value}
    for suffix, confidence in statistics.CONFIDENCE_LEVELS.items():
        lower, upper = statistics.byars_limits(total, confidence)
        with np.errstate(divide="ignore", invalid="ignore"):
            columns[f"lower_{suffix}"] = value * lower / total
            columns[f"upper_{suffix}"] = value * upper / total
    return part.with_columns(
        pl.Series(name, columns[name], dtype=pl.Float64).fill_nan(None)
        for name in STATISTIC_COLUMNS
    )


# --------------------------------------------------------------------------------------------
# Rule 4: derived figures from published figures


def _sii_from_published(published: pl.DataFrame, sii_rows: pl.DataFrame) -> pl.DataFrame:
    """The SII rows recomputed from the published quintile rows; suppressed if one is."""
    area = [c for c in GROUP_COLUMNS if c != "breakdown"]
    # Only the areas with an SII row: each SII simulates 100,000 draws.
    quintiles = published.filter(
        (pl.col("breakdown") == QUINTILE_BREAKDOWN) & pl.col(CATEGORY_COLUMN).is_in(QUINTILES)
    ).join(sii_rows.select(area).unique(), on=area, how="semi", nulls_equal=True)
    hidden = quintiles.group_by(area).agg(
        pl.col("suppressed").any().alias("_quintile_hidden"),
        pl.len().alias("_quintiles"),
    )
    shown = quintiles.join(
        hidden.filter(~pl.col("_quintile_hidden") & (pl.col("_quintiles") == len(QUINTILES))),
        on=area,
        how="semi",
        nulls_equal=True,
    )
    out = sii_rows
    if "statistic" in published.columns:  # recompute from the published quintiles
        recomputed = add_sii_rows(shown).select(*area, *STATISTIC_COLUMNS)
        out = out.drop(*STATISTIC_COLUMNS, strict=False).join(
            recomputed, on=area, how="left", nulls_equal=True, maintain_order="left"
        )
    out = out.join(
        hidden.select(*area, "_quintile_hidden"), on=area, how="left", nulls_equal=True
    ).with_columns(
        (pl.col("_quintile_hidden").fill_null(False) | pl.col("suppressed").fill_null(False)).alias(
            "suppressed"
        )
    )
    return out.select(sii_rows.columns)


def apply_disclosure_control(
    df: pl.DataFrame,
    *,
    threshold: int = SUPPRESSION_THRESHOLD,
    multiple: int = ROUNDING_MULTIPLE,
    shared_denominators: Mapping[str, str] | None = None,
    not_people: Collection[str] = (),
    comparators: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """The published copy of exact indicator rows: rules 1-4 (module docstring).

    `not_people` names the indicators whose counts are not of people: rules 1 and 3 skip
    their rows (a row of theirs arriving suppressed stays suppressed).

    `comparators`: for rows of some geographies without the ICS's (a chunk of a part, the
    ICS's rows controlled in another), the ICS rows as published, which the comparison
    quotes; they are not controlled again nor returned. Every rule but the comparison looks
    within one geography, and the SII rows are the ICS's, so the chunk's rows come out as
    they would from the whole part.

    Keeps the input's rows, row order and columns; `suppressed` is set (appended if absent).
    Where the table has `statistic`, values and limits are recomputed from the rounded
    counts; where it also has `polarity`, the comparison with the ICS is recomputed from the
    published figures; `trend` is recomputed from the published counts where present.
    """
    _check_parameters(threshold, multiple)
    required = [*GROUP_COLUMNS, CATEGORY_COLUMN, *COUNT_COLUMNS]
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"disclosure control needs the columns {', '.join(missing)}")
    for col in COUNT_COLUMNS:
        if (df[col] < 0).any():
            raise ValueError("counts must be non-negative")
    if df.select([*GROUP_COLUMNS, CATEGORY_COLUMN]).is_duplicated().any():
        raise ValueError(
            "expected one row per indicator, period, geography, breakdown and breakdown value"
        )
    at_comparator_level = pl.col("geography_level") == COMPARATOR_LEVEL
    if comparators is not None and df.filter(at_comparator_level).height:
        raise ValueError("comparators are for rows without the ICS rows they quote")
    columns = df.columns if "suppressed" in df.columns else [*df.columns, "suppressed"]
    work = df.with_row_index("_order")
    if "suppressed" not in work.columns:
        work = work.with_columns(pl.lit(False).alias("suppressed"))
    is_sii = pl.col("breakdown") == SII_BREAKDOWN
    rows, sii_rows = work.filter(~is_sii), work.filter(is_sii)

    exempt = rows["indicator_id"].is_in(list(not_people))
    arrived_hidden = rows["suppressed"].fill_null(False)
    primary = primary_suppression(rows, threshold)
    primary = (primary & ~exempt) | (arrived_hidden & exempt)
    hidden = complementary_suppression(rows, primary, shared_denominators or {})
    hidden = (hidden & ~exempt) | (arrived_hidden & exempt)
    rows = rows.with_columns(hidden.alias("suppressed"))
    rows = rows.with_columns(
        pl.when(pl.col("suppressed"))
        .then(None)
        .otherwise(_rounded(col, multiple))
        .cast(df.schema[col])
        .alias(col)
        for col in COUNT_COLUMNS
    )
    if "statistic" in rows.columns and "value" in rows.columns:
        rows = restate_from_rounded_counts(rows)
    if sii_rows.height:
        sii_rows = _sii_from_published(rows, sii_rows)
    published = pl.concat([rows, sii_rows], how="vertical_relaxed").sort("_order")

    hide = pl.col("suppressed")
    published = published.with_columns(
        pl.when(hide).then(None).otherwise(pl.col(c)).alias(c)
        for c in (*COUNT_COLUMNS, *STATISTIC_COLUMNS)
        if c in published.columns
    )
    if "trend" in published.columns and "statistic" in published.columns:
        published = add_trend(published, keys=TREND_KEYS)
    published = published.with_columns(
        pl.when(hide).then(None).otherwise(pl.col(c)).alias(c)
        for c in DERIVED_COLUMNS
        if c in published.columns
    )
    if comparators is not None:  # the ICS rows quoted (no `_order`), for the comparison only
        quoted = comparators.filter(at_comparator_level & ~is_sii).select(
            *COMPARATOR_KEYS, "geography_level", "value", "suppressed"
        )
        if "polarity" in published.columns:  # the words are the quoting rows' polarity
            quoted = quoted.with_columns(pl.lit("none").alias("polarity"))
        published = pl.concat([published, quoted], how="diagonal_relaxed")
    if {COMPARATOR_COLUMN, "comparison", "polarity", "lower_95"} <= set(published.columns):
        not_sii = published.filter(~is_sii)
        published = pl.concat(
            [
                add_comparison(not_sii),
                published.filter(is_sii).with_columns(
                    pl.lit(None, pl.Float64).alias(COMPARATOR_COLUMN),
                    pl.lit(NOT_COMPARED).alias("comparison"),
                ),
            ],
            how="vertical_relaxed",
        ).sort("_order")
    else:  # no polarity to compare with: hide what quotes a hidden figure
        ics_hidden = (
            (hide & (pl.col("geography_level") == COMPARATOR_LEVEL)).any().over(COMPARATOR_KEYS)
        )
        if COMPARATOR_COLUMN in published.columns:
            published = published.with_columns(
                pl.when(ics_hidden)
                .then(None)
                .otherwise(pl.col(COMPARATOR_COLUMN))
                .alias(COMPARATOR_COLUMN)
            )
        if "comparison" in published.columns:
            published = published.with_columns(
                pl.when(hide | ics_hidden)
                .then(pl.lit(NOT_COMPARED))
                .otherwise(pl.col("comparison"))
                .alias("comparison")
            )
    if comparators is not None:
        published = published.filter(pl.col("_order").is_not_null())
    return published.select(columns).cast({c: df.schema[c] for c in df.columns})


__all__ = [
    "ALL_BREAKDOWN",
    "CATEGORY_COLUMN",
    "COMPARATOR_COLUMN",
    "COMPARATOR_KEYS",
    "COMPARATOR_LEVEL",
    "COUNT_COLUMNS",
    "DERIVED_COLUMNS",
    "GROUP_COLUMNS",
    "MINIMUM_COUNTS",
    "NOT_COMPARED",
    "QUINTILE_BREAKDOWN",
    "QUINTILES",
    "SHARED_DENOMINATOR_KEYS",
    "TREND_KEYS",
    "ROUNDING_MULTIPLE",
    "SII_BREAKDOWN",
    "STATISTIC_COLUMNS",
    "SUPPRESSION_THRESHOLD",
    "apply_disclosure_control",
    "complementary_suppression",
    "is_small",
    "primary_suppression",
    "published_count",
    "restate_from_rounded_counts",
    "round_to_multiple",
    "smallest_published_count",
]


def published_count(
    count: int | None, threshold: int = SUPPRESSION_THRESHOLD, multiple: int = ROUNDING_MULTIPLE
) -> int | None:
    """A single count as rules 1 and 2 publish it: None for 1 to threshold, else rounded."""
    _check_parameters(threshold, multiple)
    if count is None or is_small(count, threshold):
        return None
    return round_to_multiple(count, multiple)


# Re-exported: the constants and rules 1 and 3 live in transforms/suppression.py.
__all__ = [
    "ALL_BREAKDOWN",
    "CATEGORY_COLUMN",
    "COUNT_COLUMNS",
    "DERIVED_COLUMNS",
    "GROUP_COLUMNS",
    "MINIMUM_COUNTS",
    "QUINTILE_BREAKDOWN",
    "ROUNDING_MULTIPLE",
    "SHARED_DENOMINATOR_KEYS",
    "STATISTIC_COLUMNS",
    "SUPPRESSION_THRESHOLD",
    "TREND_KEYS",
    "apply_disclosure_control",
    "complementary_suppression",
    "is_small",
    "primary_suppression",
    "published_count",
    "restate_from_rounded_counts",
    "round_to_multiple",
    "smallest_published_count",
]
