"""Checking the parts of a layout file's targets: values, conditions and row forms, by key.

The Checker returns each part with defaults filled in and column references spelled as the
file's `source` section spells them (`validate_target` checks a target as a whole, with its
aggregation); anything wrong raises a LayoutError naming the file
and the key (`targets.deaths.columns.place_of_death.rules[2].when`). Codes in YAML must be
quoted text where they are compared as text: YAML reads `01` as the number 1 and `NO` as false.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from diewell.expectations.layouts.model import problem

DATE_FORMATS = {"YYYY-MM-DD": "%Y-%m-%d", "YYYYMMDD": "%Y%m%d", "DD/MM/YYYY": "%d/%m/%Y"}
DEFAULT_DATE_FORMATS = tuple(DATE_FORMATS)
TIME_SHAPE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$")
NAME_SHAPE = re.compile(r"^[a-z][a-z0-9_]*$")
RANGE_SHAPE = re.compile(r"^([0-9]+)-([0-9]+)$")
TEST_KEYS = {"in", "not_in", "as", "empty", "in_codelists", "not_in_codelists"}

# Row forms: name -> (required keys, optional keys). `out_of_hours` is a named built-in.
FORMS: dict[str, tuple[set[str], set[str]]] = {
    "copy": ({"from"}, set()),
    "constant": ({"value"}, set()),
    "date": ({"from"}, {"formats"}),
    "datetime": ({"from"}, {"time", "formats", "default_time"}),
    "icd10": ({"from"}, set()),
    "join": ({"from"}, {"clean", "separator"}),
    "lookup": ({"from", "table"}, set()),
    "map": ({"from", "codes"}, {"compare", "unknown", "meaning"}),
    "rules": ({"rules"}, {"otherwise"}),
    "out_of_hours": ({"date", "time", "calendar"}, {"formats", "day_starts", "evening_starts"}),
}


class Checker:
    """Checks one target of one layout file against its declared columns, lists and lookups."""

    def __init__(self, file: Path, source: list[str], codelists: set[str], lookups: dict):
        self.file = file
        self.declared = {name.lower(): name for name in source}
        self.codelists = codelists
        self.lookups = lookups  # name -> Lookup

    def fail(self, key: str, message: str):
        raise problem(self.file, key, message)

    # --- small pieces -------------------------------------------------------------------------
    def mapping(self, value: Any, key: str) -> dict:
        if not isinstance(value, dict):
            self.fail(key, f"must be a mapping, not {type(value).__name__}")
        return value

    def keys(self, spec: dict, key: str, required: set[str], optional: set[str]) -> None:
        missing = sorted(required - spec.keys())
        if missing:
            self.fail(key, f"missing required key{'s' if len(missing) > 1 else ''} {missing}")
        unknown = sorted(spec.keys() - required - optional)
        if unknown:
            self.fail(f"{key}.{unknown[0]}", f"unknown key (known: {sorted(required | optional)})")

    def text(self, value: Any, key: str, *, null: bool = False) -> str | None:
        if value is None and null:
            return None
        if not isinstance(value, str) or not value:
            what = "text or null" if null else "text"
            self.fail(key, f"must be {what} (quote codes: YAML reads 01 as 1 and NO as false)")
        return value

    def source(self, value: Any, key: str) -> str:
        name = self.text(value, key)
        if name.lower() not in self.declared:
            self.fail(key, f"{name!r} is not a source column of this layout (list it in `source`)")
        return self.declared[name.lower()]

    def names(self, value: Any, key: str, allowed: set[str], what: str) -> list[str]:
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if self.text(item, f"{key}[{i}]") not in allowed:
                self.fail(f"{key}[{i}]", f"unknown {what} {item!r} (known: {sorted(allowed)})")
        return list(items)

    def formats(self, value: Any, key: str) -> list[str]:
        if not isinstance(value, list) or not value:
            self.fail(key, f"must be a list of date formats ({', '.join(DATE_FORMATS)})")
        for i, f in enumerate(value):
            if self.text(f, f"{key}[{i}]") not in DATE_FORMATS and "%" not in f:
                self.fail(f"{key}[{i}]", f"unknown date format {f!r} ({', '.join(DATE_FORMATS)})")
        return list(value)

    def time(self, value: Any, key: str) -> str:
        if not TIME_SHAPE.match(self.text(value, key)):
            self.fail(key, f"{value!r} is not a time HH:MM or HH:MM:SS")
        return value

    def integers(self, items: list, key: str) -> list:
        out = []
        for i, item in enumerate(items):
            if isinstance(item, int) and not isinstance(item, bool) and item >= 0:
                out.append(item)
            elif isinstance(item, str) and (item.isdigit() or RANGE_SHAPE.match(item)):
                out.append(int(item) if item.isdigit() else item)
            else:
                self.fail(f"{key}[{i}]", f"{item!r} is not a whole number or a range such as 23-31")
        return out

    # --- conditions ---------------------------------------------------------------------------
    def condition(self, value: Any, key: str, column) -> dict[str, dict]:
        """{column: test}: every test must hold. A test is a list of values, or a mapping."""
        if not self.mapping(value, key):
            self.fail(key, "must name at least one column")
        return {column(c, f"{key}.{c}"): self.test(t, f"{key}.{c}") for c, t in value.items()}

    def test(self, value: Any, key: str) -> dict:
        test = {"in": value} if isinstance(value, list) else dict(self.mapping(value, key))
        self.keys(test, key, set(), TEST_KEYS)
        if not test.keys() - {"as"}:
            self.fail(key, f"must hold at least one of {sorted(TEST_KEYS - {'as'})}")
        test["as"] = test.get("as", "text")
        if test["as"] not in ("text", "integer"):
            self.fail(f"{key}.as", "must be text or integer")
        for part in ("in", "not_in"):
            if part in test:
                if not isinstance(test[part], list):
                    self.fail(f"{key}.{part}", "must be a list")
                if test["as"] == "integer":
                    test[part] = self.integers(test[part], f"{key}.{part}")
                else:
                    test[part] = [
                        self.text(v, f"{key}.{part}[{i}]") for i, v in enumerate(test[part])
                    ]
        for part in ("in_codelists", "not_in_codelists"):
            if part in test:
                test[part] = self.names(test[part], f"{key}.{part}", self.codelists, "code list")
        if "empty" in test and not isinstance(test["empty"], bool):
            self.fail(f"{key}.empty", "must be true or false")
        return test

    # --- row forms ----------------------------------------------------------------------------
    def form(self, value: Any, key: str, name: str) -> dict:
        spec = dict(self.mapping(value, key))
        kind = spec.pop("form", "constant" if "value" in spec and "from" not in spec else "copy")
        if kind not in FORMS:
            self.fail(f"{key}.form", f"unknown operation {kind!r} (known: {sorted(FORMS)})")
        self.keys(spec, key, *FORMS[kind])
        spec["form"] = kind
        if kind == "join":
            items = spec["from"] if isinstance(spec["from"], list) else [spec["from"]]
            spec["from"] = [self.source(c, f"{key}.from[{i}]") for i, c in enumerate(items)]
            spec.setdefault("clean", "trim")
            if spec["clean"] not in ("trim", "icd10"):
                self.fail(f"{key}.clean", "must be trim or icd10")
            spec["separator"] = self.text(spec.get("separator", ";"), f"{key}.separator")
        elif "from" in spec:
            spec["from"] = self.source(spec["from"], f"{key}.from")
        if kind == "constant":
            self.text(spec["value"], f"{key}.value", null=True)
        if kind in ("date", "datetime", "out_of_hours"):
            spec["formats"] = self.formats(
                spec.get("formats", list(DEFAULT_DATE_FORMATS)), f"{key}.formats"
            )
        if kind == "datetime":
            spec["time"] = self.source(spec["time"], f"{key}.time") if "time" in spec else None
            spec["default_time"] = self.time(
                spec.get("default_time", "00:00"), f"{key}.default_time"
            )
        if kind == "lookup" and self.text(spec["table"], f"{key}.table") not in self.lookups:
            self.fail(f"{key}.table", f"unknown lookup {spec['table']!r} (declare it in `lookups`)")
        if kind == "map":
            self.code_map(spec, key, name)
        if kind == "rules":
            self.rules(spec, key)
        if kind == "out_of_hours":
            self.out_of_hours(spec, key)
        return spec

    def code_map(self, spec: dict, key: str, name: str) -> None:
        spec["compare"] = spec.get("compare", "text")
        if spec["compare"] not in ("text", "integer"):
            self.fail(f"{key}.compare", "must be text or integer")
        codes = self.mapping(spec["codes"], f"{key}.codes")
        if not codes:
            self.fail(f"{key}.codes", "must list at least one code")
        if spec["compare"] == "integer":
            keys = self.integers(list(codes), f"{key}.codes")
            if any(isinstance(k, str) for k in keys):
                self.fail(
                    f"{key}.codes", "codes compared as integers are whole numbers, not ranges"
                )
        else:
            keys = [self.text(k, f"{key}.codes") for k in codes]
        spec["codes"] = {
            k: self.text(v, f"{key}.codes.{k}", null=True)
            for k, v in zip(keys, codes.values(), strict=True)
        }
        unknown = spec.get("unknown", "quarantine")
        if unknown == "quarantine":
            unknown = {"quarantine": "unknown_code"}
        elif unknown == "keep":
            unknown = {"keep": True}
        elif isinstance(unknown, dict) and "default" in unknown:
            self.keys(unknown, f"{key}.unknown", {"default"}, {"warning"})
            self.text(unknown["default"], f"{key}.unknown.default", null=True)
            unknown = {
                **unknown,
                "warning": self.text(
                    unknown.get("warning", f"{name}_code_defaulted"), f"{key}.unknown.warning"
                ),
            }
        elif isinstance(unknown, dict) and "quarantine" in unknown:
            self.keys(unknown, f"{key}.unknown", {"quarantine"}, set())
            self.text(unknown["quarantine"], f"{key}.unknown.quarantine")
        else:
            self.fail(
                f"{key}.unknown",
                "must be quarantine, keep, {quarantine: rule} or {default: value, warning: rule}",
            )
        spec["unknown"] = unknown
        spec["meaning"] = self.text(
            spec.get("meaning", "a code this layout knows"), f"{key}.meaning"
        )

    def rules(self, spec: dict, key: str) -> None:
        if not isinstance(spec["rules"], list) or not spec["rules"]:
            self.fail(f"{key}.rules", "must be a non-empty list of {when, value} or {when, from}")
        rules = []
        for i, rule in enumerate(spec["rules"]):
            k = f"{key}.rules[{i}]"
            rule = dict(self.mapping(rule, k))
            self.keys(rule, k, {"when"}, {"value", "from"})
            if ("value" in rule) == ("from" in rule):
                self.fail(k, "needs exactly one of value or from")
            rule["when"] = self.condition(rule["when"], f"{k}.when", self.source)
            if "from" in rule:
                rule["from"] = self.source(rule["from"], f"{k}.from")
            else:
                self.text(rule["value"], f"{k}.value", null=True)
            rules.append(rule)
        spec["rules"] = rules
        k = f"{key}.otherwise"
        otherwise = dict(self.mapping(spec.get("otherwise", {"value": None}), k))
        if "quarantine" in otherwise:
            self.keys(otherwise, k, {"quarantine"}, set())
            self.text(otherwise["quarantine"], f"{k}.quarantine")
        else:
            self.keys(otherwise, k, {"value"}, {"warning"})
            self.text(otherwise["value"], f"{k}.value", null=True)
            if "warning" in otherwise:
                warning = dict(self.mapping(otherwise["warning"], f"{k}.warning"))
                self.keys(warning, f"{k}.warning", {"rule", "columns"}, set())
                self.text(warning["rule"], f"{k}.warning.rule")
                cols = (
                    warning["columns"]
                    if isinstance(warning["columns"], list)
                    else [warning["columns"]]
                )
                warning["columns"] = [
                    self.source(c, f"{k}.warning.columns[{i}]") for i, c in enumerate(cols)
                ]
                otherwise["warning"] = warning
        spec["otherwise"] = otherwise

    def out_of_hours(self, spec: dict, key: str) -> None:
        spec["date"] = self.source(spec["date"], f"{key}.date")
        spec["time"] = self.source(spec["time"], f"{key}.time")
        lookup = self.lookups.get(self.text(spec["calendar"], f"{key}.calendar"))
        if lookup is None or lookup.keys is None:
            self.fail(f"{key}.calendar", f"{spec['calendar']!r} is not a lookup file of dates")
        for part, default in (("day_starts", "08:00"), ("evening_starts", "18:30")):
            spec[part] = self.time(spec.get(part, default), f"{key}.{part}")
