"""An intruder with nothing but a release's Parquet files (indicators.md "Disclosure control").

Written from the contract alone, independently of the disclosure code: it imports nothing from
transforms/ or diewell/, and works the statistics out itself from indicators.md "Statistics".
It knows what a reader of the contract knows: counts of 1 to `threshold` are never published,
published counts are the true ones rounded to the nearest `multiple` (so each is within ±2 of
the truth with the NHS values), and which figures add up to which. It tries:

1. Inversion. For every published row, every exact numerator and denominator within ±2 of
   the published ones is tried: which of them reproduce the row's value and all four limits?
   The promise is that the published, rounded counts do (the figures are computed from them),
   so the figures tell nothing finer than the counts. A row whose figures the published
   counts do not reproduce leaks: the pairs that do are the intruder's estimate of the exact
   counts (one pair: the exact counts are known).
2. Differencing the place-of-death set PD01-PD05 of one period x geography x breakdown value:
   the five numerators sum to the shared denominator.
3. Differencing a breakdown's categories against its `all` row.
4. Differencing an ICS against its places, and a PCN against its practices (whole cohort).
5. Combining consecutive rolling 12-month periods (and the financial year that is the same
   12 months as the rolling period ending on 31 March): each is the sum of four quarters.

Everything the intruder knows about a count is a range of whole numbers: a published 0 is 0
(1 and 2 would have been suppressed), a published r is r-2 .. r+2 and above the threshold, a
count solved by attack 1 is what attack 1 found. Each differencing attack turns ranges of
published counts into a range for a suppressed count (or for the sum of several). (1)-(3)
must recover nothing: no row inverted to anything but its published counts, and no
suppressed count narrowed inside 1..threshold. (4) and (5) are reported as the distribution of
the width of the range left for each suppressed count.

Run on a release: `python -m tests.integration.publication.intruder RELEASE [--landing DIR]`, where DIR
holds the ICS's ref_practice file(s) (the public practice -> PCN list), for attack 4's PCNs.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.dataset as ds
from scipy.optimize import linprog
from scipy.stats import chi2, norm

SUPPRESSION_THRESHOLD = 7  # counts 1-7 are never published (indicators.md rule 1)
ROUNDING_MULTIPLE = 5  # published counts are multiples of 5 (rule 2)
REL_TOLERANCE = 1e-9  # a candidate reproduces a figure to within this (relative or absolute)
ABS_TOLERANCE = 1e-9
Z_95 = float(norm.ppf(0.975))  # the exact normal quantiles of "Statistics"
Z_99_8 = float(norm.ppf(0.999))
LEVELS = {"95": (0.95, Z_95), "99_8": (0.998, Z_99_8)}
LIMIT_COLUMNS = ("lower_95", "upper_95", "lower_99_8", "upper_99_8")
FIGURE_COLUMNS = ("value", *LIMIT_COLUMNS)
MIN_EVENTS_FOR_BYARS = 10  # crude rates: exact limits below 10 events
MIN_EVENTS_FOR_DSR = 10  # no DSR under 10 deaths
MIN_DENOMINATOR_FOR_MEDIAN = 10
DSR_DECIMALS = 1
PER_100 = 100.0

PLACE_OF_DEATH = ("PD01", "PD02", "PD03", "PD04", "PD05")  # sum to their shared denominator
# Indicators whose denominator is "all decedents" (indicators.md table): the PD set's too.
ALL_DECEDENTS = (*PLACE_OF_DEATH, "ND01", "HU01", "HU02", "HU03", "HU04", "HU05")
NOT_PEOPLE = ("ED01", "ED02")  # staff and organisations: rule 1 does not apply to them
ALL = "all"
SII_BREAKDOWN = "imd_sii"
# Counts that are not a sum over the days of their period (stocks at the period end, a fixed
# list, a population snapshot): attack 5 leaves them alone.
NOT_ADDITIVE_OVER_TIME = {
    "RG01": ("numerator", "denominator"),
    "ED02": ("numerator", "denominator"),
    "MR01": ("denominator",),
}
ROLLING = "rolling_12m"
FINANCIAL_YEAR = "financial_year"
QUARTERS_PER_YEAR = 4
FINANCIAL_YEAR_END_MONTH = 3

PERIOD_KEY = ("period_type", "period_end")
GEOGRAPHY = ("geography_level", "geography_code")
CELL_KEY = ("indicator_id", *PERIOD_KEY, *GEOGRAPHY, "breakdown", "breakdown_value")
COUNTS = ("numerator", "denominator")
WIDTH_BUCKETS = ("pinned", "2-3", "4-6", "7+", "not small")
SHOW_PAIRS = 4  # candidate pairs quoted in a finding


# --------------------------------------------------------------------------------------------
# Statistics, from indicators.md "Statistics" (all as arrays)


def wilson(x: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score limits of x/n as percentages."""
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = z * np.sqrt(z**2 + 4 * x * (1 - x / n))
        lower = (2 * x + z**2 - spread) / (2 * (n + z**2))
        upper = (2 * x + z**2 + spread) / (2 * (n + z**2))
    return PER_100 * lower, PER_100 * upper


def byars(o: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    """Byar's limits on an observed count."""
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = o * (1 - 1 / (9 * o) - z / (3 * np.sqrt(o))) ** 3
        upper = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * np.sqrt(o + 1))) ** 3
    return lower, upper


def exact_poisson(x: np.ndarray, confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """Exact (chi-squared) limits on an observed count; the lower is 0 at 0 events."""
    alpha = 1 - confidence
    with np.errstate(invalid="ignore"):
        lower = np.where(x == 0, 0.0, chi2.ppf(alpha / 2, 2 * x) / 2)
        upper = chi2.ppf(confidence + alpha / 2, 2 * x + 2) / 2
    return lower, upper


def rate_limits(x: np.ndarray, n: np.ndarray, confidence: float, z: float):
    """Crude rate per 100 limits: exact below 10 events, Byar's at 10 and over."""
    exact_lower, exact_upper = exact_poisson(x, confidence)
    byars_lower, byars_upper = byars(x, z)
    small = x < MIN_EVENTS_FOR_BYARS
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(small, exact_lower, byars_lower) * PER_100 / n
        upper = np.where(small, exact_upper, byars_upper) * PER_100 / n
    return lower, upper


def figures(statistic: str, x: np.ndarray, n: np.ndarray) -> np.ndarray:
    """value and the four limits of a proportion, rate per 100 or mean, stacked on the last axis."""
    with np.errstate(divide="ignore", invalid="ignore"):
        value = x / n * (1.0 if statistic == "mean" else PER_100)
    if statistic == "mean":
        nothing = np.full_like(value, np.nan)
        return np.stack([value, nothing, nothing, nothing, nothing], axis=-1)
    limits = []
    for confidence, z in LEVELS.values():
        if statistic == "proportion":
            limits += wilson(x, n, z)
        else:
            limits += rate_limits(x, n, confidence, z)
    return np.stack([value, *limits], axis=-1)


def same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Equal to within the tolerance, a missing figure equal only to a missing one."""
    return (np.isnan(a) & np.isnan(b)) | np.isclose(a, b, rtol=REL_TOLERANCE, atol=ABS_TOLERANCE)


# --------------------------------------------------------------------------------------------
# The report


@dataclass
class Finding:
    """A cell the intruder learnt more about than the release promises."""

    attack: str
    indicator_id: str
    period_type: str
    period_end: str
    geography_level: str
    geography_code: str
    breakdown: str
    breakdown_value: str
    count: str  # numerator, denominator, or both
    found: str  # what the intruder learnt, e.g. "exact pair (13, 47)" or "in 3..5"

    def __str__(self) -> str:
        return (
            f"[{self.attack}] {self.indicator_id} {self.period_type} {self.period_end} "
            f"{self.geography_level} {self.geography_code} {self.breakdown}={self.breakdown_value}"
            f" {self.count}: {self.found}"
        )


@dataclass
class InversionTally:
    """Attack 1 for one statistic."""

    tried: int = 0
    leaking: int = 0  # the published counts do not reproduce the figures
    pinned: int = 0  # ... and exactly one other pair does: the exact counts
    narrowed: int = 0  # ... and several pairs do
    only_published: int = 0  # the published pair, and no other, reproduces the figures


@dataclass
class Widths:
    """How wide the range left for suppressed counts is (attacks 2, 4 and 5)."""

    buckets: Counter = field(default_factory=Counter)

    def add(self, low: float, high: float, threshold: int, single: bool) -> None:
        self.buckets[width_bucket(low, high, threshold, single)] += 1

    @property
    def cells(self) -> int:
        return sum(self.buckets.values())


@dataclass
class IntruderReport:
    rows: int = 0
    suppressed: int = 0
    threshold: int = SUPPRESSION_THRESHOLD
    multiple: int = ROUNDING_MULTIPLE
    inversion: dict[str, InversionTally] = field(default_factory=dict)  # by statistic
    inversion_findings: list[Finding] = field(default_factory=list)  # attack 1
    # attacks 2-5: partitions (or series) examined, by attack name
    partitions: Counter = field(default_factory=Counter)
    one_suppressed: Counter = field(default_factory=Counter)  # with exactly one hidden cell
    several_suppressed: Counter = field(default_factory=Counter)  # with two or more
    differencing_findings: list[Finding] = field(default_factory=list)  # attacks 2 and 3
    narrowed: list[Finding] = field(default_factory=list)  # attacks 4 and 5: reported only
    # (attack, "one" or "sum", count) -> widths of the range left
    widths: dict[tuple[str, str, str], Widths] = field(default_factory=dict)
    not_partitions: list[str] = field(default_factory=list)  # sums the data contradicts
    infeasible_series: int = 0  # attack 5 series whose counts no quarters can give

    @property
    def findings(self) -> list[Finding]:
        """Everything (1)-(3) recovered: empty on a release that keeps the promise."""
        return [*self.inversion_findings, *self.differencing_findings]

    def narrowing(
        self, attack: str, cell: dict, count: str, low: float, high: float, to_findings: bool
    ) -> None:
        """Note a suppressed count whose range says something about a count of 0-threshold:
        a finding for attacks 2-3, reported in `narrowed` for 4-5."""
        if not narrows_small_count(low, high, self.threshold):
            return
        inside_low, inside_high = max(low, 1), min(high, self.threshold)
        whole = f"range {max(low, 0):g}..{high:g}"
        if inside_low <= inside_high:
            found = f"{inside_low:g}..{inside_high:g} if small ({whole})"
        else:
            found = f"0 if small ({whole})"
        finding = Finding(attack, **key_of(cell), count=count, found=found)
        (self.differencing_findings if to_findings else self.narrowed).append(finding)

    def width(self, attack: str, kind: str, count: str) -> Widths:
        return self.widths.setdefault((attack, kind, count), Widths())

    def summary(self) -> str:
        lines = [
            f"Intruder test: {self.rows} published rows, {self.suppressed} suppressed "
            f"(threshold {self.threshold}, rounding to {self.multiple})",
            "",
            "(1) Inverting values and intervals over exact counts within the rounding",
            f"  {'statistic':<13}{'tried':>7}{'leaking':>9}{'pinned':>8}{'narrowed':>10}"
            f"{'only published':>16}",
        ]
        for statistic, t in sorted(self.inversion.items()):
            lines.append(
                f"  {statistic:<13}{t.tried:>7}{t.leaking:>9}{t.pinned:>8}{t.narrowed:>10}"
                f"{t.only_published:>16}"
            )
        lines += [
            "",
            "(2)-(5) Differencing",
            f"  {'attack':<32}{'partitions':>11}{'one hidden':>12}{'2+ hidden':>11}",
        ]
        for attack in sorted(self.partitions):
            lines.append(
                f"  {attack:<32}{self.partitions[attack]:>11}"
                f"{self.one_suppressed[attack]:>12}{self.several_suppressed[attack]:>11}"
            )
        lines += [
            "",
            "  Range left for a suppressed count (one hidden cell: the cell, within 1-"
            f"{self.threshold}; 2+ hidden: their sum), by width; 'not small': shown"
            " to be 0 or over the threshold (a complement)",
            f"  {'attack':<32}{'what':<9}{'cells':>7}" + "".join(f"{b:>9}" for b in WIDTH_BUCKETS),
        ]
        for (attack, kind, count), w in sorted(self.widths.items()):
            what = f"{'one' if kind == 'one' else 'sum'} {count[:3]}"
            lines.append(
                f"  {attack:<32}{what:<9}{w.cells:>7}"
                + "".join(f"{w.buckets[b]:>9}" for b in WIDTH_BUCKETS)
            )
        if self.infeasible_series:
            lines.append(f"  ({self.infeasible_series} rolling series fit no quarterly counts)")
        if self.not_partitions:
            lines += ["", "  Not treated as partitions (published totals contradict the sum):"]
            lines += [f"    {p}" for p in self.not_partitions]
        if self.narrowed:
            lines.append(
                f"  (4)-(5) narrowed {len(self.narrowed)} suppressed counts within 0-{self.threshold}"
            )
        findings = self.findings
        lines += ["", f"Recovered by (1)-(3): {len(findings)}"]
        lines += [f"  {f}" for f in findings[:20]]
        if len(findings) > 20:
            lines.append(f"  ... and {len(findings) - 20} more")
        return "\n".join(lines)


def width_bucket(low: float, high: float, threshold: int, single: bool) -> str:
    """The bucket of a range: a single cell's is cut to 1..threshold first."""
    if single:
        low, high = max(low, 1), min(high, threshold)
    else:
        low = max(low, 0)
    if high < low:
        return WIDTH_BUCKETS[4]
    width = high - low + 1
    if width == 1:
        return WIDTH_BUCKETS[0]
    if width <= 3:
        return WIDTH_BUCKETS[1]
    if width <= 6:
        return WIDTH_BUCKETS[2]
    return WIDTH_BUCKETS[3]


def narrows_small_count(low: float, high: float, threshold: int) -> bool:
    """True where a range tells something about a count of 0-threshold: it cuts 1..threshold
    to a part of it, or shows the count is 0."""
    low = max(low, 0)
    inside_low, inside_high = max(low, 1), min(high, threshold)
    if inside_low <= inside_high:
        return (inside_low, inside_high) != (1, threshold)
    return high == 0


# --------------------------------------------------------------------------------------------
# Reading the release and what a published count tells


def read_release(release: Path) -> pl.DataFrame:
    """Every published indicator row, with the hive partition columns as text."""
    files = sorted(release.glob("indicators/period_type=*/period_end=*/part-*.parquet"))
    if not files:
        raise FileNotFoundError("no indicator Parquet files in the release")
    dataset = ds.dataset(
        [str(f) for f in files],
        format="parquet",
        partitioning="hive",
        partition_base_dir=str(release / "indicators"),
    )
    df = pl.from_arrow(dataset.to_table())
    return df.with_columns(pl.col(c).cast(pl.String) for c in PERIOD_KEY).with_row_index("row")


def rounding_offsets(multiple: int) -> range:
    """How far a true count can lie from its published rounded value: -2..+2 for 5."""
    return range(-(multiple // 2), multiple - multiple // 2)


def count_bounds(df: pl.DataFrame, threshold: int, multiple: int) -> pl.DataFrame:
    """The range (lo, hi) each published count's true value lies in; null where hidden."""
    offsets = rounding_offsets(multiple)
    people = ~pl.col("indicator_id").is_in(NOT_PEOPLE)
    out = []
    for c in COUNTS:
        published = pl.col(c).is_not_null() & ~pl.col("suppressed")
        low = pl.max_horizontal(pl.col(c) + offsets[0], 0)
        low = pl.when(people & (pl.col(c) > 0)).then(pl.max_horizontal(low, threshold + 1))
        low = low.otherwise(pl.max_horizontal(pl.col(c) + offsets[0], 0))
        high = pl.when(people & (pl.col(c) == 0)).then(0).otherwise(pl.col(c) + offsets[-1])
        out += [
            pl.when(published).then(low).alias(f"{c}_lo"),
            pl.when(published).then(high).alias(f"{c}_hi"),
        ]
    return df.with_columns(out)


def key_of(row: dict) -> dict:
    return {k: str(row[k]) for k in CELL_KEY}


# --------------------------------------------------------------------------------------------
# (1) Inversion


def _candidates(df: pl.DataFrame, multiple: int):
    """Every (x, n) within the rounding of each row's published counts: arrays (rows, k)."""
    offsets = np.array(rounding_offsets(multiple))
    dx, dn = np.meshgrid(offsets, offsets, indexing="ij")
    x = df["numerator"].to_numpy().astype(float)[:, None] + dx.ravel()[None, :]
    n = df["denominator"].to_numpy().astype(float)[:, None] + dn.ravel()[None, :]
    return x, n, dx.ravel() == 0, dn.ravel() == 0


def _not_small(counts: np.ndarray, people: np.ndarray, threshold: int) -> np.ndarray:
    return ~people[:, None] | (counts == 0) | (counts > threshold)


def invert_ratios(df: pl.DataFrame, statistic: str, threshold: int, multiple: int):
    """Per row, the candidate pairs that reproduce every figure, and whether the published
    pair does. Returns (x, n, matches, published_matches)."""
    x, n, zero_x, zero_n = _candidates(df, multiple)
    people = ~df["indicator_id"].is_in(NOT_PEOPLE).to_numpy()
    possible = (x >= 0) & (n >= 1) & _not_small(x, people, threshold)
    possible &= _not_small(n, people, threshold)
    if statistic == "proportion":
        possible &= x <= n
    published = np.stack([df[c].cast(pl.Float64).to_numpy() for c in FIGURE_COLUMNS], axis=-1)
    computed = figures(statistic, np.where(possible, x, 0), np.where(possible, n, 1))
    matches = possible & same(computed, published[:, None, :]).all(axis=-1)
    return x, n, matches, matches[:, zero_x & zero_n][:, 0]


def invert_dsr(df: pl.DataFrame, multiple: int):
    """Per row, the candidate total counts O whose Byar's ratios give the published limits
    from the published value (each limit as computed, or rounded to one decimal), and
    whether the value itself is to one decimal. Returns (o, matches, published, one_dp)."""
    offsets = np.array(rounding_offsets(multiple))
    o = df["numerator"].to_numpy().astype(float)[:, None] + offsets[None, :]
    value = df["value"].to_numpy().astype(float)
    possible = o >= MIN_EVENTS_FOR_DSR
    matches = possible.copy()
    for level, (_, z) in LEVELS.items():
        for side, ratio in zip(("lower", "upper"), byars(np.where(possible, o, 1), z), strict=True):
            expected = value[:, None] * ratio / np.where(possible, o, 1)
            published = df[f"{side}_{level}"].to_numpy().astype(float)[:, None]
            matches &= same(expected, published) | same(np.round(expected, DSR_DECIMALS), published)
    scaled = value * 10**DSR_DECIMALS
    one_dp = same(scaled, np.round(scaled))
    return o, matches, matches[:, offsets == 0][:, 0], one_dp


def _pairs_text(xs, ns) -> str:
    pairs = [f"({int(a)}, {int(b)})" for a, b in zip(xs, ns, strict=True)]
    if not pairs:
        return "no pair within the rounding reproduces the figures"
    if len(pairs) == 1:
        return f"exact pair {pairs[0]}"
    shown = ", ".join(pairs[:SHOW_PAIRS]) + (" ..." if len(pairs) > SHOW_PAIRS else "")
    return f"one of {len(pairs)} pairs: {shown}"


def attack_inversion(df: pl.DataFrame, report: IntruderReport) -> pl.DataFrame:
    """Attack 1. Returns the count bounds, narrowed where a row gave its exact counts away."""
    threshold, multiple = report.threshold, report.multiple
    shown = df.filter(~pl.col("suppressed") & pl.col("value").is_not_null())
    learnt: list[dict] = []  # row -> narrowed bounds

    def leak(row: dict, found: str, count: str = "numerator, denominator") -> None:
        report.inversion_findings.append(
            Finding("1 inversion", **key_of(row), count=count, found=found)
        )

    for statistic in ("proportion", "rate_per_100", "mean"):
        part = shown.filter(
            (pl.col("statistic") == statistic)
            & pl.col("numerator").is_not_null()
            & pl.col("denominator").is_not_null()
        )
        tally = report.inversion.setdefault(statistic, InversionTally())
        if part.is_empty():
            continue
        x, n, matches, published = invert_ratios(part, statistic, threshold, multiple)
        tally.tried += part.height
        for i, row in enumerate(part.iter_rows(named=True)):
            hits = matches[i]
            if published[i]:
                tally.only_published += int(hits.sum() == 1)
                continue
            tally.leaking += 1
            xs, ns = x[i][hits], n[i][hits]
            tally.pinned += int(len(xs) == 1)
            tally.narrowed += int(len(xs) > 1)
            leak(row, _pairs_text(xs, ns))
            if len(xs):
                learnt.append(
                    {
                        "row": row["row"],
                        "numerator_lo": int(xs.min()),
                        "numerator_hi": int(xs.max()),
                        "denominator_lo": int(ns.min()),
                        "denominator_hi": int(ns.max()),
                    }
                )

    counts = shown.filter(pl.col("statistic") == "count")
    tally = report.inversion.setdefault("count", InversionTally())
    for row in counts.iter_rows(named=True):
        tally.tried += 1
        if row["numerator"] is not None and float(row["value"]) == row["numerator"]:
            tally.only_published += 1
            continue
        tally.leaking += 1
        leak(row, f"value {row['value']} is not the published count", count="value")

    medians = shown.filter(pl.col("statistic") == "median")
    tally = report.inversion.setdefault("median", InversionTally())
    for row in medians.iter_rows(named=True):
        tally.tried += 1
        whole = float(row["value"]).is_integer()
        enough = row["denominator"] is not None and row["denominator"] >= MIN_DENOMINATOR_FOR_MEDIAN
        if whole and enough:
            tally.only_published += 1
            continue
        tally.leaking += 1
        why = [] if whole else [f"median {row['value']} is not whole days"]
        why += (
            []
            if enough
            else [f"denominator {row['denominator']} is under {MIN_DENOMINATOR_FOR_MEDIAN}"]
        )
        leak(row, "; ".join(why), count="value")

    dsrs = shown.filter((pl.col("statistic") == "dsr") & pl.col("numerator").is_not_null())
    tally = report.inversion.setdefault("dsr", InversionTally())
    if not dsrs.is_empty():
        o, matches, published, one_dp = invert_dsr(dsrs, multiple)
        for i, row in enumerate(dsrs.iter_rows(named=True)):
            tally.tried += 1
            hits = o[i][matches[i]]
            if published[i] and one_dp[i]:
                tally.only_published += int(len(hits) == 1)
                continue
            tally.leaking += 1
            if not published[i]:
                tally.pinned += int(len(hits) == 1)
                tally.narrowed += int(len(hits) > 1)
                found = (
                    f"total count one of {[int(h) for h in hits]}"
                    if len(hits)
                    else "limits not those of any total count within the rounding"
                )
            else:
                found = f"value {row['value']} is not to {DSR_DECIMALS} decimal place"
            leak(row, found, count="numerator")
            if not published[i] and len(hits):
                learnt.append(
                    {
                        "row": row["row"],
                        "numerator_lo": int(hits.min()),
                        "numerator_hi": int(hits.max()),
                        "denominator_lo": row["denominator_lo"],
                        "denominator_hi": row["denominator_hi"],
                    }
                )

    if not learnt:
        return df
    bounds = ("numerator_lo", "numerator_hi", "denominator_lo", "denominator_hi")
    narrowed = pl.DataFrame(learnt, schema={"row": pl.UInt32, **dict.fromkeys(bounds, pl.Int64)})
    return df.update(narrowed, on="row")


# --------------------------------------------------------------------------------------------
# Differencing: one parent total and its parts


def difference(
    parent: tuple[float, float],
    parts: list[tuple[bool, float | None, float | None]],
) -> tuple[int, float, float]:
    """How many parts are hidden, and the range of the hidden parts' sum."""
    hidden = [p for p in parts if p[0]]
    low = parent[0] - sum(p[2] for p in parts if not p[0])
    high = parent[1] - sum(p[1] for p in parts if not p[0])
    return len(hidden), max(low, 0), high


def _partition_rows(
    groups: pl.DataFrame, parent: dict[tuple, tuple[float, float]], key: tuple[str, ...]
):
    """Per group of parts: its key values, its parent's range, and its parts."""
    for group in groups.iter_rows(named=True):
        k = tuple(group[c] for c in key)
        if k not in parent:
            continue
        yield group, parent[k]


def _consistent(parent: tuple[float, float], parts: list[tuple]) -> bool:
    """A fully published group: does the sum of its parts' ranges meet the parent's?"""
    low = sum(p[1] for p in parts)
    high = sum(p[2] for p in parts)
    return low <= parent[1] and high >= parent[0]


def run_partitions(
    report: IntruderReport,
    attack: str,
    parts: pl.DataFrame,
    parents: pl.DataFrame,
    key: tuple[str, ...],
    check_by: tuple[str, ...],
    recover: bool,
) -> None:
    """Difference every group of `parts` (same `key`) against its parent row in `parents`.

    A group with one hidden count yields that count's range; with several, their sum's. Where
    `recover`, a range that narrows a count of 1-threshold is a finding (attacks 2 and 3).
    Sums are first checked on the fully published groups of each `check_by` value: where the
    published figures contradict the sum, it is not a partition and is left alone.
    """
    threshold = report.threshold
    for count in COUNTS:
        lo, hi = f"{count}_lo", f"{count}_hi"
        parent = {
            tuple(r[c] for c in key): (r[lo], r[hi])
            for r in parents.filter(pl.col(lo).is_not_null()).iter_rows(named=True)
        }
        groups = parts.group_by(key).agg(
            pl.struct([*CELL_KEY, "suppressed", lo, hi]).alias("parts")
        )
        rows = list(_partition_rows(groups, parent, key))
        # which sums hold on fully published groups
        contradicted: set[tuple] = set()
        for group, total in rows:
            cells = group["parts"]
            if any(c["suppressed"] for c in cells):
                continue
            spans = [(False, c[lo], c[hi]) for c in cells]
            if any(s[1] is None for s in spans):
                continue
            if not _consistent(total, spans):
                contradicted.add(tuple(cells[0][c] for c in check_by))
        for name in sorted(contradicted):
            report.not_partitions.append(f"{attack} {count}: {' '.join(map(str, name))}")
        for group, total in rows:
            cells = group["parts"]
            if tuple(cells[0][c] for c in check_by) in contradicted:
                continue
            spans = [(c["suppressed"], c[lo], c[hi]) for c in cells]
            if any(not s[0] and s[1] is None for s in spans):
                continue  # a published row without this count (a median's numerator)
            if count == COUNTS[0]:
                report.partitions[attack] += 1
            hidden, low, high = difference(total, spans)
            if hidden == 0:
                continue
            if hidden == 1:
                if count == COUNTS[0]:
                    report.one_suppressed[attack] += 1
                report.width(attack, "one", count).add(low, high, threshold, single=True)
                cell = next(c for c in cells if c["suppressed"])
                report.narrowing(attack, cell, count, low, high, to_findings=recover)
            else:
                if count == COUNTS[0]:
                    report.several_suppressed[attack] += 1
                report.width(attack, "sum", count).add(low, high, threshold, single=False)


def attack_place_of_death(df: pl.DataFrame, report: IntruderReport) -> None:
    """Attack 2: PD01-PD05 sum to the denominator they share with every all-decedents row."""
    key = (*PERIOD_KEY, *GEOGRAPHY, "breakdown", "breakdown_value")
    parts = df.filter(pl.col("indicator_id").is_in(PLACE_OF_DEATH))
    # the parent: the shared denominator, as numerator of a pseudo-row (intersect every range)
    shared = (
        df.filter(
            pl.col("indicator_id").is_in(ALL_DECEDENTS) & pl.col("denominator_lo").is_not_null()
        )
        .group_by(key)
        .agg(
            numerator_lo=pl.col("denominator_lo").max(), numerator_hi=pl.col("denominator_hi").min()
        )
        .with_columns(denominator_lo=pl.lit(None, pl.Int64), denominator_hi=pl.lit(None, pl.Int64))
    )
    run_partitions(
        report,
        "2 place of death PD01-PD05",
        parts.with_columns(
            denominator_lo=pl.lit(None, pl.Int64), denominator_hi=pl.lit(None, pl.Int64)
        ),
        shared,
        key,
        check_by=("geography_level",),
        recover=True,
    )


def attack_categories(df: pl.DataFrame, report: IntruderReport) -> None:
    """Attack 3: a breakdown's categories sum to its `all` row."""
    key = ("indicator_id", *PERIOD_KEY, *GEOGRAPHY)
    parts = df.filter(~pl.col("breakdown").is_in([ALL, SII_BREAKDOWN]))
    parents = df.filter(pl.col("breakdown") == ALL)
    for breakdown in sorted(parts["breakdown"].unique()):
        run_partitions(
            report,
            f"3 categories: {breakdown}",
            parts.filter(pl.col("breakdown") == breakdown),
            parents,
            key,
            check_by=("indicator_id", "breakdown"),
            recover=True,
        )


def attack_geographies(
    df: pl.DataFrame, report: IntruderReport, practice_to_pcn: dict[str, str] | None
) -> None:
    """Attack 4: places sum to the ICS, practices to their PCN (whole cohort)."""
    whole = df.filter(pl.col("breakdown") == ALL)
    key = ("indicator_id", *PERIOD_KEY, "parent")
    ics = whole.filter(pl.col("geography_level") == "ics").with_columns(parent=pl.lit("ics"))
    places = whole.filter(pl.col("geography_level") == "place").with_columns(parent=pl.lit("ics"))
    run_partitions(report, "4 places in the ICS", places, ics, key, ("indicator_id",), False)
    if practice_to_pcn is None:
        return
    pcns = whole.filter(pl.col("geography_level") == "pcn").with_columns(
        parent=pl.col("geography_code")
    )
    practices = whole.filter(pl.col("geography_level") == "practice").with_columns(
        parent=pl.col("geography_code").replace_strict(practice_to_pcn, default=None)
    )
    run_partitions(
        report,
        "4 practices in their PCN",
        practices.filter(pl.col("parent").is_not_null()),
        pcns,
        key,
        ("indicator_id",),
        False,
    )


# --------------------------------------------------------------------------------------------
# (5) Rolling periods: each is the sum of four quarters


def quarter_index(period_end: str) -> int:
    day = dt.date.fromisoformat(period_end)
    return day.year * QUARTERS_PER_YEAR + (day.month - 1) // 3


def series_range(windows: dict[int, tuple[float, float]], target: int, first: int, last: int):
    """Smallest and largest total of quarters target-3..target, over all non-negative quarter
    counts first-3..last whose four-quarter totals lie in `windows` (None if none fit)."""
    quarters = range(first - 3, last + 1)

    def row(end: int) -> list[float]:
        return [1.0 if end - 3 <= q <= end else 0.0 for q in quarters]

    a_ub, b_ub = [], []
    for end, (low, high) in windows.items():
        a_ub += [row(end), [-v for v in row(end)]]
        b_ub += [high, -low]
    objective = np.array(row(target))
    out = []
    for sign in (1, -1):
        result = linprog(sign * objective, A_ub=a_ub, b_ub=b_ub, bounds=(0, None), method="highs")
        if result.status == 2:
            return None
        out.append(math.inf if result.status == 3 else sign * result.fun)
    low, high = out
    return math.ceil(low - 1e-6), (high if high == math.inf else math.floor(high + 1e-6))


def attack_rolling(df: pl.DataFrame, report: IntruderReport) -> None:
    """Attack 5: consecutive rolling periods (and the financial year equal to one of them)."""
    attack = "5 consecutive rolling periods"
    series_key = ("indicator_id", *GEOGRAPHY, "breakdown", "breakdown_value")
    rolling = df.filter(pl.col("period_type") == ROLLING)
    years = df.filter(pl.col("period_type") == FINANCIAL_YEAR)
    for count in COUNTS:
        lo, hi = f"{count}_lo", f"{count}_hi"
        skip = [i for i, counts in NOT_ADDITIVE_OVER_TIME.items() if count in counts]
        fy: dict[tuple, dict[int, tuple[float, float]]] = {}
        for r in years.filter(pl.col(lo).is_not_null()).iter_rows(named=True):
            series = fy.setdefault(tuple(r[c] for c in series_key), {})
            series[quarter_index(r["period_end"])] = (r[lo], r[hi])
        groups = (
            rolling.filter(~pl.col("indicator_id").is_in(skip))
            .group_by(series_key)
            .agg(pl.struct([*CELL_KEY, "suppressed", lo, hi]).alias("cells"))
        )
        for group in groups.iter_rows(named=True):
            cells = group["cells"]
            if not any(c["suppressed"] for c in cells):
                continue
            if count == COUNTS[0]:
                report.partitions[attack] += 1
            windows: dict[int, tuple[float, float]] = {}
            for c in cells:
                if c[lo] is not None:
                    windows[quarter_index(c["period_end"])] = (c[lo], c[hi])
            for q, span in fy.get(tuple(group[c] for c in series_key), {}).items():
                windows.setdefault(q, span)
            ends = [quarter_index(c["period_end"]) for c in cells]
            for c in cells:
                if not c["suppressed"]:
                    continue
                target = quarter_index(c["period_end"])
                if not any(abs(q - target) < QUARTERS_PER_YEAR for q in windows):
                    report.width(attack, "one", count).add(
                        -math.inf, math.inf, report.threshold, True
                    )
                    continue
                span = series_range(windows, target, min([*ends, *windows]), max([*ends, *windows]))
                if span is None:
                    report.infeasible_series += 1
                    break
                if count == COUNTS[0]:
                    report.one_suppressed[attack] += 1
                report.width(attack, "one", count).add(*span, report.threshold, single=True)
                report.narrowing(attack, c, count, *span, to_findings=False)


# --------------------------------------------------------------------------------------------


def attack(
    release: Path,
    *,
    threshold: int = SUPPRESSION_THRESHOLD,
    multiple: int = ROUNDING_MULTIPLE,
    practice_to_pcn: dict[str, str] | None = None,
) -> IntruderReport:
    """Every attack on one release's Parquet files."""
    df = read_release(Path(release))
    report = IntruderReport(
        rows=df.height,
        suppressed=int(df["suppressed"].sum()),
        threshold=threshold,
        multiple=multiple,
    )
    df = count_bounds(df, threshold, multiple)
    df = attack_inversion(df, report)
    attack_place_of_death(df, report)
    attack_categories(df, report)
    attack_geographies(df, report, practice_to_pcn)
    attack_rolling(df, report)
    return report


def practice_to_pcn_map(folder: Path) -> dict[str, str]:
    """Practice code -> PCN code from the public practice list (ref_practice CSV files)."""
    mapping: dict[str, str] = {}
    for path in sorted(Path(folder).rglob("ref_practice_*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                mapping[row["gp_practice_code"].strip()] = row["pcn_code"].strip()
    return mapping


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("release", type=Path, help="the release folder")
    parser.add_argument(
        "--landing", type=Path, help="folder holding ref_practice CSV files (practice -> PCN)"
    )
    args = parser.parse_args(argv)
    mapping = practice_to_pcn_map(args.landing) if args.landing else None
    print(attack(args.release, practice_to_pcn=mapping).summary())


if __name__ == "__main__":
    main()
