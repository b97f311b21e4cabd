"""Making Data Count statistical process control: XmR charts for the board (indicators.md v3).

One monthly series in, one chart out: the centre line, the process limits, the special-cause
flags of every month and the series' variation and assurance icons, as NHS England's Making
Data Count defines them and NHS-R's reference implementation, NHSRplotthedots v0.2.2
(commit 050b07d), computes them; tests/unit/test_spc.py checks it against the package's
reference outputs. The method, where the spec differs from the package (6-point trends, two
in three beyond the limits, the first 12 published months as the baseline, a suppressed month
breaking no run) and the choices made where both are silent are in docs/REPORT.md, "SPC: the
method", with the package's line numbers. The published monthly series of several indicators
are charted at once by transforms/spc_series.py (spc.parquet's columns).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import polars as pl

Improvement = Literal["increase", "decrease", "neutral"]
SpecialCause = Literal["improvement", "concern", "neither"]
Side = Literal["high", "low"]
PointType = Literal[
    "common_cause",
    "special_cause_improvement",
    "special_cause_concern",
    "special_cause_neutral_high",
    "special_cause_neutral_low",
]
VariationIcon = Literal[
    "common_cause",
    "improvement_high",
    "improvement_low",
    "concern_high",
    "concern_low",
    "neutral_high",
    "neutral_low",
]
AssuranceIcon = Literal["consistent_pass", "consistent_fail", "inconsistent"]

IMPROVEMENTS: tuple[Improvement, ...] = ("increase", "decrease", "neutral")
LIMIT = 2.66  # process limits: centre ± 2.66 x mean moving range
LIMIT_CLOSE = 2 * (LIMIT / 3)  # two thirds of the way to a limit, computed as the package does
SCREEN = 3.267  # moving ranges at or above 3.267 x their mean are screened out
BASELINE_POINTS = 12
MINIMUM_BASELINE_POINTS = 12  # the package refuses to fix the limits on fewer points
TRIAL_LIMIT_POINTS = 12
SHIFT_POINTS = 7


@dataclass(frozen=True, slots=True)
class Rules:
    """The rule settings on which the spec and NHSRplotthedots 0.2.2 differ (docs/REPORT.md,
    "SPC: the method")."""

    trend_points: int = 6
    two_in_three_beyond_limits: bool = True
    screen_outliers: bool = True

    def __post_init__(self) -> None:
        if self.trend_points < 2:
            raise ValueError("a trend needs at least 2 points")


SPEC_RULES = Rules()
NHSRPLOTTHEDOTS_RULES = Rules(trend_points=7, two_in_three_beyond_limits=False)


@dataclass(frozen=True, slots=True)
class SpcPoint:
    """One month of the chart. A missing month has value None and every flag None."""

    value: float | None
    mean: float | None  # centre line (None only when the series has no published value)
    lpl: float | None  # lower process limit (None when there is no mean moving range)
    upl: float | None  # upper process limit
    outside_limits: bool | None
    shift: bool | None
    trend: bool | None
    two_in_three: bool | None
    side: Side | None  # the side of the special cause: high (above / rising) or low
    special_cause: SpecialCause | None  # None: common cause, or a missing month

    @property
    def point_type(self) -> PointType | None:
        """The package's `point_type` for this point (None for a missing month)."""
        if self.value is None:
            return None
        if self.special_cause is None:
            return "common_cause"
        if self.special_cause == "neither":
            return (
                "special_cause_neutral_high" if self.side == "high" else "special_cause_neutral_low"
            )
        return (
            "special_cause_improvement"
            if self.special_cause == "improvement"
            else "special_cause_concern"
        )


@dataclass(frozen=True, slots=True)
class SpcResult:
    """An XmR chart of one series: its points in input order and its two icons."""

    points: tuple[SpcPoint, ...]
    improvement: Improvement
    target: float | None
    baseline_points: int  # published values the limits were computed from
    trial_limits: bool  # the baseline holds fewer than 12 published values
    variation: VariationIcon | None  # None when no value is published
    assurance: AssuranceIcon | None  # None without a target, a polarity or a published value

    def to_frame(self) -> pl.DataFrame:
        """One row per input month, in order."""
        return pl.DataFrame(
            {
                "value": [p.value for p in self.points],
                "mean": [p.mean for p in self.points],
                "lpl": [p.lpl for p in self.points],
                "upl": [p.upl for p in self.points],
                "outside_limits": [p.outside_limits for p in self.points],
                "shift": [p.shift for p in self.points],
                "trend": [p.trend for p in self.points],
                "two_in_three": [p.two_in_three for p in self.points],
                "side": [p.side for p in self.points],
                "special_cause": [p.special_cause for p in self.points],
                "point_type": [p.point_type for p in self.points],
            },
            schema={
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
            },
        )


def xmr(
    values: Sequence[float | None],
    *,
    baseline_points: int | None = BASELINE_POINTS,
    improvement: Improvement = "neutral",
    target: float | None = None,
    rules: Rules = SPEC_RULES,
) -> SpcResult:
    """The XmR chart of a series in time order (None or NaN for a month not published).

    `baseline_points`: the limits are computed from the first this many published values (all
    of them when fewer; None for all, the package's default). `improvement`: the indicator's
    polarity. `target`: gives the assurance icon.
    """
    if improvement not in IMPROVEMENTS:
        raise ValueError(f"improvement must be one of {IMPROVEMENTS}, not {improvement!r}")
    if baseline_points is not None and baseline_points < MINIMUM_BASELINE_POINTS:
        raise ValueError(
            f"the baseline must hold at least {MINIMUM_BASELINE_POINTS} points, not {baseline_points}"
        )
    if target is not None and not math.isfinite(target):
        raise ValueError("target must be a finite number")
    published: list[int] = []  # positions of the published months
    y: list[float] = []
    for i, v in enumerate(values):
        if v is None or math.isnan(v):
            continue
        if not math.isfinite(v):
            raise ValueError("values must be finite numbers (or None for a missing month)")
        published.append(i)
        y.append(float(v))

    n = len(y)
    used = n if baseline_points is None else min(baseline_points, n)
    mean, amr = _centre_and_mean_moving_range(y[:used], rules.screen_outliers)
    flags = _special_causes(y, mean, amr, rules) if n else []

    lpl = upl = None
    if amr is not None and mean is not None:
        lpl, upl = mean - LIMIT * amr, mean + LIMIT * amr
    missing = SpcPoint(None, mean, lpl, upl, None, None, None, None, None, None)
    points = [missing] * len(values)
    for i, v, (outside, shift, trend, two_in_three, direction) in zip(
        published, y, flags, strict=True
    ):
        side: Side | None = None if direction == 0 else ("high" if direction > 0 else "low")
        points[i] = SpcPoint(
            v,
            mean,
            lpl,
            upl,
            outside,
            shift,
            trend,
            two_in_three,
            side,
            _mark(direction, improvement),
        )

    last = points[published[-1]] if published else None
    return SpcResult(
        points=tuple(points),
        improvement=improvement,
        target=target,
        baseline_points=used,
        trial_limits=used < TRIAL_LIMIT_POINTS,
        variation=None if last is None else _variation_icon(last, improvement),
        assurance=None if last is None else _assurance_icon(last, improvement, target),
    )


def board_reading(result: SpcResult, periods: Sequence[str]) -> str:
    """The chart in plain words for a board paper, given a label for each month
    (e.g. "special cause: improving since March 2026; target: hit and miss")."""
    if len(periods) != len(result.points):
        raise ValueError(f"{len(periods)} period labels for {len(result.points)} months")
    published = [i for i, p in enumerate(result.points) if p.value is not None]
    if not published:
        return "no published values"
    last = result.points[published[-1]]
    if last.special_cause is None:
        text = "common cause variation: no significant change"
    else:
        stretch = [published[-1]]
        for i in reversed(published[:-1]):  # missing months break no run
            p = result.points[i]
            if (p.special_cause, p.side) != (last.special_cause, last.side):
                break
            stretch.append(i)
        if last.special_cause == "improvement":
            words = "improving"
        elif last.special_cause == "concern":
            words = "deteriorating"
        else:
            words = "higher than usual" if last.side == "high" else "lower than usual"
        when = "in" if len(stretch) == 1 else "since"
        text = f"special cause: {words} {when} {periods[stretch[-1]]}"
    if result.assurance is not None:
        text += (
            "; target: "
            + {
                "consistent_pass": "consistently passing",
                "consistent_fail": "consistently failing",
                "inconsistent": "hit and miss",
            }[result.assurance]
        )
    if result.trial_limits:
        text += " (trial limits: fewer than 12 months)"
    return text


# ------------------------------------------------------------------------------------------
# The steps


def _centre_and_mean_moving_range(
    baseline: Sequence[float], screen_outliers: bool
) -> tuple[float | None, float | None]:
    """Centre line and mean moving range of the baseline (ptd_spc_standard.R L68-78)."""
    if not baseline:
        return None, None
    mean = math.fsum(baseline) / len(baseline)
    ranges = [abs(b - a) for a, b in zip(baseline, baseline[1:], strict=False)]
    if not ranges:
        return mean, None
    amr = math.fsum(ranges) / len(ranges)
    if screen_outliers:
        ranges = [r for r in ranges if r < SCREEN * amr]
        if not ranges:  # a flat baseline: every range is 0, and 0 < 0 is false
            return mean, None
        amr = math.fsum(ranges) / len(ranges)
    return mean, amr


def _special_causes(
    y: Sequence[float], mean: float | None, amr: float | None, rules: Rules
) -> list[tuple[bool, bool, bool, bool, int]]:
    """Per published point: outside, shift, trend, two in three, and the special cause's
    direction (+1 high, -1 low, 0 common cause) from the first rule that fires (L86-109)."""
    assert mean is not None
    side = [_sign(v - mean) for v in y]
    if amr is None:
        outside = beyond = [False] * len(y)
    else:
        lpl, upl = mean - LIMIT * amr, mean + LIMIT * amr
        nlpl, nupl = mean - LIMIT_CLOSE * amr, mean + LIMIT_CLOSE * amr
        outside = [v > upl or v < lpl for v in y]
        beyond = [
            (v < nlpl or v > nupl) and (rules.two_in_three_beyond_limits or not out)
            for v, out in zip(y, outside, strict=True)
        ]
    shift = _part_of_run(_one_side_run_ends(side, SHIFT_POINTS), SHIFT_POINTS)
    trend = _part_of_run(_monotone_run_ends(y, rules.trend_points), rules.trend_points)
    two_in_three = _part_of_two_in_three(_two_in_three(beyond, side), beyond)
    directions = _directions(outside, trend, two_in_three, shift, side, _trend_directions(y, trend))
    return list(zip(outside, shift, trend, two_in_three, directions, strict=True))


def _directions(
    outside: Sequence[bool],
    trend: Sequence[bool],
    two_in_three: Sequence[bool],
    shift: Sequence[bool],
    side: Sequence[int],
    trend_directions: Sequence[int],
) -> list[int]:
    """The direction of each point's special cause, from the first rule that flags it: outside
    the limits, trend, two in three, shift (`ptd_special_cause_type`'s case_when, L102-108);
    its side of the centre line, or for a trend the trend's direction; 0 for common cause."""
    result = []
    for i, s in enumerate(side):
        if outside[i]:
            result.append(s)
        elif trend[i]:
            result.append(trend_directions[i])
        elif two_in_three[i] or shift[i]:
            result.append(s)
        else:
            result.append(0)
    return result


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _one_side_run_ends(side: Sequence[int], length: int) -> list[bool]:
    """True where the `length` points ending here are all on one side of the centre line
    (`ptd_seven_point_one_side_mean`)."""
    return [
        i + 1 >= length and side[i] != 0 and all(s == side[i] for s in side[i + 1 - length : i])
        for i in range(len(side))
    ]


def _monotone_run_ends(y: Sequence[float], length: int) -> list[int]:
    """+1 / -1 where the `length` points ending here each rise / fall from the one before,
    else 0 (`ptd_seven_point_trend`)."""
    ends = [0] * len(y)
    for i in range(length - 1, len(y)):
        steps = {_sign(y[j] - y[j - 1]) for j in range(i + 2 - length, i + 1)}
        if len(steps) == 1 and 0 not in steps:
            ends[i] = steps.pop()
    return ends


def _part_of_run(ends: Sequence[int | bool], length: int) -> list[bool]:
    """True for every point of a run whose last point is marked (`ptd_part_of_seven_trend`)."""
    return [any(ends[i : i + length]) for i in range(len(ends))]


def _two_in_three(beyond: Sequence[bool], side: Sequence[int]) -> list[bool]:
    """True for every point of a window of 3 consecutive points with 2 or more beyond two
    thirds of the way to a limit and all 3 on one side of the centre line (`ptd_two_in_three`)."""
    n = len(beyond)
    hit = [False] * n
    for k in range(n - 2):
        if sum(beyond[k : k + 3]) >= 2 and abs(sum(side[k : k + 3])) == 3:
            hit[k] = hit[k + 1] = hit[k + 2] = True
    return hit


def _part_of_two_in_three(window: Sequence[bool], beyond: Sequence[bool]) -> list[bool]:
    """Only the points beyond two thirds of a qualifying window (`ptd_part_of_two_in_three`)."""
    return [w and b for w, b in zip(window, beyond, strict=True)]


def _trend_directions(y: Sequence[float], trend: Sequence[bool]) -> list[int]:
    """The direction of each trend point (L91-98): towards the next point when that is part of
    a trend too and differs from this one, else from the previous point (docs/REPORT.md, "SPC:
    the method", "Where the spec differs", last item)."""
    n = len(y)
    directions = []
    for i in range(n):
        if not trend[i]:
            directions.append(0)
        elif i + 1 < n and trend[i + 1] and y[i + 1] != y[i]:
            directions.append(_sign(y[i + 1] - y[i]))
        else:
            directions.append(_sign(y[i] - y[i - 1]) if i > 0 else 0)
    return directions


def _mark(direction: int, improvement: Improvement) -> SpecialCause | None:
    """Improvement, concern or neither by the indicator's polarity (`ptd_point_type`)."""
    if direction == 0:
        return None
    if improvement == "neutral":
        return "neither"
    better = 1 if improvement == "increase" else -1
    return "improvement" if direction == better else "concern"


def _variation_icon(last: SpcPoint, improvement: Improvement) -> VariationIcon:
    """The icon of the last published point (geom_ptd_icon.R L118-136)."""
    if last.special_cause is None:
        return "common_cause"
    if last.special_cause == "neither":
        return "neutral_high" if last.side == "high" else "neutral_low"
    if last.special_cause == "improvement":
        return "improvement_high" if improvement == "increase" else "improvement_low"
    return "concern_low" if improvement == "increase" else "concern_high"


def _assurance_icon(
    last: SpcPoint, improvement: Improvement, target: float | None
) -> AssuranceIcon | None:
    """Consistently passing, consistently failing or hit and miss, from the last point's limits
    (ptd_calculate_assurance_type.R L18-33)."""
    if target is None or improvement == "neutral":
        return None
    increasing = improvement == "increase"
    if last.upl is not None and target > last.upl:
        return "consistent_fail" if increasing else "consistent_pass"
    if last.lpl is not None and target < last.lpl:
        return "consistent_pass" if increasing else "consistent_fail"
    return "inconsistent"
