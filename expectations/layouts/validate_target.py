"""Checking a layout file's targets as a whole: filters, the row forms of each section, and
aggregation (its grouping, ordering and picks). See `validate` for the checker of the parts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from diewell.expectations.layouts.model import Target
from diewell.expectations.layouts.validate import NAME_SHAPE, Checker

# Aggregation picks: name -> (required keys, optional keys); the qof one is a named built-in.
PICKS: dict[str, tuple[set[str], set[str]]] = {
    "first": (set(), {"column"}),
    "last": (set(), {"column"}),
    "any": ({"equals"}, {"column", "otherwise"}),
    "earliest": ({"column"}, {"where"}),
    "latest": ({"column"}, {"where"}),
    "qof_register_date_added": ({"date", "code", "register", "resolved", "counted_from"}, set()),
}
AGGREGATE_KEYS = {
    "group_by",
    "order_by",
    "agree",
    "disagree_rule",
    "columns",
    "drop_groups_without",
}


def check_aggregate(
    checker: Checker, value: Any, key: str, formed: set[str], outputs: set[str]
) -> dict:
    spec = dict(checker.mapping(value, key))
    checker.keys(spec, key, {"group_by", "columns"}, AGGREGATE_KEYS)

    def column(name: Any, k: str) -> str:
        if checker.text(name, k) not in formed:
            checker.fail(k, f"{name!r} is not a column this target forms per row")
        return name

    spec["group_by"] = column(spec["group_by"], f"{key}.group_by")
    if "order_by" in spec:
        order = dict(checker.mapping(spec["order_by"], f"{key}.order_by"))
        checker.keys(order, f"{key}.order_by", {"column"}, {"as"})
        order["column"] = column(order["column"], f"{key}.order_by.column")
        order["as"] = order.get("as", "text")
        if order["as"] not in ("text", "integer", "date"):
            checker.fail(f"{key}.order_by.as", "must be text, integer or date")
        spec["order_by"] = order
    agree = spec.get("agree", [])
    if not isinstance(agree, list):
        checker.fail(f"{key}.agree", "must be a list of columns")
    spec["agree"] = [column(c, f"{key}.agree[{i}]") for i, c in enumerate(agree)]
    spec["disagree_rule"] = checker.text(
        spec.get("disagree_rule", "group_rows_disagree"), f"{key}.disagree_rule"
    )
    picks = {}
    for name, pick in checker.mapping(spec["columns"], f"{key}.columns").items():
        k = f"{key}.columns.{name}"
        if name not in outputs:
            checker.fail(k, "is neither a contract column formed here nor a marker")
        picks[name] = check_pick(checker, pick, k, name, formed, column)
    for name in formed & outputs:
        picks.setdefault(name, {"pick": "first", "column": name})
    spec["columns"] = picks
    drops = checker.mapping(spec.get("drop_groups_without", {}), f"{key}.drop_groups_without")
    for name, reason in drops.items():
        if name not in picks:
            checker.fail(f"{key}.drop_groups_without.{name}", "is not an aggregated column")
        checker.text(reason, f"{key}.drop_groups_without.{name}")
    spec["drop_groups_without"] = dict(drops)
    return spec


def check_pick(checker: Checker, value: Any, key: str, name: str, formed: set[str], column) -> dict:
    spec = {"pick": value} if isinstance(value, str) else dict(checker.mapping(value, key))
    kind = spec.pop("pick", None)
    if kind not in PICKS:
        checker.fail(f"{key}.pick", f"unknown operation {kind!r} (known: {sorted(PICKS)})")
    checker.keys(spec, key, *PICKS[kind])
    spec["pick"] = kind
    if kind in ("first", "last", "any"):
        spec["column"] = column(spec.get("column", name), f"{key}.column")
    if kind == "any":
        checker.text(spec["equals"], f"{key}.equals")
        checker.text(spec.setdefault("otherwise", None), f"{key}.otherwise", null=True)
    if kind in ("earliest", "latest"):
        spec["column"] = column(spec["column"], f"{key}.column")
        if "where" in spec:
            spec["where"] = checker.condition(spec["where"], f"{key}.where", column)
    if kind == "qof_register_date_added":
        spec["date"] = column(spec["date"], f"{key}.date")
        spec["code"] = column(spec["code"], f"{key}.code")
        for part in ("register", "resolved"):
            checker.names(spec[part], f"{key}.{part}", checker.codelists, "code list")
        try:
            dt.date.fromisoformat(str(spec["counted_from"]))
        except ValueError:
            checker.fail(f"{key}.counted_from", "must be a date YYYY-MM-DD")
        spec["counted_from"] = str(spec["counted_from"])
    return spec


def check_target(checker: Checker, extract: str, value: Any, key: str) -> Target:
    spec = checker.mapping(value, key)
    checker.keys(spec, key, {"columns"}, {"filters", "markers", "working", "aggregate"})
    filters = []
    for i, f in enumerate(spec.get("filters") or []):
        k = f"{key}.filters[{i}]"
        f = checker.mapping(f, k)
        checker.keys(f, k, {"reason", "when"}, set())
        filters.append(
            {
                "reason": checker.text(f["reason"], f"{k}.reason"),
                "when": checker.condition(f["when"], f"{k}.when", checker.source),
            }
        )
    sections = {}
    seen: set[str] = set()
    for part in ("columns", "markers", "working"):
        forms = {}
        for name, form in checker.mapping(spec.get(part) or {}, f"{key}.{part}").items():
            k = f"{key}.{part}.{name}"
            if not isinstance(name, str) or not NAME_SHAPE.match(name):
                checker.fail(k, "a column name is lower-case letters, digits and _")
            if name in seen:
                checker.fail(k, "is formed twice")
            seen.add(name)
            forms[name] = checker.form(form, k, name)
        sections[part] = forms
    aggregate = None
    if spec.get("aggregate") is not None:
        outputs = (set(sections["columns"]) | set(sections["markers"])) - set(sections["working"])
        agg_columns = (
            spec["aggregate"].get("columns", {}) if isinstance(spec["aggregate"], dict) else {}
        )
        outputs |= {
            c for c in agg_columns if isinstance(c, str) and NAME_SHAPE.match(c) and c not in seen
        }
        aggregate = check_aggregate(checker, spec["aggregate"], f"{key}.aggregate", seen, outputs)
    return Target(
        extract,
        tuple(filters),
        sections["columns"],
        sections["markers"],
        sections["working"],
        aggregate,
    )
