"""OHID statistics for indicators (indicators.md "Statistics"), as in UKHSA PHEindicatormethods.

One function per statistic, with an explicit numerator `x` and denominator `n`. The numpy
functions take scalars or array-likes, broadcast them, and return float64 arrays with NaN
where there is no value (a missing input, a zero denominator, a DSR on under 10 events). The
Polars helpers add the published columns and turn "no value" into null.

z is the exact normal quantile, `norm.ppf(confidence + (1 - confidence) / 2)`, as
PHEindicatormethods computes it with `qnorm`. The spec rounds z to 1.959964 and 3.090232; the
reference values in tests/reference match the exact quantile to about 2e-14 and the rounded
figures only to about 2e-7, so the rounded figures would fail the 1e-9 tolerance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from numpy.typing import ArrayLike, NDArray
from scipy.stats import chi2, norm

Array = NDArray[np.float64]

# The two published interval levels and the suffix of their column names.
CONFIDENCE_LEVELS = {"95": 0.95, "99_8": 0.998}
STATISTIC_COLUMNS = ("value", "lower_95", "upper_95", "lower_99_8", "upper_99_8")
# The 97.5% normal quantile (1.959964...), the z of a two-sided 95% interval: phe_sii's
# hard-coded z, and the trend's SE from a 95% interval.
Z_975 = float(norm.ppf(0.975))

# Below this many events a crude rate uses exact (chi-squared) limits, and a DSR has no value.
MIN_EVENTS_FOR_BYARS = 10
MIN_EVENTS_FOR_DSR = 10

# European Standard Population 2013, 5-year bands 0-4 ... 85-89 and 90+ (sums to 100,000).
ESP2013_BANDS = (
    "0-4",
    "5-9",
    "10-14",
    "15-19",
    "20-24",
    "25-29",
    "30-34",
    "35-39",
    "40-44",
    "45-49",
    "50-54",
    "55-59",
    "60-64",
    "65-69",
    "70-74",
    "75-79",
    "80-84",
    "85-89",
    "90+",
)
ESP2013 = (
    5000,
    5500,
    5500,
    5500,
    6000,
    6000,
    6500,
    7000,
    7000,
    7000,
    7000,
    6500,
    6000,
    5500,
    5000,
    4000,
    2500,
    1500,
    1000,
)


# --------------------------------------------------------------------------------------------
# Validation and z


def _z(confidence: float) -> float:
    """Two-sided normal quantile for a confidence level given as 0.95 or 0.998."""
    if not 0 < confidence < 1:
        raise ValueError(
            f"confidence must be a level between 0 and 1, such as 0.95 or 0.998 (got {confidence})"
        )
    return float(norm.ppf(confidence + (1 - confidence) / 2))


def _as_float(values: ArrayLike) -> Array:
    """Counts as float64; None becomes NaN (no value)."""
    return np.asarray(values, dtype=np.float64)


def _check_non_negative(*counts: Array) -> None:
    for count in counts:
        if np.any(count < 0):  # NaN compares False: a missing count is not an error
            raise ValueError("counts must be non-negative")


# --------------------------------------------------------------------------------------------
# Limit functions


def wilson_limits(x: ArrayLike, n: ArrayLike, confidence: float) -> tuple[Array, Array]:
    """Wilson score limits of the proportion x/n, as proportions (0-1); n = 0 gives NaN."""
    z = _z(confidence)
    x, n = np.broadcast_arrays(_as_float(x), _as_float(n))
    _check_non_negative(x, n)
    if np.any(x > n):
        raise ValueError("numerator must be <= denominator for a proportion")
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = z * np.sqrt(z**2 + 4 * x * (1 - x / n))
        lower = (2 * x + z**2 - spread) / (2 * (n + z**2))
        upper = (2 * x + z**2 + spread) / (2 * (n + z**2))
    # At x = 0 the lower limit is exactly 0 and at x = n the upper is exactly 1, but the
    # formula lands a rounding error either side (1 - 3e-16 would exclude the value 1).
    lower = np.where(x == 0, 0.0, np.clip(lower, 0.0, 1.0))
    upper = np.where(x == n, 1.0, np.clip(upper, 0.0, 1.0))
    no_value = ~(n > 0)
    lower = np.where(no_value, np.nan, lower)
    upper = np.where(no_value, np.nan, upper)
    return lower, upper


def byars_limits(x: ArrayLike, confidence: float) -> tuple[Array, Array]:
    """Byar's approximate Poisson limits for an observed count x.

    As in PHEindicatormethods, the lower limit is NaN where Byar's formula goes negative
    (very small counts at high confidence, and x = 0): use `exact_limits` for small counts.
    """
    z = _z(confidence)
    x = _as_float(x)
    _check_non_negative(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = x * (1 - 1 / (9 * x) - z / (3 * np.sqrt(x))) ** 3
        x1 = x + 1
        upper = x1 * (1 - 1 / (9 * x1) + z / (3 * np.sqrt(x1))) ** 3
    lower = np.where(lower >= 0, lower, np.nan)
    return lower, upper


def exact_limits(x: ArrayLike, confidence: float) -> tuple[Array, Array]:
    """Exact (chi-squared) Poisson limits for an observed count x; the lower limit is 0 at x = 0."""
    _z(confidence)  # validates the level
    x = _as_float(x)
    _check_non_negative(x)
    alpha = 1 - confidence
    # chi2.ppf costs far more than all else here, and a column of counts repeats its values:
    # it is evaluated once per distinct count (NaN, no count, is one of them).
    distinct, cell = np.unique(x, return_inverse=True)
    cell = cell.reshape(x.shape)
    with np.errstate(invalid="ignore"):
        lower = np.where(distinct == 0, 0.0, chi2.ppf(alpha / 2, 2 * distinct) / 2)
        upper = chi2.ppf(confidence + alpha / 2, 2 * distinct + 2) / 2
    return (
        np.asarray(lower, dtype=np.float64)[cell],
        np.asarray(upper, dtype=np.float64)[cell],
    )


# --------------------------------------------------------------------------------------------
# Statistics


def proportion(
    x: ArrayLike, n: ArrayLike, confidence: float, multiplier: float = 100
) -> tuple[Array, Array, Array]:
    """x/n with Wilson limits, all scaled by multiplier (percentages by default); n = 0 gives NaN."""
    lower, upper = wilson_limits(x, n, confidence)
    x, n = np.broadcast_arrays(_as_float(x), _as_float(n))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(n > 0, x / n, np.nan)
    return value * multiplier, lower * multiplier, upper * multiplier


def crude_rate(
    x: ArrayLike, n: ArrayLike, confidence: float, multiplier: float = 100
) -> tuple[Array, Array, Array]:
    """x events per multiplier of n: exact limits below 10 events, Byar's at 10 and over.

    n = 0 gives NaN. x may exceed n (a rate, not a proportion).
    """
    x, n = np.broadcast_arrays(_as_float(x), _as_float(n))
    _check_non_negative(x, n)
    lower, upper = byars_limits(x, confidence)
    small = x < MIN_EVENTS_FOR_BYARS
    if small.any():  # exact limits, only where they are used
        lower, upper = np.array(lower, dtype=np.float64), np.array(upper, dtype=np.float64)
        lower[small], upper[small] = exact_limits(x[small], confidence)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(n > 0, multiplier / n, np.nan)
    return x * scale, lower * scale, upper * scale


# HU07 (indicators.md v3): Public Health Scotland's half year, the days a decedent's last six
# months of life are taken to hold.
HALF_YEAR_DAYS = 182.5


def percentage_of_time(
    days: ArrayLike, people: ArrayLike, period_days: float = HALF_YEAR_DAYS
) -> Array:
    """The percentage of `people`'s `period_days` each spent out of hospital, given the days
    they spent in it: 100 - 100 x days / (people x period_days) (HU07, Public Health
    Scotland's measure). No interval. people = 0 gives NaN.

    Clipped to 0-100: published from rounded counts (disclosure rule 2), a handful of people
    with long stays can round to a day total above people x 182.5 (12 people and 2,184 days
    publish as 10 and 2,185: -19.7% unclipped); the exact value is within 0-100 unless spells
    overlap.
    """
    days, people = np.broadcast_arrays(_as_float(days), _as_float(people))
    _check_non_negative(days, people)
    if not period_days > 0:
        raise ValueError("the period must hold a positive number of days")
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(people > 0, 100 - 100 * days / (people * period_days), np.nan)
    return np.clip(value, 0.0, 100.0)


def _dobson(
    total_count: Array,
    weighted_sum: Array,
    squared_sum: Array,
    std_total: Array,
    confidence: float,
    multiplier: float,
) -> tuple[Array, Array, Array]:
    """DSR and Dobson limits from per-area sums (shared by `dsr` and `dsr_by_group`).

    weighted_sum = sum(x * w / n), squared_sum = sum(x * (w / n)^2), std_total = sum(w).
    """
    value = weighted_sum / std_total
    variance = squared_sum / std_total**2
    byars_lower, byars_upper = byars_limits(total_count, confidence)
    too_few = ~(total_count >= MIN_EVENTS_FOR_DSR)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = np.sqrt(variance / total_count)
        lower = value + spread * (byars_lower - total_count)
        upper = value + spread * (byars_upper - total_count)
    out = []
    for stat in (value, lower, upper):
        out.append(np.where(too_few, np.nan, stat * multiplier))
    return out[0], out[1], out[2]


def _check_dsr_inputs(counts: Array, pops: Array, std_pops: Array) -> None:
    _check_non_negative(counts)
    if not np.all(pops > 0):
        raise ValueError("populations must be greater than zero in every age band")
    if not np.all(std_pops >= 0):
        raise ValueError("standard populations must be non-negative in every age band")


def dsr(
    counts: ArrayLike,
    pops: ArrayLike,
    std_pops: ArrayLike,
    confidence: float,
    multiplier: float = 100_000,
) -> tuple[np.float64, np.float64, np.float64]:
    """Directly standardised rate of one area (arrays over age bands), Dobson method.

    Limits are Byar's limits on the total count, Dobson-adjusted. A missing band count
    counts as 0 (as PHEindicatormethods does). Under 10 events in total there is no value
    (NaN for all three), so the exact limits of small counts never arise here. Use ESP2013
    as std_pops for the ESP2013 bands.
    """
    _z(confidence)
    counts, pops, std_pops = (np.atleast_1d(_as_float(a)) for a in (counts, pops, std_pops))
    if counts.ndim != 1 or not (counts.shape == pops.shape == std_pops.shape):
        raise ValueError(
            "counts, populations and standard populations must give one figure per age band"
        )
    counts = np.nan_to_num(counts, nan=0.0)
    _check_dsr_inputs(counts, pops, std_pops)
    weights = std_pops / pops
    value, lower, upper = _dobson(
        np.array(counts.sum()),
        np.array((counts * weights).sum()),
        np.array((counts * weights**2).sum()),
        np.array(std_pops.sum()),
        confidence,
        multiplier,
    )
    return np.float64(value), np.float64(lower), np.float64(upper)


def dsr_by_group(
    df: pl.DataFrame,
    group_cols: str | Sequence[str],
    *,
    count_col: str = "count",
    pop_col: str = "pop",
    std_pop_col: str = "std_pop",
    multiplier: float = 100_000,
) -> pl.DataFrame:
    """DSRs for many areas at once: df has one row per group x age band.

    Returns one row per group (in order of first appearance) with the group columns,
    total_count, total_pop, value, lower_95, upper_95, lower_99_8, upper_99_8 (null where
    the total count is under 10). Same method as `dsr`.
    """
    groups = [group_cols] if isinstance(group_cols, str) else list(group_cols)
    _check_dsr_inputs(
        df[count_col].cast(pl.Float64).fill_null(0.0).to_numpy(),
        df[pop_col].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
        df[std_pop_col].cast(pl.Float64).fill_null(float("nan")).to_numpy(),
    )
    # Sums in a fixed order (numpy, sequentially per group), so that the same inputs in any
    # row order give bit-identical rates; a parallel group-by may add floats in any order.
    firsts = df.select(groups).unique(maintain_order=True).with_row_index("__group")
    keyed = (
        df.with_columns(
            pl.col(count_col).cast(pl.Float64).fill_nan(None).fill_null(0.0).alias("__count"),
            pl.col(pop_col).cast(pl.Float64).alias("__pop"),
            pl.col(std_pop_col).cast(pl.Float64).alias("__std"),
        )
        .join(firsts, on=groups, how="left", nulls_equal=True)
        .sort(["__group", "__std", "__pop", "__count"])
    )
    group = keyed["__group"].to_numpy()
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]]) if len(group) else group
    count, pop, std = (keyed[c].to_numpy() for c in ("__count", "__pop", "__std"))
    weight = std / pop

    def per_group(values: Array) -> Array:
        return np.add.reduceat(values, starts) if len(values) else values

    sums = firsts.drop("__group").with_columns(
        pl.Series("total_count", per_group(count), dtype=pl.Float64),
        pl.Series("total_pop", per_group(pop), dtype=pl.Float64),
        pl.Series("_weighted", per_group(count * weight), dtype=pl.Float64),
        pl.Series("_squared", per_group(count * weight**2), dtype=pl.Float64),
        pl.Series("_std_total", per_group(std), dtype=pl.Float64),
    )
    args = [sums[c].to_numpy() for c in ("total_count", "_weighted", "_squared", "_std_total")]
    columns = {}
    for suffix, confidence in CONFIDENCE_LEVELS.items():
        value, lower, upper = _dobson(*args, confidence, multiplier)
        columns["value"] = value
        columns[f"lower_{suffix}"] = lower
        columns[f"upper_{suffix}"] = upper
    return sums.drop("_weighted", "_squared", "_std_total").with_columns(
        pl.Series(name, columns[name], dtype=pl.Float64).fill_nan(None)
        for name in STATISTIC_COLUMNS
    )


# --------------------------------------------------------------------------------------------
# Polars helpers for the pipeline


def _counts(df: pl.DataFrame, col: str) -> Array:
    """A count column as float64 with NaN for null."""
    return df[col].cast(pl.Float64).fill_null(float("nan")).to_numpy()


def _with_statistic_columns(df: pl.DataFrame, statistic, x_col, n_col, multiplier):
    x, n = _counts(df, x_col), _counts(df, n_col)
    columns = {}
    for suffix, confidence in CONFIDENCE_LEVELS.items():
        value, lower, upper = statistic(x, n, confidence, multiplier)
        columns["value"] = value
        columns[f"lower_{suffix}"] = lower
        columns[f"upper_{suffix}"] = upper
    return df.with_columns(
        pl.Series(name, columns[name], dtype=pl.Float64).fill_nan(None)
        for name in STATISTIC_COLUMNS
    )


def add_proportion_columns(
    df: pl.DataFrame,
    x_col: str = "numerator",
    n_col: str = "denominator",
    multiplier: float = 100,
) -> pl.DataFrame:
    """Add value, lower_95, upper_95, lower_99_8, upper_99_8 (Wilson, percent by default).

    A null count or a zero denominator gives nulls. Existing columns of those names are
    replaced in place.
    """
    return _with_statistic_columns(df, proportion, x_col, n_col, multiplier)


def add_rate_columns(
    df: pl.DataFrame,
    x_col: str = "numerator",
    n_col: str = "denominator",
    multiplier: float = 100,
) -> pl.DataFrame:
    """Add value, lower_95, upper_95, lower_99_8, upper_99_8 as crude rates per multiplier.

    A null count or a zero denominator gives nulls. Existing columns of those names are
    replaced in place.
    """
    return _with_statistic_columns(df, crude_rate, x_col, n_col, multiplier)


def add_percentage_of_time_columns(
    df: pl.DataFrame, x_col: str = "numerator", n_col: str = "denominator"
) -> pl.DataFrame:
    """Set value to `percentage_of_time` of the day total x_col over the people n_col, and the
    four limits to null (it has no interval). A null count gives null."""
    value = percentage_of_time(_counts(df, x_col), _counts(df, n_col))
    return df.with_columns(
        pl.Series("value", value, dtype=pl.Float64).fill_nan(None),
        *(pl.lit(None, pl.Float64).alias(name) for name in STATISTIC_COLUMNS[1:]),
    )
