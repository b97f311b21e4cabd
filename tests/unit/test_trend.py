"""Fingertips recent-trend markers (transforms.trend).

Expected figures are worked by hand in the comments, or come from `reference_marker` below:
an independent, loop-by-loop transcription of Fingertips' own C# calculator
(PholioVisualisation TrendMarkerCalculator: uncentred sums, its hard-coded Σt and NΣt² for
the logit slopes) with limits from the spec's formulas, not from transforms.statistics.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import chi2 as chi2_dist

from diewell.transforms.trend import (
    CHI_SQUARE_THRESHOLD,
    TREND_LABELS,
    add_trend,
    chi_square_for_trend,
)
from diewell.warehouse.indicators.schema import dtypes
from tests.unit.trend_reference import recent_trend, weighted_trend

REL = 1e-9
N100 = [100] * 5


def test_labels_and_threshold():
    assert set(TREND_LABELS) == {
        "increasing",
        "decreasing",
        "no_significant_change",
        "increasing_and_getting_better",
        "increasing_and_getting_worse",
        "decreasing_and_getting_better",
        "decreasing_and_getting_worse",
        "could_not_be_calculated",
    }
    # Fingertips' ChiSquareConfidence constant: the 99.8% point of chi-squared on 1 df.
    assert CHI_SQUARE_THRESHOLD == pytest.approx(9.54953570608324, rel=1e-12)


# --------------------------------------------------------------------------------------------
# The chi-squared statistic, by hand


def test_chi_square_for_trend_equal_denominators_by_hand():
    # c = 10, 15, 20, 25, 30 of d = 100 each, t = 1..5.
    # Fingertips: D = 500, C = 100, Σct = 10+30+60+100+150 = 350, Σdt = 1500, Σdt² = 5500.
    #   D·Σct - C·Σdt = 175000 - 150000 = 25000
    #   chi2 = 500 × 25000² / (100 × 400 × (500 × 5500 - 1500²))
    #        = 3.125e11 / (40000 × 500000) = 3.125e11 / 2e10 = 15.625
    # Check via the regression form: p̄ = 0.2, Σd(p - p̄)(t - 3) = 100 × (0.2+0.05+0+0.05+0.2) = 50,
    #   Σd(t - 3)² = 1000, chi2 = 50² / (0.2 × 0.8 × 1000) = 2500 / 160 = 15.625.
    assert chi_square_for_trend([10, 15, 20, 25, 30], N100) == pytest.approx(15.625, rel=REL)


def test_chi_square_for_trend_unequal_denominators_by_hand():
    # c = 5, 12, 9, 20, 18; d = 50, 80, 60, 100, 90; t = 1..5.
    # D = 380, C = 64, Σct = 5+24+27+80+90 = 226, Σdt = 50+160+180+400+450 = 1240,
    # Σdt² = 50+320+540+1600+2250 = 4760.
    #   D·Σct - C·Σdt = 85880 - 79360 = 6520;  numerator = 380 × 6520² = 16,153,952,000
    #   C(D - C) = 64 × 316 = 20224;  D·Σdt² - (Σdt)² = 1,808,800 - 1,537,600 = 271,200
    #   denominator = 20224 × 271200 = 5,484,748,800
    #   chi2 = 16153952000 / 5484748800 = 2524055 / 856992 = 2.9452491...
    value = chi_square_for_trend([5, 12, 9, 20, 18], [50, 80, 60, 100, 90])
    assert value == pytest.approx(2524055 / 856992, rel=REL)


def test_chi_square_for_trend_small_n_by_hand():
    # c = 1..5 of 10: p̄ = 0.3, Σd(p - p̄)(t - 3) = 10 × (0.4+0.1+0+0.1+0.4) = 10,
    # Σd(t - 3)² = 100, chi2 = 10² / (0.3 × 0.7 × 100) = 100 / 21 = 4.7619 (< 9.5495).
    assert chi_square_for_trend([1, 2, 3, 4, 5], [10] * 5) == pytest.approx(100 / 21, rel=REL)


def test_chi_square_for_trend_flat_and_degenerate():
    assert chi_square_for_trend([20] * 5, N100) == 0.0  # flat: every p = p̄
    assert math.isnan(chi_square_for_trend([0] * 5, N100))  # p̄ = 0: no variance
    assert math.isnan(chi_square_for_trend(N100, N100))  # p̄ = 1: no variance


def test_weighted_trend_by_hand():
    # v = 1..5, SE = 1: w = 1, t̄ = 3, Σw(t - 3)² = 10, slope = Σ(t - 3)v / 10 = 10/10 = 1,
    # var(slope) = 1/10, chi2 = 1² × 10 = 10.
    slope, chi_square = weighted_trend([1, 2, 3, 4, 5], [1] * 5)
    assert slope == pytest.approx(1.0, rel=REL)
    assert chi_square == pytest.approx(10.0, rel=REL)
    # v = 2, 1, 4, 3, 5, SE = 1: slope = (-4 - 1 + 0 + 3 + 10) / 10 = 0.8, chi2 = 0.64 × 10 = 6.4.
    slope, chi_square = weighted_trend([2, 1, 4, 3, 5], [1] * 5)
    assert slope == pytest.approx(0.8, rel=REL)
    assert chi_square == pytest.approx(6.4, rel=REL)
    # v = 1..5, SE = 1, 1, 1, 1, 2: w = 1, 1, 1, 1, 0.25 (the points lie on a line: slope 1).
    # Fingertips' sums: S1 = 4.25, St = 11.25, Stt = 36.25;
    # var(slope) = S1 / (S1·Stt - St²) = 4.25 / (154.0625 - 126.5625) = 4.25 / 27.5,
    # chi2 = 1 / var = 27.5 / 4.25 = 110/17 = 6.470588...
    slope, chi_square = weighted_trend([1, 2, 3, 4, 5], [1, 1, 1, 1, 2])
    assert slope == pytest.approx(1.0, rel=REL)
    assert chi_square == pytest.approx(110 / 17, rel=REL)


# --------------------------------------------------------------------------------------------
# Markers on hand-worked series

RISING = [10, 15, 20, 25, 30]  # of 100: chi2 = 15.625 > 9.5495, every logit slope positive
FALLING = RISING[::-1]  # chi2 = 15.625 again (t reversed), every logit slope negative


@pytest.mark.parametrize(
    "numerators, polarity, expected",
    [
        (RISING, "none", "increasing"),
        (RISING, "higher is better", "increasing_and_getting_better"),
        (RISING, "lower is better", "increasing_and_getting_worse"),
        (FALLING, "none", "decreasing"),
        (FALLING, "higher is better", "decreasing_and_getting_worse"),
        (FALLING, "lower is better", "decreasing_and_getting_better"),
        # the pipeline's spellings and the spec's annotated polarity are accepted
        (RISING, "lower_is_better", "increasing_and_getting_worse"),
        (RISING, "higher is better (PCOC benchmark 90%)", "increasing_and_getting_better"),
    ],
)
def test_significant_proportion_trends_with_polarity(numerators, polarity, expected):
    assert recent_trend(numerators, N100, statistic="proportion", polarity=polarity) == expected


def test_flat_series_is_no_significant_change():
    # chi2 = 0 (every p equals p̄ = 0.2)
    assert recent_trend([20] * 5, N100, statistic="proportion", polarity="none") == (
        "no_significant_change"
    )


def test_small_n_series_is_not_significant():
    # p rises 10% -> 50% but on 10 people a period: chi2 = 100/21 = 4.76 < 9.5495.
    assert recent_trend([1, 2, 3, 4, 5], [10] * 5, statistic="proportion", polarity="none") == (
        "no_significant_change"
    )


def test_outlier_that_reverses_direction_is_no_significant_change():
    # p = 0.30, 0.29, 0.28, 0.27 then 0.60, n = 1000 each.
    # chi2: p̄ = 1740/5000 = 0.348; Σn(p - p̄)(t - 3) = 1000 × (0.096 + 0.058 + 0 - 0.078 + 0.504)
    #   = 580; Σn(t - 3)² = 10000; chi2 = 580² / (0.348 × 0.652 × 10000) = 148.26: significant.
    # logits: -0.847298, -0.895384, -0.944462, -0.994623, 0.405465
    #   all five: slope = Σ(t - 3)L / 10 = (1.694596 + 0.895384 - 0.994623 + 0.810930)/10 = +0.2406
    #   without point 5: slope = Σ(t - 2.5)L / 5
    #     = (1.270947 + 0.447692 - 0.472231 - 1.491935)/5 = -0.0491  (opposite sign)
    # One leave-one-out slope changes sign, so Fingertips declares no trend.
    n = [1000] * 5
    c = [300, 290, 280, 270, 600]
    assert chi_square_for_trend(c, n) == pytest.approx(336400 / (0.348 * 0.652 * 10000), rel=REL)
    assert recent_trend(c, n, statistic="proportion", polarity="none") == "no_significant_change"


def test_stability_check_is_on_direction_not_significance():
    # RISING without its last point: c = 10, 15, 20, 25 of 100, t = 1..4:
    # p̄ = 0.175, Σd(p - p̄)(t - 2.5) = 100 × (0.1125 + 0.0125 + 0.0125 + 0.1125) = 25,
    # Σd(t - 2.5)² = 500, chi2 = 625 / (0.175 × 0.825 × 500) = 625 / 72.1875 = 8.658 < 9.5495.
    # Four points would not be significant, but every four-point slope is still positive, and
    # Fingertips (C# and PHEindicatormethods) checks only the direction: still "increasing".
    assert chi_square_for_trend(RISING[:4], N100[:4]) == pytest.approx(625 / 72.1875, rel=REL)
    assert recent_trend(RISING, N100, statistic="proportion", polarity="none") == "increasing"


def test_zero_proportions_in_some_periods_still_give_a_direction():
    # c = 0, 0, 5, 10, 20 of 100: C = 35, p̄ = 0.07,
    # Σd(p - p̄)(t - 3) = 100 × (0.14 + 0.07 + 0 + 0.03 + 0.26) = 50, Σd(t - 3)² = 1000,
    # chi2 = 2500 / (0.07 × 0.93 × 1000) = 38.40; logit(0) is infinite, so the direction uses
    # log((c + 0.5)/(d - c + 0.5)), which rises monotonically: every slope is positive.
    c = [0, 0, 5, 10, 20]
    assert chi_square_for_trend(c, N100) == pytest.approx(2500 / 65.1, rel=REL)
    assert recent_trend(c, N100, statistic="proportion", polarity="lower is better") == (
        "increasing_and_getting_worse"
    )


def test_only_the_last_five_points_are_used():
    # 90% and 80% in the first two periods would reverse the trend; only RISING counts.
    numerators = [90, 80, *RISING]
    assert recent_trend(numerators, [100] * 7, statistic="proportion", polarity="none") == (
        "increasing"
    )


@pytest.mark.parametrize(
    "numerators, denominators",
    [
        (RISING[:4], N100[:4]),  # fewer than five points
        ([10, None, 20, 25, 30], N100),  # missing numerator
        (RISING, [100, 100, None, 100, 100]),  # missing denominator
        (RISING, [100, 100, 0, 100, 100]),  # zero denominator
        ([0] * 5, N100),  # all 0%: no variance
        (N100, N100),  # all 100%: no variance
        ([10, float("nan"), 20, 25, 30], N100),  # NaN counts as missing
    ],
)
def test_could_not_be_calculated(numerators, denominators):
    assert recent_trend(numerators, denominators, statistic="proportion", polarity="none") == (
        "could_not_be_calculated"
    )


def test_rates_with_large_counts():
    # 10, 12, 14, 16, 18 per 100 on 1000 people: SE ≈ √x / 10 ≈ 1.0 to 1.35 per 100, slope 2
    # per period, chi2 ≈ 2² × Σw(t - t̄)² ≈ 4 × 10 / 1.4 ≈ 29 > 9.5495.
    n = [1000] * 5
    rising = [100, 120, 140, 160, 180]
    assert recent_trend(rising, n, statistic="rate_per_100", polarity="none") == "increasing"
    assert recent_trend(rising, n, statistic="rate_per_100", polarity="lower_is_better") == (
        "increasing_and_getting_worse"
    )
    assert recent_trend(rising[::-1], n, statistic="rate_per_100", polarity="lower is better") == (
        "decreasing_and_getting_better"
    )


def test_rates_may_exceed_one_per_person_and_handle_zero_counts():
    # A rate is not a proportion: 1500 admissions among 1000 people is fine.
    n = [1000] * 5
    assert recent_trend(
        [1100, 1200, 1300, 1400, 1500], n, statistic="rate_per_100", polarity="none"
    ) == ("increasing")
    # All zero: slope 0 with finite (exact-limit) SEs, chi2 = 0.
    assert recent_trend([0] * 5, n, statistic="rate_per_100", polarity="none") == (
        "no_significant_change"
    )


def test_invalid_arguments():
    with pytest.raises(ValueError, match="statistic"):
        recent_trend(RISING, N100, statistic="median", polarity="none")
    with pytest.raises(ValueError, match="polarity"):
        recent_trend(RISING, N100, statistic="proportion", polarity="sideways")
    with pytest.raises(ValueError, match="numerator must be <= denominator"):
        recent_trend([10, 15, 200, 25, 30], N100, statistic="proportion", polarity="none")
    with pytest.raises(ValueError, match="one figure per period"):
        recent_trend(RISING, N100[:4], statistic="proportion", polarity="none")


# --------------------------------------------------------------------------------------------
# Against an independent transcription of Fingertips' calculator


def _byars(x, z):
    lower = x * (1 - 1 / (9 * x) - z / (3 * math.sqrt(x))) ** 3
    upper = (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * math.sqrt(x + 1))) ** 3
    return lower, upper


def _exact(x):
    lower = 0.0 if x == 0 else chi2_dist.ppf(0.025, 2 * x) / 2
    return lower, chi2_dist.ppf(0.975, 2 * x + 2) / 2


def reference_marker(counts, denominators, statistic):
    """Fingertips' TrendMarkerCalculator, transcribed: +1, -1, or 0 (no significant change)."""
    z = 1.959963984540054
    if statistic == "proportion":
        d_sum = sum(denominators)
        ct = sum(c * t for t, c in enumerate(counts, 1))
        c_sum = sum(counts)
        dt = sum(d * t for t, d in enumerate(denominators, 1))
        dt2 = sum(d * t * t for t, d in enumerate(denominators, 1))
        chi_square = (
            d_sum
            * (d_sum * ct - c_sum * dt) ** 2
            / (c_sum * (d_sum - c_sum) * (d_sum * dt2 - dt**2))
        )
        logits = [math.log(c / (d - c)) for c, d in zip(counts, denominators, strict=True)]
        sum_t = {0: 15, 1: 14, 2: 13, 3: 12, 4: 11, 5: 10}  # the C# constants
        n_sum_t2 = {0: 275, 1: 216, 2: 204, 3: 184, 4: 156, 5: 120}
        slopes = []
        for leave_out in range(6):
            kept = [(t, v) for t, v in enumerate(logits, 1) if t != leave_out]
            n = len(kept)
            value_sum = sum(v for _, v in kept)
            multiplied = n * sum(t * v for t, v in kept)
            slope = (multiplied - value_sum * sum_t[leave_out]) / (
                n_sum_t2[leave_out] - sum_t[leave_out] ** 2
            )
            slopes.append(slope)
    else:
        rows = []
        for t, (x, n) in enumerate(zip(counts, denominators, strict=True), 1):
            lower, upper = _exact(x) if x < 10 else _byars(x, z)
            value = 100 * x / n
            divisor = ((upper - lower) * 100 / n / (2 * z)) ** 2
            rows.append(
                (t, 1 / divisor, value * t / divisor, t / divisor, value / divisor, t * t / divisor)
            )
        slopes = []
        for leave_out in range(6):
            s1, s2, s3, s4, s5 = (sum(r[k] for r in rows if r[0] != leave_out) for k in range(1, 6))
            slopes.append((s1 * s2 - s3 * s4) / (s1 * s5 - s3**2))
            if leave_out == 0:
                chi_square = (slopes[0] / math.sqrt(s1 / (s1 * s5 - s3**2))) ** 2
    signs = [-1 if s < 0 else 1 for s in slopes]
    if abs(sum(signs)) == 6 and chi_square > 9.54953570608324:
        return signs[0]
    return 0


def random_series(rng, statistic):
    """Five periods with a random drift: some clear trends, some noise, some small counts."""
    n = rng.integers(20, 3000, size=5)
    base = rng.uniform(0.05, 0.6)
    drift = rng.normal(0, 0.03)
    rate = np.clip(base + drift * np.arange(5), 0.02, 0.95)
    if statistic == "proportion":
        counts = rng.binomial(n, rate)
        counts = np.clip(counts, 1, n - 1)  # the C# logit needs 0 < c < d
    else:
        counts = rng.poisson(rate * n * 1.5)
    return counts.tolist(), n.tolist()


@pytest.mark.parametrize("statistic", ["proportion", "rate_per_100"])
def test_matches_independent_fingertips_transcription(statistic):
    rng = np.random.default_rng(20240601)
    outcomes = {1: "increasing", -1: "decreasing", 0: "no_significant_change"}
    seen = set()
    for _ in range(400):
        counts, n = random_series(rng, statistic)
        expected = outcomes[reference_marker(counts, n, statistic)]
        seen.add(expected)
        assert recent_trend(counts, n, statistic=statistic, polarity="none") == expected, (
            counts,
            n,
        )
    assert seen == set(outcomes.values())  # the cases exercise every outcome


# --------------------------------------------------------------------------------------------
# add_trend


def frame(rows):
    return pl.DataFrame(
        rows,
        schema=dtypes(
            "indicator_id",
            "geography_code",
            "period_end",
            "numerator",
            "denominator",
            "statistic",
            "polarity",
        ),
        orient="row",
    )


def quarter(i):
    return dt.date(2023 + (3 * i) // 12, (3 * i) % 12 + 1, 1)


def test_add_trend_on_a_small_frame():
    rows = []
    # A: proportion, higher is better, six periods 10, 15, ..., 35 of 100.
    #   rows 1-4: fewer than five points; row 5: RISING (chi2 15.625) -> increasing, better;
    #   row 6: 15..35: p̄ = 0.25, Σd(p - p̄)(t - 3) = 100 × (0.2 + 0.05 + 0 + 0.05 + 0.2) = 50,
    #   chi2 = 2500 / (0.25 × 0.75 × 1000) = 13.33 > 9.5495 -> increasing, better.
    for i, c in enumerate([10, 15, 20, 25, 30, 35]):
        rows.append(("PD06", "ICS", quarter(i), c, 100, "proportion", "higher_is_better"))
    # B: same indicator, another area, falling rate on 1000 people, lower is better.
    for i, c in enumerate([180, 160, 140, 120, 100]):
        rows.append(("PD06", "PLACE1", quarter(i), c, 1000, "rate_per_100", "lower_is_better"))
    # C: a median: no trend at all (null).
    for i in range(6):
        rows.append(("ID03", "ICS", quarter(i), 40 + i, 100, "median", "higher_is_better"))
    # D: only three periods.
    for i in range(3):
        rows.append(("HU01", "ICS", quarter(i), 10 + 5 * i, 100, "proportion", "lower_is_better"))
    # E: a missing denominator in period 1 spoils the windows that contain it (row 5 only).
    for i, (c, d) in enumerate([(10, None), (15, 100), (20, 100), (25, 100), (30, 100), (35, 100)]):
        rows.append(("HU02", "ICS", quarter(i), c, d, "proportion", "none"))
    df = frame(rows).sample(fraction=1.0, shuffle=True, seed=7)  # order must not matter

    out = add_trend(df, keys=["indicator_id", "geography_code"])

    assert out.columns == [*df.columns, "trend"]
    assert out.schema["trend"] == pl.String
    assert out.drop("trend").equals(df)  # rows kept, in the input order
    got = {
        (r["indicator_id"], r["geography_code"], r["period_end"]): r["trend"]
        for r in out.iter_rows(named=True)
    }
    nc = "could_not_be_calculated"
    expected = {
        ("PD06", "ICS"): [nc] * 4 + ["increasing_and_getting_better"] * 2,
        ("PD06", "PLACE1"): [nc] * 4 + ["decreasing_and_getting_better"],
        ("ID03", "ICS"): [None] * 6,
        ("HU01", "ICS"): [nc] * 3,
        ("HU02", "ICS"): [nc] * 5 + ["increasing"],
    }
    for (indicator, area), labels in expected.items():
        for i, label in enumerate(labels):
            assert got[(indicator, area, quarter(i))] == label, (indicator, area, i)


def test_add_trend_replaces_an_existing_trend_column_and_accepts_empty_frames():
    df = frame(
        [("PD06", "ICS", quarter(i), c, 100, "proportion", "none") for i, c in enumerate(RISING)]
    )
    out = add_trend(df.with_columns(pl.lit("stale").alias("trend")), keys=["indicator_id"])
    assert out["trend"].to_list() == ["could_not_be_calculated"] * 4 + ["increasing"]
    empty = add_trend(df.clear(), keys=["indicator_id"])
    assert empty.height == 0 and empty.schema["trend"] == pl.String


def test_add_trend_agrees_with_recent_trend_row_by_row():
    rng = np.random.default_rng(3)
    rows = []
    for g in range(30):
        statistic = "proportion" if g % 2 else "rate_per_100"
        polarity = ["none", "higher is better", "lower is better"][g % 3]
        for i in range(int(rng.integers(3, 10))):
            n = int(rng.integers(50, 500))
            c = int(rng.binomial(n, min(0.9, 0.1 + 0.05 * i * (g % 4 - 1.5) ** 2 / 2)))
            rows.append((f"I{g % 5}", f"G{g}", quarter(i), c, n, statistic, polarity))
    df = frame(rows)
    out = add_trend(df, keys=["indicator_id", "geography_code"])
    for (_, _), group in out.group_by(["indicator_id", "geography_code"], maintain_order=True):
        group = group.sort("period_end")
        c, n = group["numerator"].to_list(), group["denominator"].to_list()
        for i, row in enumerate(group.iter_rows(named=True)):
            assert row["trend"] == recent_trend(
                c[: i + 1], n[: i + 1], statistic=row["statistic"], polarity=row["polarity"]
            )
