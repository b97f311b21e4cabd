"""Row forms: how one contract (or marker, or working) column is formed from a source row.

Each form gives a Polars expression over the source frame (source columns lower-cased, values
trimmed, empty as null) and, where the form owns a decision about a code, per-row checks: a
finding (the row is quarantined) or a warning (the row is kept; its code is counted). Values
a form cannot convert (a date in no listed format) are left as they came, for the contract's
own rules to quarantine with their own reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

from diewell.expectations.layouts.conditions import as_integer, condition_expr
from diewell.expectations.layouts.model import Layout, LayoutError
from diewell.expectations.layouts.validate import DATE_FORMATS

# The shape each named date format must have before it is parsed (so `2024011` is no date).
DATE_SHAPES = {
    "YYYY-MM-DD": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$",
    "YYYYMMDD": r"^[0-9]{8}$",
    "DD/MM/YYYY": r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$",
}
TIME = r"^([0-9]{1,2}):([0-9]{2})(?::([0-9]{2})(?:\.[0-9]+)?)?$"
ICD10_SHAPE = r"^[A-Z][0-9]{2}[0-9A-Z]{0,2}$"
EMPTY_SHOWN = "(empty)"


@dataclass(frozen=True)
class Check:
    """A per-row decision of a form: `flag` is non-null on the rows it applies to and holds
    the value (or code) concerned."""

    kind: str  # finding | warning
    flag: pl.Expr
    rule: str
    column: str  # the source column(s), as the layout spells them
    message: tuple[str, str] = ("", "")  # a finding's message: before and after the value


@dataclass(frozen=True)
class Formed:
    value: pl.Expr
    sources: tuple[str, ...]
    checks: tuple[Check, ...] = field(default_factory=tuple)


def src(name: str) -> pl.Expr:
    """A source column (the frame's names are lower-cased)."""
    return pl.col(name.lower())


def parse_date(value: pl.Expr, formats: list[str]) -> pl.Expr:
    """The value as a date, trying the formats in order (null when none fits)."""
    parts = []
    for name in formats:
        parsed = value.str.to_date(DATE_FORMATS.get(name, name), strict=False)
        if name in DATE_SHAPES:
            parsed = pl.when(value.str.contains(DATE_SHAPES[name])).then(parsed)
        parts.append(parsed)
    return pl.coalesce(parts)


def iso_date(date: pl.Expr) -> pl.Expr:
    return date.dt.strftime("%Y-%m-%d")


def parse_time(value: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(seconds after midnight, `HH:MM:SS`) of a time `H:MM[:SS[.fff]]`; null when not a time."""
    groups = value.str.extract_groups(TIME)
    hours, minutes = (groups.struct.field(g).cast(pl.Int32) for g in ("1", "2"))
    seconds = groups.struct.field("3").cast(pl.Int32).fill_null(0)
    ok = (hours <= 23) & (minutes <= 59) & (seconds <= 59)
    text = pl.format(
        "{}:{}:{}", *(p.cast(pl.String).str.zfill(2) for p in (hours, minutes, seconds))
    )
    return pl.when(ok).then(hours * 3600 + minutes * 60 + seconds), pl.when(ok).then(text)


def clean_icd10(value: pl.Expr) -> pl.Expr:
    """`I10X` -> `I10`, `C349` / `c34.9` -> `C34.9`, `A01-` -> `A01`; a value that is not an
    ICD-10 code after cleaning is left as it came."""
    s = value.str.to_uppercase().str.replace_all(".", "", literal=True)
    s = s.str.replace(r"^(.{3}.*?)[X\-]+$", "${1}")
    dotted = pl.when(s.str.len_chars() > 3).then(
        pl.concat_str([s.str.slice(0, 3), pl.lit("."), s.str.slice(3)])
    )
    return pl.when(s.str.contains(ICD10_SHAPE)).then(dotted.otherwise(s)).otherwise(value)


def shown(columns: list[str]) -> pl.Expr:
    """The values of several source columns, as one code: `1 / 7Q` (`(empty)` for none)."""
    return pl.concat_str([src(c).fill_null(EMPTY_SHOWN) for c in columns], separator=" / ")


class FormBuilder:
    """Builds the expressions of a target's forms, with the layout's lists and lookups."""

    def __init__(self, layout: Layout, lookups: Mapping[str, Mapping[str, str]] | None):
        self.layout = layout
        self.supplied = lookups or {}

    def lookup_values(self, name: str) -> Mapping[str, str]:
        if name in self.supplied:
            return self.supplied[name]
        lookup = self.layout.lookups[name]
        if lookup.supplied:
            if lookup.required:
                raise LayoutError(f"layout {self.layout.name} needs the lookup {name}: none given")
            return {}  # nothing supplied: every code passes through as it came
        return lookup.values or {}

    def condition(self, when: Mapping) -> pl.Expr:
        return condition_expr(when, src, self.layout.codelists)

    def build(self, name: str, spec: Mapping) -> Formed:
        # Imported here: the named built-ins use this module's parsers.

        kind = spec["form"]
        if kind == "out_of_hours":
            holidays = self.layout.lookups[spec["calendar"]].keys or frozenset()
            return out_of_hours(spec, holidays)
        return getattr(self, f"_{kind}")(name, spec)

    def _copy(self, name: str, spec: Mapping) -> Formed:
        return Formed(src(spec["from"]), (spec["from"],))

    def _constant(self, name: str, spec: Mapping) -> Formed:
        return Formed(pl.lit(spec["value"], dtype=pl.String), ())

    def _date(self, name: str, spec: Mapping) -> Formed:
        value = src(spec["from"])
        parsed = parse_date(value, spec["formats"])
        return Formed(
            pl.when(parsed.is_not_null()).then(iso_date(parsed)).otherwise(value), (spec["from"],)
        )

    def _datetime(self, name: str, spec: Mapping) -> Formed:
        date_raw = src(spec["from"])
        time_raw = src(spec["time"]) if spec["time"] else pl.lit(None, dtype=pl.String)
        date = iso_date(parse_date(date_raw, spec["formats"]))
        _, time = parse_time(time_raw)
        _, default = parse_time(pl.lit(spec["default_time"]))
        value = (
            pl.when(date_raw.is_null())
            .then(None)
            .when(date.is_not_null() & time_raw.is_null())
            .then(pl.concat_str([date, pl.lit("T"), default]))
            .when(date.is_not_null() & time.is_not_null())
            .then(pl.concat_str([date, pl.lit("T"), time]))
            .otherwise(pl.concat_str([date_raw, time_raw], separator=" ", ignore_nulls=True))
        )
        return Formed(value, tuple(c for c in (spec["from"], spec["time"]) if c))

    def _icd10(self, name: str, spec: Mapping) -> Formed:
        return Formed(clean_icd10(src(spec["from"])), (spec["from"],))

    def _join(self, name: str, spec: Mapping) -> Formed:
        parts = [src(c) if spec["clean"] == "trim" else clean_icd10(src(c)) for c in spec["from"]]
        joined = pl.concat_str(parts, separator=spec["separator"], ignore_nulls=True)
        return Formed(pl.when(joined != "").then(joined), tuple(spec["from"]))

    def _lookup(self, name: str, spec: Mapping) -> Formed:
        values = dict(self.lookup_values(spec["table"]))
        value = src(spec["from"])
        return Formed(value.replace(values) if values else value, (spec["from"],))

    def _map(self, name: str, spec: Mapping) -> Formed:
        raw, column = src(spec["from"]), spec["from"]
        codes = spec["codes"]
        key = as_integer(raw) if spec["compare"] == "integer" else raw
        known = key.is_in(list(codes)).fill_null(False)
        mapped = key.replace_strict(codes, default=None, return_dtype=pl.String)
        unknown = spec["unknown"]
        strange = pl.when(raw.is_not_null() & ~known).then(raw)
        if "keep" in unknown:
            return Formed(pl.when(known).then(mapped).otherwise(raw), (column,))
        if "default" in unknown:
            value = (
                pl.when(known)
                .then(mapped)
                .when(raw.is_not_null())
                .then(pl.lit(unknown["default"], dtype=pl.String))
            )
            return Formed(
                value, (column,), (Check("warning", strange, unknown["warning"], column),)
            )
        message = (f"{column} '", f"' is not {spec['meaning']}")
        check = Check("finding", strange, unknown["quarantine"], column, message)
        return Formed(pl.when(known).then(mapped), (column,), (check,))

    def _rules(self, name: str, spec: Mapping) -> Formed:
        sources: list[str] = []
        for rule in spec["rules"]:
            for c in [*rule["when"], rule.get("from")]:
                if c and c not in sources:  # a rule's condition and value may name one column
                    sources.append(c)
        conditions = [self.condition(rule["when"]) for rule in spec["rules"]]
        outcomes = [
            src(r["from"]) if "from" in r else pl.lit(r["value"], dtype=pl.String)
            for r in spec["rules"]
        ]
        otherwise = spec["otherwise"]
        chain = pl.when(conditions[0]).then(outcomes[0])
        for cond, outcome in zip(conditions[1:], outcomes[1:], strict=True):
            chain = chain.when(cond).then(outcome)
        matched = pl.any_horizontal(conditions)
        if "quarantine" in otherwise:
            code = pl.when(~matched).then(shown(sources))
            message = (f"{' / '.join(sources)} '", f"' match no rule for {name}")
            check = Check("finding", code, otherwise["quarantine"], ", ".join(sources), message)
            return Formed(chain.otherwise(None), tuple(sources), (check,))
        value = chain.otherwise(pl.lit(otherwise["value"], dtype=pl.String))
        if "warning" not in otherwise:
            return Formed(value, tuple(sources))
        warning = otherwise["warning"]
        code = pl.when(~matched).then(shown(warning["columns"]))
        check = Check("warning", code, warning["rule"], ", ".join(warning["columns"]))
        return Formed(value, tuple(sources), (check,))


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
