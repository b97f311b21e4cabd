"""The recent-trend marker a point at a time: the scalar form of transforms.trend that the
vectorised add_trend is checked against (test-only code moved out of the product, issue 37)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from diewell.transforms.trend import (
    NOT_CALCULATED,
    POINTS,
    _check_statistic,
    _directions,
    _labels,
    _normalise_polarity,
)


def weighted_trend(
    values: Sequence[float], standard_errors: Sequence[float]
) -> tuple[float, float]:
    """Slope and chi2 of the 1/SE²-weighted regression of values on t = 1..k (Fingertips, rates).

    slope = Σ wₜ (t - t̄_w) vₜ / Σ wₜ (t - t̄_w)², var(slope) = 1 / Σ wₜ (t - t̄_w)²,
    chi2 = slope² / var(slope), with wₜ = 1 / SEₜ² and t̄_w = Σ wₜ t / Σ wₜ.
    """
    v = np.asarray(values, dtype=np.float64)
    w = 1 / np.asarray(standard_errors, dtype=np.float64) ** 2
    t = np.arange(1, v.size + 1, dtype=np.float64)
    t_bar = (w * t).sum() / w.sum()
    sxx = (w * (t - t_bar) ** 2).sum()
    slope = (w * (t - t_bar) * v).sum() / sxx
    return float(slope), float(slope**2 * sxx)


def recent_trend(
    numerators: Sequence[float | None],
    denominators: Sequence[float | None],
    *,
    statistic: str,
    polarity: str,
) -> str:
    """The recent-trend marker of one series (oldest -> newest; the last five points are used).

    statistic is "proportion" or "rate_per_100"; polarity "none", "higher is better" or
    "lower is better" (underscores accepted). Returns one of TREND_LABELS.
    """
    _check_statistic(statistic)
    polarity = _normalise_polarity(polarity)
    if len(numerators) != len(denominators):
        raise ValueError("numerators and denominators must give one figure per period")
    if len(numerators) < POINTS:
        return NOT_CALCULATED
    c = np.array([np.nan if v is None else v for v in numerators[-POINTS:]], dtype=np.float64)
    d = np.array([np.nan if v is None else v for v in denominators[-POINTS:]], dtype=np.float64)
    directions = _directions(
        c[np.newaxis, :], d[np.newaxis, :], np.array([statistic == "proportion"])
    )
    return _labels(directions, [polarity])[0]
