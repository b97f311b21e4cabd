"""Numbers, periods and markers in the words a board member reads."""

from __future__ import annotations

import datetime as dt

SUPPRESSED = "suppressed (small numbers)"
NOT_AVAILABLE = "not available"
NO_FIGURE = "no figure published"
NOT_CALCULATED = "could not be calculated"
PERCENT = "%"
MEDIAN = "median"

TREND_WORDS = {
    "increasing": "Increasing",
    "decreasing": "Decreasing",
    "increasing_and_getting_better": "Increasing and getting better",
    "increasing_and_getting_worse": "Increasing and getting worse",
    "decreasing_and_getting_better": "Decreasing and getting better",
    "decreasing_and_getting_worse": "Decreasing and getting worse",
    "no_significant_change": "No significant change",
    "could_not_be_calculated": "Could not be calculated (a recent period is suppressed or "
    "too few periods)",
}
NO_TREND = "No trend is worked out for this statistic"

BREAKDOWN_VALUE_WORDS = {
    "1": "1 (most deprived)",
    "5": "5 (least deprived)",
    "organ_failure": "organ failure",
    "dementia_frailty": "dementia and frailty",
    "unknown": "not known",
}


def number(value: float | None, unit: str, statistic: str) -> str:
    """A value in its unit: 48.8%, 71 days, 76.7 per 100 decedents; None is not available."""
    if value is None:
        return NOT_AVAILABLE
    if statistic == MEDIAN:
        return f"{value:,.0f} {unit}"
    if unit == PERCENT:
        decimals = 2 if 0 < abs(value) < 1 else 1
        return f"{value:,.{decimals}f}%"
    return f"{value:,.1f} {unit}"


def shown_value(row: dict | None) -> str:
    """A published row's value, or why there is none."""
    if row is None:
        return NOT_AVAILABLE
    if row["suppressed"]:
        return SUPPRESSED
    return number(row["value"], row["unit"], row["statistic"])


def interval(row: dict | None) -> str | None:
    """The row's 95% interval in words, or None where it has none."""
    if row is None or row["suppressed"] or row["lower_95"] is None or row["upper_95"] is None:
        return None
    low = number(row["lower_95"], row["unit"], row["statistic"])
    high = number(row["upper_95"], row["unit"], row["statistic"])
    return f"{low} to {high}"


def trend(row: dict | None) -> str:
    if row is None:
        return NOT_AVAILABLE
    if row["suppressed"]:
        return f"not shown: {SUPPRESSED}"
    marker = row["trend"]
    return TREND_WORDS.get(marker, marker) if marker else NO_TREND


def rolling_period(end: dt.date) -> str:
    """12 months to 30 September 2026."""
    return f"12 months to {end.day} {end:%B %Y}"


def short_period(end: dt.date) -> str:
    return f"{end:%b %Y}"


def financial_year(end: dt.date) -> str:
    """2025/26 for the year ending 31 March 2026."""
    return f"{end.year - 1}/{end.year % 100:02d}"


def breakdown_value(value: str) -> str:
    return BREAKDOWN_VALUE_WORDS.get(value, value.replace("_", " "))


# --- benchmarks (indicators.md v3) -----------------------------------------------------------

COMPARED_WORDS = {
    "similar": "similar to",
    "higher": "higher than",
    "lower": "lower than",
    "better": "better than",
    "worse": "worse than",
}
DIFFERS_MARK = "Differs from diewell:"


def benchmark_period(period_type: str, end: dt.date) -> str:
    """2022 (a calendar year), 2021/22 (a financial year) or 12 months to 31 December 2022."""
    if period_type == "calendar_year":
        return f"{end.year}"
    if period_type == "financial_year":
        return financial_year(end)
    return rolling_period(end)


def benchmark_label(level: str, area: str, period: str) -> str:
    """England (2022); South West (region, 2025); Wessex ICS (peer, 2025)."""
    return f"{area} ({period})" if level == "england" else f"{area} ({level}, {period})"


def compared(comparison: str, area: str) -> str:
    """How the ICS compares, in words: "the ICS is lower than England"."""
    if comparison in COMPARED_WORDS:
        return f"the ICS is {COMPARED_WORDS[comparison]} {area}"
    return "not compared (the ICS figure is suppressed or has no interval)"


def difference(source: str) -> str | None:
    """How a benchmark is defined differently from diewell's figure, as its source says
    ("Differs from diewell: ..."); None where the source names no difference."""
    if DIFFERS_MARK not in source:
        return None
    return source.split(DIFFERS_MARK, 1)[1].strip()


def publisher(source: str) -> str:
    """The source without its stated difference: who published the figure, and where."""
    return source.split(DIFFERS_MARK, 1)[0].strip().rstrip(".")
