"""Slope index of inequality across IMD quintiles (transforms.inequality), as phe_sii.

No phe_sii reference figures are available as text (PHEindicatormethods keeps its SII test
data in testdata_SII.xlsx), so point estimates are worked by hand below, and the simulated
limits are checked against the normal-theory limits they estimate.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import polars as pl
import pytest
from scipy.special import expit, logit

from diewell.transforms.inequality import (
    _simulated_slopes,
    add_sii_rows,
    relative_ranks,
    slope_index_of_inequality,
)

REL = 1e-9
Z95 = 1.959963984540054
Z998 = 3.090232306167813
EQUAL = [1000] * 5
UNEQUAL = [100, 300, 200, 200, 200]


def limits(values, spread):
    return [v - spread for v in values], [v + spread for v in values]


# --------------------------------------------------------------------------------------------
# Relative ranks and the point estimate, by hand


def test_relative_ranks_by_hand():
    # Equal fifths: midpoints of [0, .2], [.2, .4], ... = 0.1, 0.3, 0.5, 0.7, 0.9.
    assert relative_ranks(EQUAL) == pytest.approx([0.1, 0.3, 0.5, 0.7, 0.9], rel=REL)
    # Shares 0.1, 0.3, 0.2, 0.2, 0.2 -> cumulative 0.1, 0.4, 0.6, 0.8, 1.0
    # -> midpoints 0.05, 0.25, 0.5, 0.7, 0.9.
    assert relative_ranks(UNEQUAL) == pytest.approx([0.05, 0.25, 0.5, 0.7, 0.9], rel=REL)


def test_linear_values_with_equal_populations_give_the_exact_slope():
    # y = 0.20 + 0.10 b at b = 0.1 ... 0.9: 0.21, 0.23, 0.25, 0.27, 0.29. A straight line is
    # fitted exactly, so SII = 0.10 x 100 = 10 percentage points (least minus most deprived).
    values = [0.21, 0.23, 0.25, 0.27, 0.29]
    result = slope_index_of_inequality(values, EQUAL, *limits(values, 0.01), reps=1000)
    assert result["sii"] == pytest.approx(10.0, rel=REL)


def test_linear_values_with_unequal_populations_give_the_exact_slope():
    # b = 0.05, 0.25, 0.5, 0.7, 0.9; y = 0.5 - 0.2 b = 0.49, 0.45, 0.40, 0.36, 0.32.
    # SII = -0.2 x 100 = -20: higher in the more deprived quintiles.
    values = [0.49, 0.45, 0.40, 0.36, 0.32]
    result = slope_index_of_inequality(values, UNEQUAL, *limits(values, 0.01), reps=1000)
    assert result["sii"] == pytest.approx(-20.0, rel=REL)


def test_non_linear_values_equal_populations_by_hand():
    # Weighted (a = 0.2 each) least squares = ordinary least squares on b = 0.1 ... 0.9:
    # b - b̄ = -0.4, -0.2, 0, 0.2, 0.4; Σ(b - b̄)² = 0.4;
    # y = 10, 12, 11, 15, 14: Σ(b - b̄)y = -4 - 2.4 + 0 + 3 + 5.6 = 2.2; slope = 2.2 / 0.4 = 5.5.
    values = [10, 12, 11, 15, 14]
    result = slope_index_of_inequality(
        values, EQUAL, *limits(values, 1), value_type="normal", multiplier=1, reps=1000
    )
    assert result["sii"] == pytest.approx(5.5, rel=REL)


def test_non_linear_values_unequal_populations_by_hand():
    # a = 0.1, 0.3, 0.2, 0.2, 0.2; b = 0.05, 0.25, 0.5, 0.7, 0.9; b̄ = Σab = 0.5;
    # Σa(b - b̄)² = 0.1(0.2025) + 0.3(0.0625) + 0 + 0.2(0.04) + 0.2(0.16) = 0.079;
    # y = 0.30, 0.28, 0.25, 0.22, 0.20:
    # Σa(b - b̄)y = 0.1(-0.45)(0.30) + 0.3(-0.25)(0.28) + 0 + 0.2(0.2)(0.22) + 0.2(0.4)(0.20)
    #            = -0.0135 - 0.021 + 0.0088 + 0.016 = -0.0097;
    # SII = 100 x -0.0097 / 0.079 = -970/79 = -12.278...
    values = [0.30, 0.28, 0.25, 0.22, 0.20]
    result = slope_index_of_inequality(values, UNEQUAL, *limits(values, 0.05), reps=1000)
    assert result["sii"] == pytest.approx(-970 / 79, rel=REL)


def test_rate_sii_is_on_the_untransformed_scale():
    # Rates per person 0.52, 0.48, 0.44, 0.40, 0.36 at b = 0.1 ... 0.9: y = 0.54 - 0.2 b,
    # so -0.2 per person = -20 per 100 (the log transform is for the simulation only).
    values = [0.52, 0.48, 0.44, 0.40, 0.36]
    lower, upper = [v * 0.9 for v in values], [v * 1.1 for v in values]
    result = slope_index_of_inequality(values, EQUAL, lower, upper, value_type="rate", reps=1000)
    assert result["sii"] == pytest.approx(-20.0, rel=REL)


# --------------------------------------------------------------------------------------------
# Simulated limits


def test_normal_limits_match_normal_theory():
    # value_type "normal": no transform, so each simulated SII is Σkᵢ(yᵢ + SEᵢZᵢ) and the
    # limits estimate SII ± z·sd exactly. Limits y ± 1.959964 give SE = 1 in every quintile;
    # k = a(b - b̄)/Σa(b - b̄)² = 0.2 × (-0.4, -0.2, 0, 0.2, 0.4) / 0.08 = (-1, -0.5, 0, 0.5, 1),
    # sd = √(1 + 0.25 + 0 + 0.25 + 1) = √2.5 = 1.5811.
    # 95%: 5.5 ± 1.959964 × 1.5811 = 5.5 ± 3.0990; 99.8%: 5.5 ± 3.090232 × 1.5811 = 5.5 ± 4.8861.
    # Monte Carlo error of a quantile from 100,000 draws: ~0.009 sd at 2.5%, ~0.03 sd at 0.1%.
    values = [10, 12, 11, 15, 14]
    sd = math.sqrt(2.5)
    result = slope_index_of_inequality(
        values, EQUAL, *limits(values, Z95), value_type="normal", multiplier=1
    )
    assert result["lower_95"] == pytest.approx(5.5 - Z95 * sd, abs=0.05 * sd)
    assert result["upper_95"] == pytest.approx(5.5 + Z95 * sd, abs=0.05 * sd)
    assert result["lower_99_8"] == pytest.approx(5.5 - Z998 * sd, abs=0.15 * sd)
    assert result["upper_99_8"] == pytest.approx(5.5 + Z998 * sd, abs=0.15 * sd)


def test_proportion_limits_match_the_delta_method():
    # Limits set 0.05 either side on the logit scale: SE(logit) = 0.05 / 1.959964 x 1.959964...
    # i.e. the limits are expit(logit(p) ± 1.959964 × 0.05), so SE(logit p) = 0.05 and, by the
    # delta method, SE(p) ≈ p(1 - p) × 0.05. With UNEQUAL populations
    # k = a(b - b̄)/0.079 = (0.1(-0.45), 0.3(-0.25), 0, 0.2(0.2), 0.2(0.4)) / 0.079
    #   = (-0.56962, -0.94937, 0, 0.50633, 1.01266); sd(SII) = 100 √Σ(k SE(p))².
    values = np.array([0.30, 0.28, 0.25, 0.22, 0.20])
    lower = expit(logit(values) - Z95 * 0.05)
    upper = expit(logit(values) + Z95 * 0.05)
    k = np.array([0.1 * -0.45, 0.3 * -0.25, 0.0, 0.2 * 0.2, 0.2 * 0.4]) / 0.079
    sd = 100 * math.sqrt(float(((k * values * (1 - values) * 0.05) ** 2).sum()))
    result = slope_index_of_inequality(values.tolist(), UNEQUAL, lower.tolist(), upper.tolist())
    sii = -970 / 79
    assert result["lower_95"] == pytest.approx(sii - Z95 * sd, abs=0.1 * sd)
    assert result["upper_95"] == pytest.approx(sii + Z95 * sd, abs=0.1 * sd)
    assert result["lower_99_8"] < result["lower_95"] < sii < result["upper_95"]
    assert result["upper_95"] < result["upper_99_8"]


def test_equal_values_give_zero_with_an_interval_around_zero():
    # Every quintile at 50% with limits symmetric on the logit scale: SII = 0 exactly and the
    # simulated SIIs are symmetric about 0, so the limits are (up to Monte Carlo noise) ±.
    values = [0.5] * 5
    lower = [float(expit(-0.2))] * 5
    upper = [float(expit(0.2))] * 5
    result = slope_index_of_inequality(values, EQUAL, lower, upper)
    assert result["sii"] == pytest.approx(0.0, abs=1e-12)
    assert result["lower_99_8"] < result["lower_95"] < 0 < result["upper_95"] < result["upper_99_8"]
    width = result["upper_95"] - result["lower_95"]
    assert abs(result["upper_95"] + result["lower_95"]) < 0.05 * width


def test_reproducible_with_a_seed():
    values = [0.30, 0.28, 0.25, 0.22, 0.20]
    args = (values, UNEQUAL, *limits(values, 0.03))
    first = slope_index_of_inequality(*args, reps=5000, seed=11)
    assert slope_index_of_inequality(*args, reps=5000, seed=11) == first
    other = slope_index_of_inequality(*args, reps=5000, seed=12)
    assert other["sii"] == first["sii"]  # the estimate does not depend on the simulation
    assert other["lower_95"] != first["lower_95"]


def _simulated_by_the_method(values, pops, lower, upper, value_type, reps, seed):
    """Step 4 of the method written out directly: draws as a reps x 5 matrix from
    default_rng(seed), back-transformed with scipy's expit / numpy's exp, each repetition's
    slope refitted by weighted least squares (lstsq on the √a-weighted design, as phe_sii's
    lm), the limits read at R's 1-based positions round(reps x (1 - c')) and round(reps x c')."""
    forward, back = {"proportion": (logit, expit), "rate": (np.log, np.exp)}[value_type]
    values, lower, upper, pops = (np.asarray(a, dtype=float) for a in (values, lower, upper, pops))
    se = (forward(upper) - forward(lower)) / (2 * Z95)
    simulated = back(forward(values) + se * np.random.default_rng(seed).standard_normal((reps, 5)))
    a = pops / pops.sum()
    b = np.cumsum(a) - a / 2
    design = np.column_stack([np.sqrt(a), b * np.sqrt(a)])
    slopes = np.linalg.lstsq(design, (simulated * np.sqrt(a)).T, rcond=None)[0][1] * 100
    ordered = np.sort(slopes)
    limits_at = {}
    for suffix, c in (("95", 0.95), ("99_8", 0.998)):
        critical = c + (1 - c) / 2
        limits_at[f"lower_{suffix}"] = ordered[round(reps * (1 - critical)) - 1]
        limits_at[f"upper_{suffix}"] = ordered[round(reps * critical) - 1]
    return limits_at


@pytest.mark.parametrize(
    "value_type, values, spread",
    [
        ("proportion", [0.30, 0.28, 0.25, 0.22, 0.20], 0.04),
        ("proportion", [0.02, 0.05, 0.5, 0.93, 0.97], 0.015),
        ("rate", [1.8, 1.6, 1.5, 1.1, 0.9], 0.3),
    ],
)
def test_simulated_limits_are_the_method_written_out(value_type, values, spread):
    """The limits are exactly the order statistics of the simulation the method describes
    (however it is computed): the same draws, back-transformed and refitted independently."""
    lower, upper = limits(values, spread)
    got = slope_index_of_inequality(
        values, UNEQUAL, lower, upper, value_type=value_type, reps=20_000, seed=5
    )
    expected = _simulated_by_the_method(values, UNEQUAL, lower, upper, value_type, 20_000, 5)
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, rel=1e-9, abs=1e-12), name


def test_a_draw_beyond_exp_s_range_back_transforms_to_zero_as_expit_does():
    """A logit of -800 overflows e^-x: its proportion is 0 (scipy's expit gives 0 too),
    with no warning and no NaN."""
    draws = np.zeros((5, 3))
    draws[0] = [-1.0, 0.0, 1.0]
    centre = np.array([-800.0, 0.0, 0.0, 0.0, 0.0])
    se = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    weights = np.array([1.0, 0.0, 0.0, 0.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        slopes = _simulated_slopes(centre, se, weights, "proportion", draws)
    assert list(slopes) == list(expit(np.array([-801.0, -800.0, -799.0])))
    assert list(slopes) == [0.0, 0.0, 0.0]


def test_negative_multiplier_reverses_the_direction():
    values = [0.30, 0.28, 0.25, 0.22, 0.20]
    args = (values, UNEQUAL, *limits(values, 0.03))
    plus = slope_index_of_inequality(*args, reps=5000)
    minus = slope_index_of_inequality(*args, multiplier=-100, reps=5000)
    assert minus["sii"] == pytest.approx(970 / 79, rel=REL)
    assert minus["lower_95"] < minus["sii"] < minus["upper_95"]
    # Same draws, sorted the other way: the limits swap (to within one order statistic).
    assert minus["lower_95"] == pytest.approx(-plus["upper_95"], rel=0.01)
    assert minus["upper_95"] == pytest.approx(-plus["lower_95"], rel=0.01)


# --------------------------------------------------------------------------------------------
# No value, and invalid input

GOOD = [0.30, 0.28, 0.25, 0.22, 0.20]
LOW, HIGH = limits(GOOD, 0.03)


@pytest.mark.parametrize(
    "values, pops, lower, upper, value_type",
    [
        ([0.30, 0.28, None, 0.22, 0.20], EQUAL, LOW, HIGH, "proportion"),  # missing quintile
        (GOOD, [100, 100, None, 100, 100], LOW, HIGH, "proportion"),  # missing population
        (GOOD, [100, 100, 0, 100, 100], LOW, HIGH, "proportion"),  # empty quintile
        (GOOD, EQUAL, [0.27, None, 0.22, 0.19, 0.17], HIGH, "proportion"),  # missing limit
        ([0.0, 0.28, 0.25, 0.22, 0.20], EQUAL, [0.0, *LOW[1:]], HIGH, "proportion"),  # 0%: logit
        ([0.30, 0.28, 0.25, 0.22, 0.0], EQUAL, [*LOW[:4], 0.0], HIGH, "rate"),  # zero rate: log
        ([0.30, 0.28, float("nan"), 0.22, 0.20], EQUAL, LOW, HIGH, "proportion"),  # NaN
    ],
)
def test_no_value_when_a_quintile_cannot_be_used(values, pops, lower, upper, value_type):
    result = slope_index_of_inequality(values, pops, lower, upper, value_type=value_type, reps=1000)
    assert result == dict.fromkeys(["sii", "lower_95", "upper_95", "lower_99_8", "upper_99_8"])


def test_invalid_arguments():
    with pytest.raises(ValueError, match="one figure per IMD quintile"):
        slope_index_of_inequality(GOOD[:4], EQUAL[:4], LOW[:4], HIGH[:4])
    with pytest.raises(ValueError, match="at least 1000"):
        slope_index_of_inequality(GOOD, EQUAL, LOW, HIGH, reps=999)
    with pytest.raises(ValueError, match="value_type"):
        slope_index_of_inequality(GOOD, EQUAL, LOW, HIGH, value_type="dsr")
    with pytest.raises(ValueError, match="between 0 and 1"):
        slope_index_of_inequality([30, 28, 25, 22, 20], EQUAL, LOW, HIGH)  # percentages
    with pytest.raises(ValueError, match="below its lower"):
        slope_index_of_inequality(GOOD, EQUAL, HIGH, LOW)


# --------------------------------------------------------------------------------------------
# add_sii_rows

KEYS = {
    "period_type": "financial_year",
    "period_start": "2023-04-01",
    "period_end": "2024-03-31",
    "geography_level": "ics",
    "geography_code": "QWE",
    "geography_name": "Test ICS",
}


def quintile_rows(indicator, statistic, values, spread, pops=EQUAL, quintiles="12345", **extra):
    return [
        {
            "indicator_id": indicator,
            **KEYS,
            "breakdown": "imd_quintile",
            "breakdown_value": q,
            "numerator": int(round(v * p / 100)),
            "denominator": p,
            "value": v,
            "lower_95": v - spread,
            "upper_95": v + spread,
            "statistic": statistic,
            "indicator_name": f"name of {indicator}",
            **extra,
        }
        for q, v, p in zip(quintiles, values, pops, strict=False)
    ]


def sii_frame():
    rows = []
    # Proportion in percent, linear: 21 ... 29% at b = 0.1 ... 0.9 -> SII = +10 points.
    rows += quintile_rows("PD06", "proportion", [21, 23, 25, 27, 29], 1.0)
    # Rate per 100, linear: 52 ... 36 per 100 -> -0.2 per person -> SII = -20 per 100.
    rows += quintile_rows("HU03", "rate_per_100", [52, 48, 44, 40, 36], 4.0)
    # Quintile 3 missing: a row with no value.
    rows += quintile_rows("PD01", "proportion", [21, 23, 27, 29], 1.0, quintiles="1245")
    # Ignored: a mean indicator, an "all" row and an unknown quintile.
    rows += quintile_rows("HU04", "mean", [5, 4, 3, 2, 1], 0.5)
    rows.append({**rows[0], "breakdown": "all", "breakdown_value": "all"})
    rows.append({**rows[0], "breakdown_value": "unknown", "value": 90.0})
    return pl.DataFrame(rows).sample(fraction=1.0, shuffle=True, seed=3)


def test_add_sii_rows():
    out = add_sii_rows(sii_frame(), reps=2000).sort("indicator_id")
    assert out["indicator_id"].to_list() == ["HU03", "PD01", "PD06"]
    assert set(out["breakdown"]) == {"imd_sii"}
    assert set(out["breakdown_value"]) == {"sii"}
    assert out["numerator"].null_count() == out["denominator"].null_count() == 3
    assert out["indicator_name"].to_list() == ["name of HU03", "name of PD01", "name of PD06"]
    for key, value in KEYS.items():
        assert set(out[key]) == {value}
    for col in ("value", "lower_95", "upper_95", "lower_99_8", "upper_99_8"):
        assert out.schema[col] == pl.Float64
    hu03, pd01, pd06 = out.iter_rows(named=True)
    assert hu03["value"] == pytest.approx(-20.0, rel=REL)
    assert pd06["value"] == pytest.approx(10.0, rel=REL)
    assert pd01["value"] is None and pd01["lower_95"] is None and pd01["upper_99_8"] is None
    for row in (hu03, pd06):
        assert (
            row["lower_99_8"] < row["lower_95"] < row["value"] < row["upper_95"] < row["upper_99_8"]
        )
    # The published percent figures are passed on as proportions with multiplier 100.
    direct = slope_index_of_inequality(
        [0.21, 0.23, 0.25, 0.27, 0.29],
        EQUAL,
        [0.20, 0.22, 0.24, 0.26, 0.28],
        [0.22, 0.24, 0.26, 0.28, 0.30],
        reps=2000,
    )
    assert pd06["lower_95"] == pytest.approx(direct["lower_95"], rel=1e-9)
    assert pd06["upper_99_8"] == pytest.approx(direct["upper_99_8"], rel=1e-9)


def test_add_sii_rows_rejects_duplicate_quintiles():
    rows = quintile_rows(
        "PD06", "proportion", [21, 23, 25, 27, 29, 30], 1.0, pops=[1000] * 6, quintiles="123455"
    )
    df = pl.DataFrame(rows)
    with pytest.raises(ValueError, match="more than one row"):
        add_sii_rows(df, reps=1000)


def test_add_sii_rows_without_quintile_rows_is_empty():
    df = sii_frame().filter(pl.col("breakdown") == "all")
    out = add_sii_rows(df, reps=1000)
    assert out.height == 0
    assert "value" in out.columns and "breakdown" in out.columns
