"""Making Data Count XmR charts (transforms.spc) against NHSRplotthedots, and by hand.

Reference figures are those of NHS-R's NHSRplotthedots v0.2.2 (repository
nhs-r-community/NHSRplotthedots, commit 050b07d7eacc011767532732f69b8fd7d6a28fd3, written
`NHSRplotthedots@050b07d` below): its testthat tests and snapshots and a vignette, copied into
tests/reference/nhsrplotthedots/ (see the README there) or inline with a `source` comment.

The package's tests make their data with R's `set.seed(123); rnorm(...)`. `RRandom` below
regenerates those numbers (a transcription of R's default generators: Mersenne-Twister seeded
as `set.seed` does, and Inversion normals; R's src/main/RNG.c and src/nmath/snorm.c) and is
checked against the digits the snapshots print. The snapshots print limits to 3 to 7
significant digits; to 1e-9 the limits are worked by hand here (`hand_limits`, the package's
formulas written out as loops, independent of transforms.spc) and checked against those
digits too.

Against the package, charts are computed as the package computes them: limits from every
point (`baseline_points=None`, its `fix_after_n_points = NULL`) and its own rules
(`NHSRPLOTTHEDOTS_RULES`: 7-point trends, two in three only inside the limits). The
hand-worked cases use the spec's rules (`SPEC_RULES`: 6-point trends, two in three counting
points beyond the limits, the first 12 published months as the baseline).
"""

from __future__ import annotations

import csv
import math

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtri

from diewell.transforms.spc import (
    LIMIT_CLOSE,
    NHSRPLOTTHEDOTS_RULES,
    SPEC_RULES,
    Rules,
    _directions,
    _monotone_run_ends,
    _one_side_run_ends,
    _part_of_run,
    _part_of_two_in_three,
    _trend_directions,
    _two_in_three,
    board_reading,
    xmr,
)
from tests.conftest import REPO

REFERENCE = REPO / "tests" / "reference" / "nhsrplotthedots"
REL = 1e-9
AS_PACKAGE = {"baseline_points": None, "rules": NHSRPLOTTHEDOTS_RULES}


# --------------------------------------------------------------------------------------------
# R's random numbers


class RRandom:
    """R's default RNG after `set.seed(seed)`: Mersenne-Twister with R's seed scrambling
    (RNG.c: RNG_Init, MT_genrand, fixup) and Inversion normals (snorm.c: BIG = 2^27)."""

    def __init__(self, seed: int) -> None:
        s = seed & 0xFFFFFFFF
        for _ in range(50):  # initial scrambling
            s = (69069 * s + 1) & 0xFFFFFFFF
        words = []
        for _ in range(625):  # dummy[0] is mti, dummy[1..624] the state
            s = (69069 * s + 1) & 0xFFFFFFFF
            words.append(s)
        self.mt = words[1:]
        self.mti = 624  # FixupSeeds(initial): regenerate on the first draw

    def _genrand(self) -> float:
        mt = self.mt
        if self.mti >= 624:
            for k in range(624):
                y = (mt[k] & 0x80000000) | (mt[(k + 1) % 624] & 0x7FFFFFFF)
                mt[k] = mt[(k + 397) % 624] ^ (y >> 1) ^ (0x9908B0DF if y & 1 else 0)
            self.mti = 0
        y = mt[self.mti]
        self.mti += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9D2C5680
        y ^= (y << 15) & 0xEFC60000
        y ^= y >> 18
        return y * 2.3283064365386963e-10

    def unif_rand(self) -> float:
        v = self._genrand()
        half = 0.5 * 2.328306437080797e-10
        return half if v <= 0.0 else (1.0 - half if 1.0 - v <= 0.0 else v)

    def rnorm(self, n: int, mean: float = 0.0) -> list[float]:
        out = []
        for _ in range(n):
            u = self.unif_rand()
            u = int(134217728 * u) + self.unif_rand()
            out.append(mean + float(ndtri(u / 134217728)))
        return out


def rnorm_series() -> dict[str, list[float]]:
    """The package's test data, by the names used in tests/reference/nhsrplotthedots."""
    rnorm20 = RRandom(123).rnorm(20)  # test-ptd_spc_standard.R L4-10, test-ptd_spc.R L4-8
    rng = RRandom(123)
    rnorm24 = rng.rnorm(24)  # test-geom_ptd_icon.R L102-107
    f1_mean_5 = rnorm24[:12] + rng.rnorm(12, 5)  # L153
    f1_mean_minus_5 = rnorm24[:12] + rng.rnorm(12, -5)  # L174
    y15_is_10 = list(rnorm20)
    y15_is_10[14] = 10.0  # test-ptd_spc_standard.R L26
    return {
        "rnorm20": rnorm20,
        "rnorm20_y15_is_10": y15_is_10,
        "rnorm20_first_10": rnorm20[:10],
        "rnorm20_last_10": rnorm20[10:],
        "rnorm24": rnorm24,
        "rnorm24_f1_mean_5": f1_mean_5,
        "rnorm24_f1_mean_minus_5": f1_mean_minus_5,
        # vignettes/deviations.Rmd, "1. Treatment of outlying points"
        "deviations_vignette": [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1],
    }


SERIES = rnorm_series()


def test_r_random_numbers_match_the_printed_data():
    # source: NHSRplotthedots@050b07d tests/testthat/_snaps/ptd_spc_standard.md, `$ y` of r1
    printed = [-0.56047565, -0.23017749, 1.55870831, 0.07050839]
    assert [round(v, 8) for v in SERIES["rnorm20"][:4]] == printed
    # the 5th is printed cut short ("0.1~"); it is 0.12928774 to 8 decimal places
    assert str(SERIES["rnorm20"][4]).startswith("0.1")


# --------------------------------------------------------------------------------------------
# Limits by hand


def hand_limits(y: list[float], screen: bool) -> tuple[float, float, float]:
    """ptd_spc_standard.R L68-82 as loops: mean, moving ranges, screening at 3.267 x their
    mean (strictly below is kept), limits at mean ± 2.66 x mean moving range."""
    total = 0.0
    for v in y:
        total += v
    mean = total / len(y)
    ranges = []
    for i in range(1, len(y)):
        ranges.append(abs(y[i] - y[i - 1]))
    amr = sum(ranges) / len(ranges)
    if screen:
        kept = [r for r in ranges if r < 3.267 * amr]
        amr = sum(kept) / len(kept)
    return mean, mean - 2.66 * amr, mean + 2.66 * amr


def test_hand_limits_of_the_vignette_series_are_exact_fractions():
    # deviations_vignette: sum 35 over 18 points; moving ranges 1, 1, 1, 8, 9 and twelve 1s
    # (sum 32 over 17); screening drops 8 and 9 (>= 3.267 x 32/17 = 6.15), leaving fifteen 1s.
    y = [float(v) for v in SERIES["deviations_vignette"]]
    assert hand_limits(y, True) == pytest.approx(
        (35 / 18, 35 / 18 - 2.66, 35 / 18 + 2.66), rel=1e-15
    )
    amr = 32 / 17
    assert hand_limits(y, False) == pytest.approx(
        (35 / 18, 35 / 18 - 2.66 * amr, 35 / 18 + 2.66 * amr), rel=1e-15
    )


def printed(x: float, how: str) -> float:
    kind, digits = how.split()
    return float(f"{x:.{digits}g}") if kind == "signif" else round(x, int(digits))


def reference_rows(name: str) -> list[dict[str, str]]:
    with open(REFERENCE / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


@pytest.mark.parametrize("row", reference_rows("limits.csv"), ids=lambda r: r["case"])
def test_limits_match_nhsrplotthedots(row):
    y = [float(v) for v in SERIES[row["series"]]]
    screen = row["screen_outliers"] == "TRUE"
    result = xmr(
        y,
        improvement=row["improvement_direction"] or "neutral",
        baseline_points=None,
        rules=Rules(trend_points=7, two_in_three_beyond_limits=False, screen_outliers=screen),
    )
    points = result.points
    assert len(points) == int(row["n"])
    mean, lpl, upl = hand_limits(y, screen)
    for p in points:
        assert p.mean == pytest.approx(mean, rel=REL)
        assert p.lpl == pytest.approx(lpl, rel=REL)
        assert p.upl == pytest.approx(upl, rel=REL)
    # ... and to the digits the package printed
    assert printed(points[0].mean, row["printed_as"]) == float(row["printed_mean_col"])
    assert printed(points[0].lpl, row["printed_as"]) == float(row["printed_lpl"])
    assert printed(points[0].upl, row["printed_as"]) == float(row["printed_upl"])
    if row["common_cause"]:
        kinds = [p.point_type for p in points]
        assert kinds.count("common_cause") == int(row["common_cause"])
        assert kinds.count("special_cause_improvement") == int(row["special_cause_improvement"])


def test_relative_to_mean_and_outside_limits_match_the_snapshot():
    # source: NHSRplotthedots@050b07d tests/testthat/_snaps/ptd_spc_standard.md (r1 and r2:
    # `$ relative_to_mean` and `$ outside_limits`, as far as printed)
    r1 = xmr(SERIES["rnorm20"], **AS_PACKAGE)
    r2 = xmr(SERIES["rnorm20_y15_is_10"], **AS_PACKAGE)
    side = [(p.value > p.mean) - (p.value < p.mean) for p in r1.points]
    assert side[:15] == [-1, -1, 1, -1, -1, 1, 1, -1, -1, -1, 1, 1, 1, -1, -1]
    side = [(p.value > p.mean) - (p.value < p.mean) for p in r2.points]
    assert side[:14] == [-1, -1, 1, -1, -1, 1, -1, -1, -1, -1, 1, -1, -1, -1]
    for result in (r1, r2):
        assert [p.outside_limits for p in result.points[:8]] == [False] * 8


@pytest.mark.parametrize(
    "row", reference_rows("icons.csv"), ids=lambda r: f"{r['case']}-{r['facet'] or 'all'}"
)
def test_icons_match_nhsrplotthedots(row):
    y = SERIES[row["series"]]
    if row["facet"]:  # f = rep(0:1, each = 12)
        y = y[:12] if row["facet"] == "0" else y[12:]
    result = xmr(
        y,
        improvement=row["improvement_direction"],
        target=float(row["target"]) if row["target"] else None,
        **AS_PACKAGE,
    )
    assert result.variation == row["variation_icon"]
    assert result.assurance == (row["assurance_icon"] or None)


@pytest.mark.parametrize("rules", [NHSRPLOTTHEDOTS_RULES, SPEC_RULES], ids=["package", "spec"])
def test_two_points_beyond_two_thirds_on_opposite_sides_are_common_cause(rules):
    # source: NHSRplotthedots@050b07d tests/testthat/test-ptd_spc_standard.R L97-114
    y = [1.0, -1.0] * 8
    y[14], y[15] = 5.5, -5.5
    result = xmr(y, improvement="increase", baseline_points=None, rules=rules)
    assert [p.point_type for p in result.points[-2:]] == ["common_cause", "common_cause"]
    # by hand: mean 0; ranges thirteen 2s, 6.5, 11; 11 >= 3.267 x 43.5/15 is screened, so the
    # mean moving range is 32.5/14 and two thirds of the way is 4.12: both points are beyond
    assert result.points[0].upl == pytest.approx(2.66 * 32.5 / 14, rel=REL)
    assert 5.5 > 2 * (2.66 / 3) * 32.5 / 14


# --------------------------------------------------------------------------------------------
# The package's unit tests of its rule helpers (tests/testthat/test-ptd_calculate_point_type.R)


def test_seven_points_one_side_of_the_mean():
    # source: NHSRplotthedots@050b07d tests/testthat/test-ptd_calculate_point_type.R L79-97
    assert _one_side_run_ends([], 7) == []
    assert _one_side_run_ends([1] * 6, 7) == [False] * 6
    assert _one_side_run_ends([1] * 6 + [-1], 7) == [False] * 7
    assert _one_side_run_ends([1] * 8 + [-1], 7) == [False] * 6 + [True, True, False]
    assert _one_side_run_ends([-1] * 8 + [1], 7) == [False] * 6 + [True, True, False]


def test_part_of_a_run_of_seven():
    # source: NHSRplotthedots@050b07d tests/testthat/test-ptd_calculate_point_type.R L100-126
    assert _part_of_run([], 7) == []
    assert _part_of_run([0] * 6, 7) == [False] * 6
    for end in (1, -1):
        assert _part_of_run([0] * 6 + [end, 0], 7) == [True] * 7 + [False]
        assert _part_of_run([0] * 7 + [end, 0], 7) == [False] + [True] * 7 + [False]


def test_seven_point_trend():
    # source: NHSRplotthedots@050b07d tests/testthat/test-ptd_calculate_point_type.R L129-150
    assert _monotone_run_ends([], 7) == []
    assert _monotone_run_ends([1, 2, 3, 4, 5, 6], 7) == [0] * 6
    assert _monotone_run_ends([1, 2, 3, 3, 4, 5, 6], 7) == [0] * 7
    assert _monotone_run_ends([1, 2, 3, 4, 5, 6, 7], 7) == [0] * 6 + [1]
    assert _monotone_run_ends([2, 1, 2, 3, 4, 5, 6, 7, 3], 7) == [0] * 7 + [1, 0]
    assert _monotone_run_ends([7, 6, 5, 4, 3, 2, 1], 7) == [0] * 6 + [-1]
    assert _monotone_run_ends([2, 7, 6, 5, 4, 3, 2, 1, 3], 7) == [0] * 7 + [-1, 0]


def test_two_in_three_windows():
    # source: NHSRplotthedots@050b07d tests/testthat/test-ptd_calculate_point_type.R L153-187
    # (L157 calls it with a side vector of length 1, recycled by R; here three 0s)
    assert _two_in_three([], []) == []
    assert _two_in_three([False] * 3, [0] * 3) == [False] * 3
    for beyond in ([1, 0, 1], [0, 1, 1], [1, 1, 0]):
        assert _two_in_three([bool(b) for b in beyond], [1, 1, 1]) == [True] * 3
        assert _two_in_three([bool(b) for b in beyond], [1, -1, 1]) == [False] * 3
    g = [bool(b) for b in (0, 0, 1, 0, 1, 0, 0)]
    h = [bool(b) for b in (0, 0, 1, 1, 0, 0, 0)]
    assert _two_in_three(g, [1] * 7) == [bool(b) for b in (0, 0, 1, 1, 1, 0, 0)]
    assert _two_in_three(h, [1] * 7) == [bool(b) for b in (0, 1, 1, 1, 1, 0, 0)]
    assert _two_in_three(g, [1, -1, 1, -1, 1, -1, 1]) == [False] * 7
    assert _two_in_three(h, [-1, 1, -1, 1, -1, 1, -1]) == [False] * 7


@pytest.mark.parametrize(
    ("beyond", "expected"),
    [
        ((1, 0, 1), (1, 0, 1)),
        ((0, 1, 1), (0, 1, 1)),
        ((1, 1, 0), (1, 1, 0)),
        ((0, 0, 1, 0, 1, 0, 0), (0, 0, 1, 0, 1, 0, 0)),
        ((0, 0, 1, 1, 0, 0, 0), (0, 0, 1, 1, 0, 0, 0)),
        ((1, 0, 0, 1), (0, 0, 0, 0)),
        ((1, 0, 0, 1, 1), (0, 0, 0, 1, 1)),
    ],
)
def test_part_of_two_in_three(beyond, expected):
    # source: NHSRplotthedots@050b07d tests/testthat/test-ptd_calculate_point_type.R L190-244
    # (all on one side of the mean: relative_to_mean all 1)
    flags = [bool(b) for b in beyond]
    window = _two_in_three(flags, [1] * len(flags))
    assert _part_of_two_in_three(window, flags) == [bool(b) for b in expected]


def test_the_first_rule_that_fires_gives_the_direction():
    # source: NHSRplotthedots@050b07d tests/testthat/test-ptd_calculate_point_type.R L247-287:
    # trend c(1, -1, 0, ...), one side c(0, 0, 1, -1, 0, ...), two in three at 5, outside at
    # 6 and 7; y = 1:8; relative_to_mean four 1s then four -1s. Expected "7 Point Trend
    # (Increasing)" x2, "7 Points Above CL" x2, "2 in 3 Below CL", "Below LCL" x2, "Common Cause".
    y = [1, 2, 3, 4, 5, 6, 7, 8]
    trend = [True, True, False, False, False, False, False, False]
    shift = [False, False, True, True, False, False, False, False]
    two_in_three = [False, False, False, False, True, False, False, False]
    outside = [False, False, False, False, False, True, True, False]
    side = [1, 1, 1, 1, -1, -1, -1, -1]
    directions = _directions(outside, trend, two_in_three, shift, side, _trend_directions(y, trend))
    assert directions == [1, 1, 1, 1, -1, -1, -1, 0]


# --------------------------------------------------------------------------------------------
# Hand-worked cases (spec rules). BASE: 12 points alternating 1, -1: centre line 0, eleven
# moving ranges of 2 (none screened: 2 < 3.267 x 2), so limits ±5.32 and two thirds of the way
# to a limit at ±2 x (2.66 / 3) x 2 = ±3.5467. BASE ends below the centre line, at -1.

BASE = [1.0, -1.0] * 6
TWO_THIRDS = 2 * (2.66 / 3) * 2


def chart(tail, **options):
    options.setdefault("improvement", "increase")
    return xmr(BASE + list(tail), **options)


def flags(result, name, start=12):
    return [getattr(p, name) for p in result.points[start:]]


def test_base_limits_by_hand():
    result = chart([])
    assert {(p.mean, p.lpl, p.upl) for p in result.points} == {(0.0, -5.32, 5.32)}
    assert result.variation == "common_cause"
    assert not result.trial_limits and result.baseline_points == 12


def test_a_shift_needs_seven_points():
    assert flags(chart([0.5] * 6), "shift") == [False] * 6
    result = chart([0.5] * 7)
    assert flags(result, "shift") == [True] * 7
    assert result.points[11].shift is False  # BASE's last point is below the line
    assert {p.special_cause for p in result.points[12:]} == {"improvement"}
    assert result.variation == "improvement_high"


def test_a_point_on_the_centre_line_breaks_a_shift():
    result = chart([0.5, 0.5, 0.5, 0.0, 0.5, 0.5, 0.5])
    assert flags(result, "shift") == [False] * 7
    assert result.points[15].side is None


def test_a_missing_month_breaks_no_shift():
    result = chart([0.5, 0.5, 0.5, None, 0.5, 0.5, 0.5, 0.5])
    assert flags(result, "shift") == [True, True, True, None, True, True, True, True]
    # a gap is not a point: six published points, still no shift
    assert (
        flags(chart([0.5, 0.5, None, 0.5, 0.5, 0.5, 0.5]), "shift")
        == [False] * 2 + [None] + [False] * 4
    )


FALLING = [0.25, 0.15, 0.05, -0.05, -0.15, -0.25, -0.35]  # after BASE's -1 the first rises


def test_a_trend_needs_six_points():
    assert flags(chart(FALLING[:5] + [0.3]), "trend") == [False] * 6
    result = chart(FALLING[:6])
    assert flags(result, "trend") == [True] * 6
    assert flags(result, "shift") == [False] * 6  # three above the line, three below
    assert {p.side for p in result.points[12:]} == {"low"}
    assert {p.special_cause for p in result.points[12:]} == {"concern"}
    assert result.variation == "concern_low"
    down = chart(FALLING[:6], improvement="decrease")
    assert {p.special_cause for p in down.points[12:]} == {"improvement"}
    assert down.variation == "improvement_low"


def test_a_trend_runs_across_the_end_of_the_baseline():
    # BASE's last point (-1) and five rising points make six
    result = chart([-0.25, -0.15, -0.05, 0.05, 0.15])
    assert flags(result, "trend", start=11) == [True] * 6
    assert result.points[10].trend is False
    assert {p.side for p in result.points[11:]} == {"high"}


def test_the_package_needs_seven_points_for_a_trend():
    rules = NHSRPLOTTHEDOTS_RULES
    assert flags(chart(FALLING[:6], rules=rules), "trend") == [False] * 6
    assert flags(chart(FALLING, rules=rules), "trend") == [True] * 7


def test_equal_neighbours_break_a_trend():
    assert flags(chart([0.25, 0.15, 0.05, 0.05, -0.05, -0.15, -0.25]), "trend") == [False] * 7


def test_a_missing_month_breaks_no_trend():
    result = chart([0.25, 0.15, None, 0.05, -0.05, -0.15, -0.25])
    assert flags(result, "trend") == [True, True, None, True, True, True, True]
    assert result.points[14].value is None and result.points[14].special_cause is None


def test_a_plateau_between_two_trends_keeps_its_own_direction():
    # Six rising points up to 0.25, then 0.25 again and six more rising. The package marks the
    # first 0.25 "Decreasing" (the sign of its step to the next point, 0); here it rises.
    rising = [-0.25, -0.15, -0.05, 0.05, 0.15, 0.25]
    result = chart(rising + [0.25, 0.35, 0.45, 0.55, 0.65, 0.75])
    assert flags(result, "trend") == [True] * 12
    assert {p.side for p in result.points[12:]} == {"high"}
    # a peak shared by a rise and a fall takes the fall (the later trend), as in the package
    peak = chart(rising + [0.15, 0.05, -0.05, -0.15, -0.25])
    assert [p.side for p in peak.points[16:19]] == ["high", "low", "low"]


def test_two_in_three_flags_only_the_points_beyond_two_thirds():
    result = chart([4.0, 0.5, 4.0])
    assert flags(result, "two_in_three") == [True, False, True]
    assert [p.special_cause for p in result.points[12:]] == ["improvement", None, "improvement"]
    assert flags(result, "outside_limits") == [False] * 3


def test_two_in_three_needs_all_three_points_on_one_side():
    assert flags(chart([4.0, -0.5, 4.0]), "two_in_three") == [False] * 3
    # two in a row beyond two thirds, but the point before is below the line and none after
    assert flags(chart([4.0, 4.0]), "two_in_three") == [False] * 2
    assert flags(chart([4.0, 4.0, 0.5]), "two_in_three") == [True, True, False]


def test_two_thirds_of_the_way_is_not_beyond_it():
    assert flags(chart([TWO_THIRDS, 0.5, TWO_THIRDS]), "two_in_three") == [False] * 3
    above = math.nextafter(TWO_THIRDS, math.inf)
    assert flags(chart([above, 0.5, above]), "two_in_three") == [True, False, True]
    assert LIMIT_CLOSE * 2 == TWO_THIRDS


def test_two_in_three_counts_points_beyond_the_limits():
    # 6 is outside the limits (5.32). The spec counts it as beyond two thirds; the package
    # (0.2.2) does not, so there 4 stands alone and is common cause.
    spec = chart([4.0, 6.0, 0.5])
    assert flags(spec, "two_in_three") == [True, True, False]
    assert flags(spec, "outside_limits") == [False, True, False]
    assert spec.points[12].special_cause == "improvement"
    package = chart([4.0, 6.0, 0.5], rules=NHSRPLOTTHEDOTS_RULES)
    assert flags(package, "two_in_three") == [False, False, False]
    assert package.points[12].special_cause is None
    assert package.points[13].special_cause == "improvement"


def test_a_point_on_a_limit_is_inside_it():
    assert chart([5.32]).points[12].outside_limits is False
    result = chart([5.33])
    assert result.points[12].outside_limits is True
    assert result.points[12].special_cause == "improvement"
    low = chart([-5.33])
    assert (low.points[12].side, low.points[12].special_cause) == ("low", "concern")
    assert low.variation == "concern_low"
    assert chart([-5.33], improvement="decrease").variation == "improvement_low"


def test_fewer_than_twelve_points_use_them_all():
    # mean 9/5 = 1.8; moving ranges 1, 1, 1, 1: limits 1.8 ± 2.66
    result = xmr([1, 2, 3, 2, 1], improvement="increase")
    assert result.baseline_points == 5 and result.trial_limits
    p = result.points[0]
    assert (p.mean, p.lpl, p.upl) == pytest.approx((1.8, 1.8 - 2.66, 1.8 + 2.66), rel=1e-12)
    assert result.variation == "common_cause"
    assert not xmr([1, 2] * 6).trial_limits


def test_the_baseline_is_the_first_twelve_published_months():
    result = chart([100.0])  # the 13th point is not in the baseline
    assert (result.points[12].mean, result.points[12].upl) == (0.0, 5.32)
    assert result.points[12].outside_limits
    # a missing month is not a month of the baseline: twelve published values are
    with_gap = xmr([1.0, None, -1.0] + BASE[2:] + [100.0])
    assert with_gap.baseline_points == 12
    assert (with_gap.points[-1].mean, with_gap.points[-1].upl) == (0.0, 5.32)


def test_a_fixed_baseline():
    y = SERIES["rnorm24_f1_mean_5"]
    for n in (12, 18, None):
        result = xmr(y, baseline_points=n)
        mean, lpl, upl = hand_limits(y[:n] if n else y, screen=True)
        assert result.points[-1].mean == pytest.approx(mean, rel=REL)
        assert result.points[-1].lpl == pytest.approx(lpl, rel=REL)
        assert result.points[-1].upl == pytest.approx(upl, rel=REL)
        assert result.baseline_points == (n or 24)


def test_a_moving_range_spans_a_missing_month():
    # published 0, 2, 0, 2: mean 1, moving ranges 2, 2, 2 (0 to 2 across the gap)
    result = xmr([0.0, None, 2.0, 0.0, float("nan"), 2.0])
    assert [p.value for p in result.points] == [0.0, None, 2.0, 0.0, None, 2.0]
    assert {(p.mean, p.lpl, p.upl) for p in result.points} == {(1.0, 1.0 - 5.32, 1.0 + 5.32)}
    gap = result.points[1]
    assert (gap.outside_limits, gap.shift, gap.trend, gap.two_in_three) == (None,) * 4
    assert (gap.side, gap.special_cause, gap.point_type) == (None, None, None)


def test_polarity_none_marks_neither():
    result = chart([0.5] * 7, improvement="neutral", target=10.0)
    assert {p.special_cause for p in result.points[12:]} == {"neither"}
    assert result.points[12].point_type == "special_cause_neutral_high"
    assert result.variation == "neutral_high"
    assert result.assurance is None  # no assurance without a polarity
    low = chart([-0.5] * 7, improvement="neutral")
    assert low.variation == "neutral_low"
    assert low.points[-1].point_type == "special_cause_neutral_low"
    assert xmr(BASE).improvement == "neutral"  # the default


@pytest.mark.parametrize(
    ("improvement", "target", "expected"),
    [
        ("increase", 5.33, "consistent_fail"),
        ("increase", -5.33, "consistent_pass"),
        ("decrease", 5.33, "consistent_pass"),
        ("decrease", -5.33, "consistent_fail"),
        ("increase", 5.32, "inconsistent"),  # a target on a limit
        ("decrease", -5.32, "inconsistent"),
        ("increase", 0.0, "inconsistent"),
    ],
)
def test_assurance(improvement, target, expected):
    assert chart([], improvement=improvement, target=target).assurance == expected


def test_a_flat_baseline_has_no_limits_when_screened():
    # every moving range 0, none below 3.267 x 0: the package's limits are NaN
    result = xmr([5.0] * 12 + [6.0] * 7, improvement="increase", target=1.0)
    assert {(p.mean, p.lpl, p.upl) for p in result.points} == {(5.0, None, None)}
    assert flags(result, "outside_limits") == [False] * 7
    assert flags(result, "shift") == [True] * 7  # runs need no limits
    assert result.assurance == "inconsistent"
    unscreened = xmr([5.0] * 12 + [6.0], rules=Rules(screen_outliers=False))
    assert (unscreened.points[0].lpl, unscreened.points[0].upl) == (5.0, 5.0)
    assert unscreened.points[12].outside_limits


def test_one_value_and_none():
    one = xmr([3.0], improvement="increase", target=1.0)
    assert (one.points[0].mean, one.points[0].lpl, one.points[0].upl) == (3.0, None, None)
    assert one.variation == "common_cause" and one.assurance == "inconsistent"
    empty = xmr([], improvement="increase", target=1.0)
    assert (empty.points, empty.variation, empty.assurance) == ((), None, None)
    missing = xmr([None, float("nan")], improvement="increase", target=1.0)
    assert [p.mean for p in missing.points] == [None, None]
    assert (missing.variation, missing.assurance) == (None, None)


def test_the_variation_icon_reads_the_last_published_month():
    result = chart([5.33, None])
    assert result.variation == "improvement_high"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"improvement": "up"}, "improvement must be one of"),
        ({"baseline_points": 11}, "at least 12"),
        ({"target": math.nan}, "target must be a finite number"),
    ],
)
def test_bad_options(options, message):
    with pytest.raises(ValueError, match=message):
        xmr(BASE, **options)


def test_bad_values_and_rules():
    with pytest.raises(ValueError, match="finite"):
        xmr([1.0, math.inf])
    with pytest.raises(ValueError, match="at least 2 points"):
        Rules(trend_points=1)


# --------------------------------------------------------------------------------------------
# Properties

VALUES = st.lists(st.floats(-1e3, 1e3, allow_nan=False), max_size=40)


@settings(max_examples=200)
@given(values=VALUES, data=st.data())
def test_missing_months_change_nothing_else(values, data):
    gaps = data.draw(st.lists(st.integers(0, len(values)), max_size=5))
    with_gaps: list[float | None] = list(values)
    for i in sorted(gaps, reverse=True):
        with_gaps.insert(i, None)
    plain = xmr(values, improvement="increase", target=0.0)
    gapped = xmr(with_gaps, improvement="increase", target=0.0)
    assert [p for p in gapped.points if p.value is not None] == list(plain.points)
    assert (gapped.variation, gapped.assurance) == (plain.variation, plain.assurance)


@settings(max_examples=200)
@given(values=VALUES)
def test_a_mirrored_series_with_the_opposite_polarity_reads_the_same(values):
    up = xmr(values, improvement="increase")
    down = xmr([-v for v in values], improvement="decrease")
    for p, q in zip(up.points, down.points, strict=True):
        assert (p.lpl, p.upl) == (
            None if q.upl is None else -q.upl,
            None if q.lpl is None else -q.lpl,
        )
        assert (p.outside_limits, p.shift, p.trend, p.two_in_three) == (
            q.outside_limits,
            q.shift,
            q.trend,
            q.two_in_three,
        )
        assert p.special_cause == q.special_cause
    assert up.variation is None or up.variation.split("_")[0] == down.variation.split("_")[0]


# --------------------------------------------------------------------------------------------
# For the board


def months(n: int) -> list[str]:
    return [f"M{i + 1}" for i in range(n)]


def test_board_reading():
    assert board_reading(chart([]), months(12)) == "common cause variation: no significant change"
    assert board_reading(chart([0.5] * 7), months(19)) == "special cause: improving since M13"
    # a missing month breaks no run
    gapped = chart([0.5, 0.5, 0.5, None, 0.5, 0.5, 0.5, 0.5])
    assert board_reading(gapped, months(20)) == "special cause: improving since M13"
    assert board_reading(chart([5.33]), months(13)) == "special cause: improving in M13"
    assert board_reading(chart(FALLING[:6]), months(18)) == "special cause: deteriorating since M13"
    # BASE's last point (-1) is below the line too: the run of eight starts there
    neutral = chart([-0.5] * 7, improvement="neutral")
    assert board_reading(neutral, months(19)) == "special cause: lower than usual since M12"
    target = chart([], target=10.0)
    assert board_reading(target, months(12)) == (
        "common cause variation: no significant change; target: consistently failing"
    )
    assert board_reading(chart([], target=-10.0), months(12)).endswith("consistently passing")
    assert board_reading(chart([], target=0.0), months(12)).endswith("target: hit and miss")
    assert board_reading(xmr([1, 2, 3, 2, 1]), months(5)) == (
        "common cause variation: no significant change (trial limits: fewer than 12 months)"
    )
    assert board_reading(xmr([None]), ["M1"]) == "no published values"
    with pytest.raises(ValueError, match="2 period labels for 12 months"):
        board_reading(chart([]), ["M1", "M2"])


def test_to_frame():
    frame = xmr([1.0, None, 2.0, 0.0] + [1.0] * 3, improvement="increase").to_frame()
    assert frame.schema == pl.Schema(
        {
            "value": pl.Float64,
            "mean": pl.Float64,
            "lpl": pl.Float64,
            "upl": pl.Float64,
            "outside_limits": pl.Boolean,
            "shift": pl.Boolean,
            "trend": pl.Boolean,
            "two_in_three": pl.Boolean,
            "side": pl.String,
            "special_cause": pl.String,
            "point_type": pl.String,
        }
    )
    assert frame.height == 7
    gap = frame.row(1, named=True)
    assert gap["value"] is None and gap["shift"] is None and gap["point_type"] is None
    assert gap["mean"] == frame["mean"][0]
    assert frame["point_type"][0] == "common_cause"
