"""Extract contracts, read from the Great Expectations suites, and the row rules they imply.

The suites (`expectations/suites/<extract>.json`, one GX ExpectationSuite per extract) are the
single source of the rules: `load_contract` reads one into a `Contract` (as plain JSON, so
this fast path does not import GX) and `validate_rows` evaluates it with Polars expressions.
`diewell.expectations.gx_suites` builds the same suites with the GX API and turns findings into GX results.

`validate_rows` is pure: a table of raw strings in, a typed table of conforming rows and a
table of quarantine findings out. Every finding names the rule, the column, the offending
value (NHS numbers masked) and a message a provider's data manager can act on.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache

import polars as pl

from diewell.expectations import extract_names, suites_dir

SUITES_DIR = suites_dir()  # the project's suites, or $DIEWELL_SUITES_DIR's (see expectations)

# How a contract type is stored once typed.
POLARS_TYPES = {
    "nhs_number": pl.String,
    "date": pl.Date,
    "datetime": pl.Datetime("us"),
    "code": pl.String,
    "code_text": pl.String,
    "text": pl.String,
    "integer": pl.Int64,
    "number": pl.Float64,
    "icd10": pl.String,
    "icd10_list": pl.String,
    "lsoa": pl.String,
    "lsoa_2011": pl.String,
    "ods_practice": pl.String,
    "ods_code": pl.String,
    "cqc_location": pl.String,
    "ods_or_cqc": pl.String,
}

ICD10_LIST_ITEM = r"[A-Z][0-9]{2}(\.?[0-9A-Z]{1,2})?"
# File rules' defaults (each suite states its own: see Contract).
MAX_QUARANTINED_SHARE = 0.5  # more than half the rows failing means a mis-exported file
MIN_VOLUME_SHARE = 0.2  # under 20% of the previous delivery means a truncated export
# ... unless that previous delivery had fewer rows than this: a small service's quiet month
# is real, not a truncation (extracts.md v2, the volume rule's minimum).
MIN_PREVIOUS_ROWS_FOR_VOLUME_RULE = 50


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    required: bool
    allowed: tuple[str, ...] = ()
    canonical: dict[str, str] = field(default_factory=dict)
    min: float | None = None  # a whole number for an integer column
    max: float | None = None
    multiple_of: int | None = None
    min_exclusive: bool = False  # a number column whose minimum is not allowed (hours > 0)
    # What the column holds, for the data dictionary (meta.column_description of its type
    # expectation); None: warehouse/dictionary.yaml describes it.
    description: str | None = None


@dataclass(frozen=True)
class OrderRule:
    rule: str
    earlier: str
    later: str
    message: str


@dataclass(frozen=True)
class RowRule:
    """A rule across the columns of one row beyond the date orders (extracts.md v3), held in
    its suite as an `unexpected_rows_expectation` whose meta names the check:
    `one_of_required` (columns a, b: a row needs one of them; rule `required_missing`) and
    `age_agrees` (date of birth, date of death, age: with both a date of birth and an age, the
    age is the completed years between the dates; rule `age_inconsistent`)."""

    rule: str
    check: str
    columns: tuple[str, ...]
    message: str


ROW_CHECKS = ("one_of_required", "age_agrees")
# What a person column holds (config.md v3, pseudonymisation.person_key): an NHS number, or
# the data service's pseudonym (1-64 of A-Z a-z 0-9 _ -, no check digit).
PERSON_KEYS = ("nhs_number", "pseudonymised")


# How an extract's deliveries make its current records (meta.diewell.load; extracts.md, and
# warehouse/core/<load>.sql states each as SQL).
LOADS = ("one_per_person", "cumulative", "upsert", "snapshot_period", "snapshot_table")


@dataclass(frozen=True)
class Contract:
    extract: str
    description: str
    grain: str
    load: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    order_rules: tuple[OrderRule, ...]
    row_rules: tuple[RowRule, ...] = ()
    max_quarantined_share: float = MAX_QUARANTINED_SHARE
    min_volume_share: float = MIN_VOLUME_SHARE
    volume_rule_min_previous_rows: int = MIN_PREVIOUS_ROWS_FOR_VOLUME_RULE
    # A cumulative extract's date column: of a person's rows in the latest period end, the
    # latest by this date is their record (meta.diewell.latest_by; None for other loads).
    latest_by: str | None = None

    def looks_truncated(self, rows: int, previous_rows: int | None) -> bool:
        """The volume rule: a file with rows, under min_volume_share of a previous delivery
        of at least volume_rule_min_previous_rows rows (a header-only file never is)."""
        return bool(
            rows
            and previous_rows is not None
            and previous_rows >= self.volume_rule_min_previous_rows
            and rows < self.min_volume_share * previous_rows
        )

    @property
    def required_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)


@cache
def load_contract(extract: str) -> Contract:
    """The contract an extract's GX suite states (expectations/suites/<extract>.json)."""
    path = SUITES_DIR / f"{extract}.json"
    if not path.is_file():
        raise ValueError(f"no expectation suite for extract {extract!r} ({path})")
    return contract_from_suite(json.loads(path.read_text(encoding="utf-8")))


def _whole(value: float | int | None) -> int | None:
    if value is None:
        return None
    if value != int(value):
        raise ValueError(f"an integer column's bound must be a whole number, not {value}")
    return int(value)


def contract_from_suite(suite: dict) -> Contract:
    """Read a GX ExpectationSuite (its JSON form) into a Contract.

    Each column has one expectation whose `meta.column_type` names its diewell type; it is
    required when an `expect_column_values_to_not_be_null` names it; code sets, ranges, the
    date-order rules and the key are the arguments of their expectations.
    """
    info = suite["meta"]["diewell"]
    specs: dict[str, dict] = {}
    required: set[str] = set()
    order_rules: list[OrderRule] = []
    row_rules: list[RowRule] = []
    key: tuple[str, ...] = ()
    min_volume_share = MIN_VOLUME_SHARE
    min_previous_rows = MIN_PREVIOUS_ROWS_FOR_VOLUME_RULE
    for e in suite["expectations"]:
        kind, kw, meta = e["type"], e["kwargs"], e.get("meta") or {}
        rule = meta.get("rule")
        if "column_type" in meta:
            spec = specs.setdefault(kw["column"], {})
            spec["type"] = meta["column_type"]
            if "column_description" in meta:
                spec["description"] = meta["column_description"]
            if kind == "expect_column_values_to_be_in_set":
                spec["allowed"] = tuple(str(v) for v in kw["value_set"])
                spec["canonical"] = {str(k): str(v) for k, v in meta.get("canonical", {}).items()}
        elif rule == "missing_required_value":
            required.add(kw["column"])
        elif rule == "value_out_of_range":
            spec = specs.setdefault(kw["column"], {})
            if spec.get("type") == "number":
                spec["min"], spec["max"] = kw.get("min_value"), kw.get("max_value")
                spec["min_exclusive"] = bool(kw.get("strict_min", False))
            else:  # GX stores the bounds as floats (0.0): an integer's are whole numbers.
                spec["min"], spec["max"] = _whole(kw.get("min_value")), _whole(kw.get("max_value"))
            spec["multiple_of"] = meta.get("multiple_of")
        elif kind == "unexpected_rows_expectation":
            if meta.get("check") not in ROW_CHECKS:
                raise ValueError(f"suite {suite['name']}: unknown row check {meta.get('check')!r}")
            row_rules.append(RowRule(rule, meta["check"], tuple(meta["columns"]), meta["message"]))
        elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
            order_rules.append(OrderRule(rule, kw["column_B"], kw["column_A"], meta["message"]))
        elif rule == "duplicate_key":
            key = tuple(kw["column_list"]) if "column_list" in kw else (kw["column"],)
        elif rule == "volume_drop":
            min_volume_share = meta["min_share_of_previous_delivery"]
            min_previous_rows = meta.get("applies_from_previous_rows", min_previous_rows)
    columns = []
    for name, spec in specs.items():
        if spec.get("type") not in POLARS_TYPES:
            raise ValueError(
                f"suite {suite['name']}: column {name} has no known type ({spec.get('type')})"
            )
        columns.append(Column(name=name, required=name in required, **spec))
    if info.get("key") and tuple(info["key"]) != key:
        raise ValueError(f"suite {suite['name']}: meta key {info['key']} differs from {key}")
    if info["load"] not in LOADS:
        raise ValueError(
            f"suite {suite['name']}: load {info['load']!r} is not one of {', '.join(LOADS)}"
        )
    latest_by = info.get("latest_by")
    if (info["load"] == "cumulative") != (latest_by is not None):
        raise ValueError(
            f"suite {suite['name']}: meta latest_by (the date that picks a person's latest row) "
            "is given for a cumulative load, and only for one"
        )
    if latest_by is not None and specs.get(latest_by, {}).get("type") not in ("date", "datetime"):
        raise ValueError(f"suite {suite['name']}: latest_by {latest_by} is not a date column")
    share = info.get("file_rules", {}).get("too_many_rows_failing", {})
    return Contract(
        extract=info["extract"],
        description=info["description"],
        grain=info["grain"],
        load=info["load"],
        key=key,
        columns=tuple(columns),
        order_rules=tuple(order_rules),
        row_rules=tuple(row_rules),
        max_quarantined_share=share.get("max_quarantined_share", MAX_QUARANTINED_SHARE),
        min_volume_share=min_volume_share,
        volume_rule_min_previous_rows=min_previous_rows,
        latest_by=latest_by,
    )


def all_contracts() -> list[Contract]:
    """Every extract's contract, in name order."""
    return [load_contract(extract) for extract in extract_names(SUITES_DIR)]


# --- row validation ---------------------------------------------------------------------
#
# Rows are checked in two passes, so that the cost over every row stays small: first each
# check is a plain boolean over all rows (vectorised comparisons, one parse per column); then
# only the rows that fail get findings, with the value to show and a message saying why (the
# messages use regular expressions to tell US-order dates from impossible ones and so on, which
# is too dear to run on every row). `validate_batch` checks many files of one extract in one
# query: the period end is a column and keys are unique within each file.
