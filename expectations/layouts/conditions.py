"""Conditions of filters, rule tables and picks, as Polars expressions.

A condition is `{column: test, ...}`; every test must hold (and a row whose value makes a test
unanswerable does not match). A test is a list of values (the value is one of them) or a
mapping of: `in` / `not_in` (a list; `not_in` also matches an empty value, add `empty: false`
to exclude those), `as: integer` (compare as whole numbers, so `7` = `07`; lists may hold
ranges such as `23-31`; a value that is not a whole number is in no list), `empty` (true: the
value is empty; false: it is present), `in_codelists` / `not_in_codelists` (names of the
layout's code lists; `not_in_codelists` also matches an empty value).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import polars as pl

from diewell.expectations.layouts.model import CodeList

WHOLE_NUMBER = r"^[0-9]{1,18}$"


def as_integer(value: pl.Expr) -> pl.Expr:
    """A text value as a whole number (null when it is not one)."""
    return pl.when(value.str.contains(WHOLE_NUMBER)).then(value.cast(pl.Int64, strict=False))


def _member(value: pl.Expr, items: list, as_: str) -> pl.Expr:
    if as_ == "text":
        return value.is_in(items)
    number = as_integer(value)
    singles = [i for i in items if isinstance(i, int)]
    found = number.is_in(singles) if singles else pl.lit(False)
    for item in items:
        if isinstance(item, str):  # a range a-b, both ends included
            low, high = (int(x) for x in item.split("-"))
            found = found | number.is_between(low, high)
    return found


def test_expr(value: pl.Expr, test: Mapping, codelists: Mapping[str, CodeList]) -> pl.Expr:
    parts = []
    if "in" in test:
        parts.append(_member(value, test["in"], test["as"]).fill_null(False))
    if "not_in" in test:
        parts.append(~_member(value, test["not_in"], test["as"]).fill_null(False))
    if "empty" in test:
        parts.append(value.is_null() if test["empty"] else value.is_not_null())
    for part, negate in (("in_codelists", False), ("not_in_codelists", True)):
        if part in test:
            codes = sorted(set().union(*(codelists[n].codes for n in test[part])))
            inside = value.is_in(codes).fill_null(False)
            parts.append(~inside if negate else inside)
    return pl.all_horizontal(parts)


def condition_expr(
    condition: Mapping[str, Mapping],
    column: Callable[[str], pl.Expr],
    codelists: Mapping[str, CodeList],
) -> pl.Expr:
    """True where every column's test holds (never null)."""
    tests = [test_expr(column(name), test, codelists) for name, test in condition.items()]
    return pl.all_horizontal(tests).fill_null(False)
