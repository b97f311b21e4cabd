"""OHID Fingertips "recent trend" markers over the last five data points.

What this follows
-----------------
The Fingertips trend-marker method, as published in the Fingertips technical guidance
("Fingertips trend markers", fingertips.phe.org.uk/static-reports/public-health-technical-
guidance/Presentation/Trend_markers.html) and as implemented in Fingertips' own calculator
(`TrendMarkerCalculator`, PholioVisualisation.Analysis.TrendMarkers, C#) and in the DHSC
port to R (`assign_trend_markers`, PHEindicatormethods: R/TrendMarkers.R, R/utils.R):

* The five most recent points, with time t = 1, 2, 3, 4, 5 (equally spaced, whatever the
  dates).
* Proportions: the chi-squared test for trend in proportions (Cochran-Armitage, no
  continuity correction; the statistic of R's `prop.trend.test`)::

      chi2 = D (D·Σcₜt - C·Σdₜt)² / (C (D - C) (D·Σdₜt² - (Σdₜt)²))

  with counts cₜ, denominators dₜ, C = Σcₜ and D = Σdₜ. This is the weighted regression of
  pₜ on t with weights dₜ / (p̄(1 - p̄)) using the *pooled* p̄ = C/D (not each point's own
  pₜ(1 - pₜ)); `chi_square_for_trend` computes it in that centred, numerically stable form.
  The direction is the sign of the ordinary least-squares slope of logit(pₜ) on t.
* Rates: weighted least squares of the value on t with weights 1/SE², where
  SE = (upper 95% - lower 95%) / (2 × 1.959964); chi2 = slope² / var(slope), with
  var(slope) = 1 / Σwₜ(t - t̄_w)².
* Significance: chi2 > 9.5495 (the 99.8% point of chi-squared on 1 degree of freedom).
* Stability ("outlier") check: the slope is recomputed leaving out each of the five points in
  turn (logit OLS slope for proportions, weighted slope for rates). A trend is declared only
  if all six slopes (all five points, and each set of four) have the same sign; otherwise the
  marker is "no significant change". As in both implementations, only the *direction* of the
  four-point slopes is checked, not their significance: a series that stays increasing but
  would not be significant on four points is still "increasing".
* Markers then combine the direction with the indicator's polarity.

Choices made here (where the sources are silent or the pipeline differs)
------------------------------------------------------------------------
* Rate SE: Fingertips takes the SE from the published 95% interval of each value. For
  `rate_per_100` the published interval is the crude-rate interval (exact below 10 events,
  Byar's from 10; `transforms.statistics.crude_rate`), so the SE is computed from exactly
  those limits. For counts of 10 and more this is close to the Poisson SE √x / n (x 100);
  unlike the bare Poisson variance it stays positive for a zero count, so a period with no
  events does not make the regression degenerate. The z is the exact normal quantile (as
  PHEindicatormethods' `qnorm`), not Fingertips' rounded 3.92 / 2.
* Proportions at 0% or 100% in some (not all) of the five points make logit(p) infinite. For
  the direction only, such a window uses the empirical logit log((c + 0.5) / (d - c + 0.5))
  for all five points. The chi-squared statistic is unaffected.
* "Could not be calculated": fewer than five points, a missing numerator or denominator, a
  zero denominator, or (proportions) all five at 0% or all at 100% (no variance: C = 0 or
  C = D). A rate series of all zeros is "no significant change".
* Fingertips tests only annual, non-overlapping periods. The pipeline applies the test to
  whatever five consecutive rows it is given (including overlapping rolling 12-month
  periods): the marker then describes those rows, and overlapping periods make it more likely
  to be significant than a test on independent periods would be.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from numpy.typing import NDArray
from scipy.stats import chi2

from diewell.transforms.statistics import Z_975, crude_rate

Array = NDArray[np.float64]

POINTS = 5
# 99.8% point of chi-squared on 1 df = 9.54953570608324 (Fingertips' ChiSquareConfidence).
CHI_SQUARE_THRESHOLD = float(chi2.ppf(0.998, 1))
TREND_STATISTICS = ("proportion", "rate_per_100")

TREND_LABELS = (
    "increasing",
    "decreasing",
    "no_significant_change",
    "increasing_and_getting_better",
    "increasing_and_getting_worse",
    "decreasing_and_getting_better",
    "decreasing_and_getting_worse",
    "could_not_be_calculated",
)
NOT_CALCULATED = "could_not_be_calculated"
NO_CHANGE = "no_significant_change"

# Direction (+1 increasing, -1 decreasing) -> marker, per polarity.
_MARKERS = {
    "none": {1: "increasing", -1: "decreasing"},
    "higher is better": {1: "increasing_and_getting_better", -1: "decreasing_and_getting_worse"},
    "lower is better": {1: "increasing_and_getting_worse", -1: "decreasing_and_getting_better"},
}

_T = np.arange(1, POINTS + 1, dtype=np.float64)
# Row 0 keeps all five points; row k (1..5) leaves out point k.
_SUBSETS = np.vstack([np.ones(POINTS), 1 - np.eye(POINTS)]).astype(bool)


def _normalise_polarity(polarity: str | None) -> str:
    """'higher_is_better', 'Higher is better (PCOC benchmark 90%)' -> 'higher is better'."""
    if polarity is None:
        return "none"
    text = " ".join(str(polarity).replace("_", " ").lower().split())
    for known in ("higher is better", "lower is better"):
        if text.startswith(known):
            return known
    if text == "none":
        return "none"
    raise ValueError(
        f"polarity must be 'none', 'higher is better' or 'lower is better' (got {polarity!r})"
    )


# --------------------------------------------------------------------------------------------
# The two tests on single series (documented building blocks, exposed for checking by hand)


def chi_square_for_trend(numerators: Sequence[float], denominators: Sequence[float]) -> float:
    """Chi-squared test for trend in proportions (Cochran-Armitage), time t = 1..k.

    chi2 = (Σ cₜ (t - t̄))² / (p̄ (1 - p̄) Σ dₜ (t - t̄)²), with p̄ = Σc / Σd and
    t̄ = Σ dₜ t / Σ dₜ; algebraically identical to Fingertips' uncentred formula. NaN when
    p̄ is 0 or 1 (no variance) or a denominator is not positive.
    """
    c = np.asarray(numerators, dtype=np.float64)[np.newaxis, :]
    d = np.asarray(denominators, dtype=np.float64)[np.newaxis, :]
    return float(_proportion_chi_square(c, d)[0])


# --------------------------------------------------------------------------------------------
# Vectorised core: one row per five-point window, columns oldest -> newest


def _proportion_chi_square(c: Array, d: Array) -> Array:
    t = np.arange(1, c.shape[1] + 1, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        total_d = d.sum(axis=1)
        p_bar = c.sum(axis=1) / total_d
        t_bar = (d * t).sum(axis=1) / total_d
        centred = t - t_bar[:, np.newaxis]
        score = (c * centred).sum(axis=1)
        variance = p_bar * (1 - p_bar) * (d * centred**2).sum(axis=1)
        result = score**2 / variance
    return np.where((variance > 0) & np.all(d > 0, axis=1), result, np.nan)


def _logit_slopes(c: Array, d: Array) -> Array:
    """OLS slopes of logit(p) on t for all five points and each leave-one-out set: (m, 6)."""
    boundary = np.any((c == 0) | (c == d), axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        logit = np.where(boundary, np.log((c + 0.5) / (d - c + 0.5)), np.log(c / (d - c)))
    slopes = np.empty((c.shape[0], len(_SUBSETS)))
    for k, keep in enumerate(_SUBSETS):
        t = _T[keep]
        centred = t - t.mean()
        slopes[:, k] = logit[:, keep] @ (centred / (centred**2).sum())
    return slopes


def _weighted_slopes(v: Array, se: Array) -> tuple[Array, Array]:
    """Weighted slopes for all five points and each leave-one-out set (m, 6), and chi2 (m,)."""
    w = 1 / se**2
    slopes = np.empty((v.shape[0], len(_SUBSETS)))
    chi_square = np.full(v.shape[0], np.nan)
    for k, keep in enumerate(_SUBSETS):
        wk, vk, t = w[:, keep], v[:, keep], _T[keep]
        t_bar = (wk * t).sum(axis=1, keepdims=True) / wk.sum(axis=1, keepdims=True)
        sxx = (wk * (t - t_bar) ** 2).sum(axis=1)
        slopes[:, k] = (wk * (t - t_bar) * vk).sum(axis=1) / sxx
        if k == 0:
            chi_square = slopes[:, 0] ** 2 * sxx
    return slopes, chi_square


def _directions(c: Array, d: Array, is_proportion: NDArray[np.bool_]) -> NDArray[np.int64]:
    """+1 / -1 for a significant, stable trend; 0 for no significant change; -2 not calculable."""
    m = c.shape[0]
    out = np.full(m, -2, dtype=np.int64)
    valid = np.all(np.isfinite(c) & np.isfinite(d) & (d > 0), axis=1)
    if np.any(valid & (c < 0).any(axis=1)):
        raise ValueError("counts must be non-negative")
    if np.any((valid & is_proportion)[:, np.newaxis] & (c > d)):
        raise ValueError("numerator must be <= denominator for a proportion")

    chi_square = np.full(m, np.nan)
    slopes = np.full((m, len(_SUBSETS)), np.nan)
    prop = valid & is_proportion
    if prop.any():
        chi_square[prop] = _proportion_chi_square(c[prop], d[prop])
        slopes[prop] = _logit_slopes(c[prop], d[prop])
    rate = valid & ~is_proportion
    if rate.any():
        x, n = c[rate], d[rate]
        value, lower, upper = crude_rate(x, n, 0.95, multiplier=100)
        se = (upper - lower) / (2 * Z_975)
        slopes[rate], chi_square[rate] = _weighted_slopes(value, se)

    calculable = valid & np.isfinite(chi_square)
    signs = np.where(slopes < 0, -1, 1)  # a zero slope counts as upward, as in Fingertips
    stable = np.abs(signs.sum(axis=1)) == len(_SUBSETS)
    significant = calculable & stable & (chi_square > CHI_SQUARE_THRESHOLD)
    out[calculable] = 0
    out[significant] = signs[significant, 0]
    return out


def _labels(directions: NDArray[np.int64], polarities: Sequence[str]) -> list[str]:
    labels = []
    for direction, polarity in zip(directions.tolist(), polarities, strict=True):
        if direction == -2:
            labels.append(NOT_CALCULATED)
        elif direction == 0:
            labels.append(NO_CHANGE)
        else:
            labels.append(_MARKERS[polarity][direction])
    return labels


def _check_statistic(statistic: str) -> None:
    if statistic not in TREND_STATISTICS:
        raise ValueError(
            f"statistic must be 'proportion' or 'rate_per_100' for a trend (got {statistic!r})"
        )


# --------------------------------------------------------------------------------------------
# Public API


def add_trend(df: pl.DataFrame, *, keys: list[str], order_by: str = "period_end") -> pl.DataFrame:
    """Add a string column `trend`: each row's marker over itself and the 4 previous rows.

    Rows are grouped by `keys` and ordered by `order_by`; a row with fewer than five rows so
    far in its group gets "could_not_be_calculated"; a row whose statistic is not a proportion
    or rate_per_100 gets null. Needs columns numerator, denominator, statistic, polarity.
    Row order is kept; an existing `trend` column is replaced.
    """
    lag = [f"__c{k}" for k in range(POINTS)]
    den = [f"__d{k}" for k in range(POINTS)]
    out = df.drop("trend", strict=False)
    # Only the columns the markers need are sorted. Sorted by group, a plain shift by up to
    # POINTS - 1 rows stays inside the group for every row that has POINTS - 1 rows before it
    # in its group, the only rows whose lags are read: no shift has to be over the groups.
    work = (
        out.select(*keys, order_by, "numerator", "denominator", "statistic", "polarity")
        .with_row_index("__row")
        .sort([*keys, order_by], maintain_order=True)
        .with_columns(
            *(
                pl.col("numerator").cast(pl.Float64).shift(POINTS - 1 - k).alias(lag[k])
                for k in range(POINTS)
            ),
            *(
                pl.col("denominator").cast(pl.Float64).shift(POINTS - 1 - k).alias(den[k])
                for k in range(POINTS)
            ),
            pl.int_range(pl.len()).over(keys).alias("__position"),
        )
    )
    statistic = work["statistic"].to_numpy()
    applies = np.isin(statistic, TREND_STATISTICS)
    enough = applies & (work["__position"].to_numpy() >= POINTS - 1)

    labels = np.full(work.height, None, dtype=object)
    labels[applies] = NOT_CALCULATED
    if enough.any():
        rows = work.filter(pl.Series(enough))
        c = rows.select(lag).fill_null(float("nan")).to_numpy().astype(np.float64)
        d = rows.select(den).fill_null(float("nan")).to_numpy().astype(np.float64)
        is_proportion = rows["statistic"].to_numpy() == "proportion"
        polarity_map = {p: _normalise_polarity(p) for p in rows["polarity"].unique().to_list()}
        polarities = [polarity_map[p] for p in rows["polarity"].to_list()]
        labels[enough] = _labels(_directions(c, d, is_proportion), polarities)

    in_row_order = np.empty(work.height, dtype=object)
    in_row_order[work["__row"].to_numpy()] = labels
    return out.with_columns(pl.Series("trend", in_row_order.tolist(), dtype=pl.String))
