"""Named built-in operations: rules a layout invokes by name because no generic form says them
(the row form `out_of_hours` is in forms.py, beside the forms it is built from).

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

from diewell.expectations.layouts.model import CodeList


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
