"""Named built-in operations: rules a layout invokes by name because no generic form says them.

- `out_of_hours` (a row form): `Y` when a contact's time is before `day_starts` (08:00) or
  from `evening_starts` (18:30), or its date is a Saturday, a Sunday or in the `calendar`
  lookup (England's bank holidays); else `N`; empty when there is no time. A time that is not
  a time is left as it came (the contract's Y/N rule quarantines it); with a date that is not
  a date it is empty (the contract quarantines the date).
- `qof_register_date_added` (an aggregation pick): QOF's palliative care register rule and
  the start of the person's current episode on it (sources.md, gp_events):
  only `register` events dated on or after `counted_from` count; L is the latest of them. No
  L, or a `resolved` event dated after L: no value (the layout's `drop_groups_without`
  filters the person). Otherwise the earliest counted event dated on or after the latest
  `resolved` event dated on or before L (a resolved event on L's own day does not remove the
  person: their current episode starts that day), or the earliest counted event when no
  resolved event comes on or before L.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl

from diewell.expectations.layouts.forms import Formed, parse_date, parse_time, src
from diewell.expectations.layouts.model import CodeList

SATURDAY = 6  # Polars weekdays: Monday 1 ... Sunday 7


def _seconds(hh_mm: str) -> int:
    parts = [int(p) for p in hh_mm.split(":")] + [0]
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def out_of_hours(spec: Mapping, holidays: frozenset[str]) -> Formed:
    time_raw = src(spec["time"])
    date = parse_date(src(spec["date"]), spec["formats"])
    seconds, _ = parse_time(time_raw)
    calendar = pl.Series([dt.date.fromisoformat(d) for d in sorted(holidays)], dtype=pl.Date)
    outside = (
        (seconds < _seconds(spec["day_starts"]))
        | (seconds >= _seconds(spec["evening_starts"]))
        | (date.dt.weekday() >= SATURDAY)
        | date.is_in(calendar.implode())
    )
    value = (
        pl.when(time_raw.is_null())
        .then(None)
        .when(seconds.is_null())
        .then(time_raw)
        .when(date.is_null())
        .then(None)
        .when(outside)
        .then(pl.lit("Y"))
        .otherwise(pl.lit("N"))
    )
    return Formed(value, (spec["date"], spec["time"]))


def qof_register_date_added(spec: Mapping, codelists: Mapping[str, CodeList]) -> pl.Expr:
    """The pick as an aggregation over one person's rows (dates are `YYYY-MM-DD` text)."""

    def codes(names) -> list[str]:
        names = names if isinstance(names, list) else [names]
        return sorted(set().union(*(codelists[n].codes for n in names)))

    date = pl.col(spec["date"]).str.to_date("%Y-%m-%d", strict=False)
    code = pl.col(spec["code"])
    counted = (
        code.is_in(codes(spec["register"])) & (date >= dt.date.fromisoformat(spec["counted_from"]))
    ).fill_null(False)
    resolved = (code.is_in(codes(spec["resolved"])) & date.is_not_null()).fill_null(False)
    latest = date.filter(counted).max()
    removed = (resolved & (date > latest)).fill_null(False).any()
    episode_start = date.filter(resolved & (date <= latest).fill_null(False)).max()
    since = (date >= episode_start).fill_null(True)  # no resolved event before: every counted one
    added = date.filter(counted & since).min()
    return pl.when(latest.is_null() | removed).then(None).otherwise(added).dt.strftime("%Y-%m-%d")
