"""Reporting periods (indicators.md "Periods"): rolling 12 months ending each quarter end, and
financial years (1 April to 31 March). Only periods fully covered by the deaths data exist.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Period:
    period_type: str
    period_start: dt.date
    period_end: dt.date


def month_end(year: int, month: int) -> dt.date:
    nxt = dt.date(year + (month == 12), month % 12 + 1, 1)
    return nxt - dt.timedelta(days=1)


def twelve_months_ending(end: dt.date) -> dt.date:
    """The first day of the 12 calendar months that end on the month end `end`."""
    year, month = (end.year, end.month + 1) if end.month < 12 else (end.year + 1, 1)
    return dt.date(year - 1, month, 1)


def reporting_periods(coverage_start: dt.date, coverage_end: dt.date) -> list[Period]:
    """Every rolling 12-month period ending on a quarter end, and every financial year,
    lying wholly inside [coverage_start, coverage_end]."""
    periods = []
    for year in range(coverage_start.year, coverage_end.year + 1):
        for month in (3, 6, 9, 12):
            end = month_end(year, month)
            start = twelve_months_ending(end)
            if start >= coverage_start and end <= coverage_end:
                periods.append(Period("rolling_12m", start, end))
    for fy in range(coverage_start.year - 1, coverage_end.year + 1):
        start, end = dt.date(fy, 4, 1), dt.date(fy + 1, 3, 31)
        if start >= coverage_start and end <= coverage_end:
            periods.append(Period("financial_year", start, end))
    return sorted(periods, key=lambda p: (p.period_type, p.period_end))
