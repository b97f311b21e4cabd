"""The published figures worked out again from the warehouse's exact counts, independently.

Written from indicators.md ("Statistics", "Disclosure control" v2) in plain Python over one
dict per row, importing nothing of the project's statistics or disclosure code, so that the
back-test's ground truth is not the publication code's own output copied back:

- rule 1: a numerator or denominator of 1-7 hides the row; so does a median over fewer than
  10 people and a DSR of fewer than 10 deaths;
- rule 3: repeated until nothing changes, the breakdown categories of one indicator, period
  and geography, then the place-of-death set PD01-PD05 of one period, geography and
  breakdown value: a group with exactly one hidden cell hides its next smallest cell
  (non-empty first; by denominator, numerator, category for a breakdown, by numerator and
  indicator for the set);
- rule 2: counts rounded to 5, every value and limit from the rounded counts (Wilson;
  crude rate with exact limits under 10 events and Byar's from 10; mean; median half up to
  whole days; DSR half up to 1 dp with Byar's limits on the rounded total, scaled);
- rule 4: the SII value from the published quintiles (all five published), and the
  comparison with the published ICS value;
- v2: ED01 and ED02 count staff and organisations, not people: rules 1 and 3 do not apply
  to them (never hidden, never a complement), rule 2 does; ED01's statistic `count` is
  published as its rounded count (no denominator, no interval).

Trend markers and the SII's simulated limits are left to the unit tests of those methods.
"""

from __future__ import annotations

import math
from collections import defaultdict
from statistics import NormalDist

from scipy.stats import chi2

THRESHOLD = 7
MULTIPLE = 5
PLACE_OF_DEATH = {"PD01", "PD02", "PD03", "PD04", "PD05"}
NOT_PEOPLE = {"ED01", "ED02"}  # indicators.md v2: rules 1 and 3 do not apply
Z = {"95": NormalDist().inv_cdf(0.975), "99_8": NormalDist().inv_cdf(0.999)}
CONFIDENCE = {"95": 0.95, "99_8": 0.998}
FIGURES = ["value", "lower_95", "upper_95", "lower_99_8", "upper_99_8"]
WORDS = {
    "none": ("higher", "lower"),
    "higher_is_better": ("better", "worse"),
    "lower_is_better": ("worse", "better"),
}

Key = tuple


def key(row: dict) -> Key:
    return (
        row["indicator_id"],
        row["period_type"],
        row["period_end"],
        row["geography_level"],
        row["geography_code"],
        row["breakdown"],
        row["breakdown_value"],
    )


def _rounded(count: int | None) -> int | None:
    return None if count is None else (count + MULTIPLE // 2) // MULTIPLE * MULTIPLE


def _half_up(value: float | None, decimals: int) -> float | None:
    if value is None:
        return None
    return math.floor(value * 10**decimals + 0.5) / 10**decimals


def _small(row: dict) -> bool:
    if row["indicator_id"] in NOT_PEOPLE:
        return False

    def between(c, low, high):
        return row[c] is not None and low <= row[c] <= high

    small = between("numerator", 1, THRESHOLD) or between("denominator", 1, THRESHOLD)
    if row["statistic"] == "median":
        small = small or between("denominator", 1, 9)
    if row["statistic"] == "dsr":
        small = small or between("numerator", 1, 9)
    return small


def hidden_rows(rows: list[dict]) -> set[Key]:
    """Rules 1 and 3: the keys of every row a release must suppress."""
    hidden = {key(r) for r in rows if _small(r) and r["breakdown"] != "imd_sii"}
    breakdowns: dict[Key, list[dict]] = defaultdict(list)
    sets: dict[Key, list[dict]] = defaultdict(list)
    for r in rows:
        if r["indicator_id"] in NOT_PEOPLE:
            continue
        if r["breakdown"] not in ("all", "imd_sii"):
            breakdowns[key(r)[:6]].append(r)
        if r["indicator_id"] in PLACE_OF_DEATH:
            sets[key(r)[1:]].append(r)

    def breakdown_order(r):
        return ((r["denominator"] or 0) == 0, r["denominator"], r["numerator"] or 0, key(r)[6])

    def set_order(r):
        return ((r["numerator"] or 0) == 0, r["numerator"] or 0, r["indicator_id"])

    changed = True
    while changed:
        changed = False
        for groups, order in ((breakdowns, breakdown_order), (sets, set_order)):
            for cells in groups.values():
                shown = [r for r in cells if key(r) not in hidden]
                if len(cells) >= 2 and len(cells) - len(shown) == 1:
                    hidden.add(key(min(shown, key=order)))
                    changed = True
    return hidden


def _wilson(x: int, n: int) -> list[float | None]:
    if not n:
        return [None] * 5
    out = [100 * x / n]
    for level in ("95", "99_8"):
        z = Z[level]
        spread = z * math.sqrt(z * z + 4 * x * (1 - x / n))
        out.append(0.0 if x == 0 else 100 * (2 * x + z * z - spread) / (2 * (n + z * z)))
        out.append(100.0 if x == n else 100 * (2 * x + z * z + spread) / (2 * (n + z * z)))
    return out


def _byars(o: float, level: str) -> tuple[float, float]:
    z = Z[level]
    lower = o * (1 - 1 / (9 * o) - z / (3 * math.sqrt(o))) ** 3 if o > 0 else float("nan")
    upper = (o + 1) * (1 - 1 / (9 * (o + 1)) + z / (3 * math.sqrt(o + 1))) ** 3
    return lower, upper


def _exact_poisson(o: int, level: str) -> tuple[float, float]:
    c = CONFIDENCE[level]
    lower = 0.0 if o == 0 else chi2.ppf((1 - c) / 2, 2 * o) / 2
    return lower, chi2.ppf(c + (1 - c) / 2, 2 * o + 2) / 2


def _rate(x: int, n: int) -> list[float | None]:
    if not n:
        return [None] * 5
    out = [100 * x / n]
    for level in ("95", "99_8"):
        lower, upper = _exact_poisson(x, level) if x < 10 else _byars(x, level)
        out += [100 * lower / n, 100 * upper / n]
    return out


def _figures(row: dict, x: int | None, n: int | None) -> list[float | None]:
    statistic = row["statistic"]
    if statistic == "proportion":
        return _wilson(x, n)
    if statistic == "rate_per_100":
        return _rate(x, n)
    if statistic == "mean":
        return [x / n if n else None, None, None, None, None]
    if statistic == "percentage_of_time":  # HU07: bed days over decedents x 182.5
        if not n:
            return [None] * 5
        return [min(100.0, max(0.0, 100 - 100 * x / (n * 182.5))), None, None, None, None]
    if statistic == "median":
        return [_half_up(row["value"], 0), None, None, None, None]
    if statistic == "count":
        return [float(x) if x is not None else None, None, None, None, None]
    if statistic == "dsr":
        value = _half_up(row["value"], 1)
        if value is None:
            return [None] * 5
        out = [value]
        for level in ("95", "99_8"):
            lower, upper = _byars(x, level)
            out += [value * lower / x, value * upper / x]
        return out
    raise ValueError(statistic)


def _sii(quintiles: list[dict], statistic: str) -> float | None:
    """phe_sii's slope over the published quintile values, in percentage points / per 100.

    None where phe_sii has none: a quintile without people, or at 0 (or 100%) where the
    logit or log of its value or limit is infinite.
    """
    pops = [q["denominator"] for q in quintiles]
    values = [q["value"] for q in quintiles]
    if any(v is None for v in values) or not all(p and p > 0 for p in pops):
        return None
    for q in quintiles:
        if q["numerator"] == 0 or (
            statistic == "proportion" and q["numerator"] == q["denominator"]
        ):
            return None
    total = sum(pops)
    shares = [p / total for p in pops]
    ranks, cumulative = [], 0.0
    for a in shares:
        ranks.append(cumulative + a / 2)
        cumulative += a
    mean_rank = sum(a * b for a, b in zip(shares, ranks, strict=True))
    sxx = sum(a * (b - mean_rank) ** 2 for a, b in zip(shares, ranks, strict=True))
    sxy = sum(a * (b - mean_rank) * v / 100 for a, b, v in zip(shares, ranks, values, strict=True))
    return 100 * sxy / sxx


def independent_release(rows: list[dict]) -> dict[Key, dict]:
    """Key -> the published row's counts, figures, suppressed, comparator and comparison."""
    hidden = hidden_rows(rows)
    ics_code = _ics_code(rows)
    out: dict[Key, dict] = {}
    for r in rows:
        k = key(r)
        if r["breakdown"] == "imd_sii":
            continue
        if k in hidden:
            out[k] = dict(numerator=None, denominator=None, suppressed=True)
            out[k].update(dict.fromkeys(FIGURES))
            continue
        x, n = _rounded(r["numerator"]), _rounded(r["denominator"])
        out[k] = dict(numerator=x, denominator=n, suppressed=False)
        out[k].update(zip(FIGURES, _figures(r, x, n), strict=True))
    rows_by_key = {key(r): r for r in rows}
    for r in rows:  # the SII rows, from the published quintiles
        if r["breakdown"] != "imd_sii":
            continue
        k = key(r)
        quintiles = [out.get((*k[:5], "imd_quintile", q)) for q in "12345"]
        # Hidden where a quintile is; without a value where one has no row (no people).
        suppressed = any(q is not None and q["suppressed"] for q in quintiles)
        shown = not suppressed and all(q is not None for q in quintiles)
        out[k] = dict(numerator=None, denominator=None, suppressed=suppressed)
        out[k].update(dict.fromkeys(FIGURES))
        statistic = rows_by_key[(*k[:5], "imd_quintile", "1")]["statistic"] if shown else None
        out[k]["value"] = _sii(quintiles, statistic) if shown else None
    for r in rows:  # the comparison with the published ICS value
        k = key(r)
        published = out[k]
        if r["breakdown"] == "imd_sii":
            published.update(comparator_value=None, comparison="not_compared")
            continue
        ics = out.get((*k[:3], "ics", ics_code, *k[5:]))
        comparator = ics["value"] if ics else None
        published["comparator_value"] = comparator
        lower, upper = published["lower_95"], published["upper_95"]
        if r["geography_level"] == "ics" or comparator is None or lower is None:
            published["comparison"] = "not_compared"
        elif lower <= comparator <= upper:
            published["comparison"] = "similar"
        else:
            above, below = WORDS[r["polarity"]]
            published["comparison"] = above if lower > comparator else below
    return out


def _ics_code(rows: list[dict]) -> str:
    codes = {r["geography_code"] for r in rows if r["geography_level"] == "ics"}
    if len(codes) != 1:
        raise ValueError(f"expected one ICS, found {sorted(codes)}")
    return codes.pop()
