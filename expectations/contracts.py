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

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import polars as pl

from diewell.expectations import extract_names, suites_dir
from diewell.transforms import nhs_number
from diewell.transforms.sender_text import escape_controls_expr, neutral_expr

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
    "ods_practice": pl.String,
    "ods_code": pl.String,
    "cqc_location": pl.String,
    "ods_or_cqc": pl.String,
}

PATTERNS = {
    "icd10": (r"^[A-Z][0-9]{2}(\.?[0-9A-Z]{1,2})?$", "an ICD-10 code such as C34.9, C349 or C34"),
    "lsoa": (r"^[EW]01[0-9]{6}$", "an LSOA 2021 code (E01 or W01 and 6 digits)"),
    "ods_practice": (r"^[A-Z][0-9]{5}$", "an ODS practice code (a letter and 5 digits)"),
    "ods_code": (r"^[A-Z0-9]{3,9}$", "an ODS organisation code (3-9 upper-case letters/digits)"),
    "code_text": (r"^[0-9A-Z]{1,3}$", "an NHS Data Dictionary code"),
    "cqc_location": (
        r"^1-[0-9]{9,11}$",
        "a CQC location id: 1- and 9 to 11 digits (such as 1-123456789)",
    ),
    "ods_or_cqc": (
        r"^([A-Z0-9]{3,9}|1-[0-9]{9,11})$",
        "an ODS organisation code (3-9 upper-case letters/digits) or, for a care home, a CQC "
        "location id (1- and 9 to 11 digits)",
    ),
}
# A number (type "number"): digits with an optional decimal point, no sign or separators.
NUMBER_SHAPE = r"^[0-9]{1,9}(\.[0-9]{1,6})?$"
ICD10_LIST_ITEM = r"[A-Z][0-9]{2}(\.?[0-9A-Z]{1,2})?"
MAX_TEXT_LENGTH = 255
DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")
DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")
MAX_YEARS_BEFORE_PERIOD_END = 120
MAX_SHOWN_VALUE = 80  # a quarantined value is reported at most this long (a field may be 1 MB)
# An NHS number's shape as delivered: 10 digits, spaces or hyphens between them.
NHS_NUMBER_SHAPE = r"^([0-9][ -]*){9}[0-9]$"
# File rules' defaults (each suite states its own: see Contract).
MAX_QUARANTINED_SHARE = 0.5  # more than half the rows failing means a mis-exported file
MIN_VOLUME_SHARE = 0.2  # under 20% of the previous delivery means a truncated export
# ... unless that previous delivery had fewer rows than this: a small service's quiet month
# is real, not a truncation (extracts.md v2, the volume rule's minimum).
MIN_PREVIOUS_ROWS_FOR_VOLUME_RULE = 50


def earliest_plausible_date(period_end: dt.date) -> dt.date:
    """Dates before this, over 120 years before the period end, are typing errors or placeholders."""
    return dt.date(period_end.year - MAX_YEARS_BEFORE_PERIOD_END, period_end.month, 1)


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

FILE = "_file"  # which table of a batch a row came from
PERIOD_END = "_period_end"  # that table's period end (from its file name)
_TYPED = "_typed_"  # prefix of a column's typed values while checking


_NUMBER = "_number_"  # prefix of an NHS number column's integer form while checking


def _typed(column: str) -> pl.Expr:
    return pl.col(f"{_TYPED}{column}")


@dataclass(frozen=True)
class Check:
    """One rule on one column: where it fails (over every row), and what a finding shows."""

    rule: str
    column: str
    failed: pl.Expr  # boolean; null means the row passes
    value: pl.Expr  # evaluated on failing rows only
    message: pl.Expr  # evaluated on failing rows only


def _check(rule: str, column: str, failed: pl.Expr, value: pl.Expr, message) -> Check:
    """A Check; `message` is a sentence, or an expression choosing the sentence that fits."""
    return Check(
        rule, column, failed, value, pl.lit(message) if isinstance(message, str) else message
    )


EARLIEST = "_earliest_plausible_date"  # per row, from its file's period end


def _earliest_plausible(period_end: pl.Expr) -> pl.Expr:
    """`earliest_plausible_date` as an expression over a column of period ends."""
    return pl.date(period_end.dt.year() - MAX_YEARS_BEFORE_PERIOD_END, period_end.dt.month(), 1)


def _nhs_number_message(norm: pl.Expr) -> pl.Expr:
    """Why a present NHS number is invalid, in words a data manager can act on."""
    return (
        pl.when(~norm.str.contains(r"^[0-9]+$"))
        .then(pl.lit("NHS number holds characters other than digits, spaces and hyphens"))
        .when(norm.str.len_chars() != 10)
        .then(pl.format("NHS number has {} digits; it must have 10", norm.str.len_chars()))
        .otherwise(
            pl.lit(
                "NHS number fails the modulus 11 check: its 10th (check) digit does not match "
                "the first nine; check it for a typing error"
            )
        )
    )


def _date_message(raw: pl.Expr, col: Column, fmt: str) -> pl.Expr:
    """Why a present date or datetime did not parse: US order, an impossible day, or the form."""
    general = f"{col.name} is not a valid {col.type} in the form {fmt}"
    if col.type == "datetime":
        return (
            pl.when(raw.str.contains(r"^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}"))
            .then(
                pl.lit(
                    f"{col.name} must be an ISO 8601 datetime {fmt}; DD/MM/YYYY is accepted for "
                    "dates only"
                )
            )
            .otherwise(pl.lit(general))
        )
    us_order = r"^(0?[1-9]|1[0-2])/(1[3-9]|2[0-9]|3[01])/[0-9]{4}$"
    date_shape = r"^([0-9]{4}-[0-9]{1,2}-[0-9]{1,2}|[0-9]{1,2}/[0-9]{1,2}/[0-9]{4})$"
    return (
        pl.when(raw.str.contains(us_order))
        .then(
            pl.lit(
                f"{col.name} looks like MM/DD/YYYY (month first); write dates as YYYY-MM-DD "
                "or DD/MM/YYYY"
            )
        )
        .when(raw.str.contains(date_shape))
        .then(pl.lit(f"{col.name} is not a real calendar date (check the day and the month)"))
        .otherwise(pl.lit(general))
    )


def _code_message(raw: pl.Expr, col: Column) -> pl.Expr:
    """Why a present code is not allowed; a code in the wrong case is named with its right case."""
    general = f"{col.name} must be one of: {', '.join(col.allowed)} (codes are case-sensitive)"
    by_lower = {a.lower(): a for a in col.allowed}
    if len(by_lower) < len(col.allowed):  # codes differing only by case: no suggestion
        return pl.lit(general)
    suggestion = raw.str.to_lowercase().replace_strict(by_lower, default=None)
    return (
        pl.when(suggestion.is_not_null())
        .then(
            pl.format(
                f"{col.name} must be written exactly as '{{}}' (codes are case-sensitive)",
                suggestion,
            )
        )
        .otherwise(pl.lit(general))
    )


def _date_formats(col: Column) -> tuple[tuple[str, ...], pl.DataType]:
    if col.type == "date":
        return DATE_FORMATS, pl.Date
    return DATETIME_FORMATS, pl.Datetime("us")


def _parse_dates(raw: pl.Expr, formats: tuple[str, ...], dtype) -> pl.Expr:
    parsed = [raw.str.strptime(dtype, f, strict=False, exact=True) for f in formats]
    return pl.coalesce(parsed)


def _parse_other_formats(frame: pl.DataFrame, col: Column) -> pl.DataFrame:
    """Parse a date column's values that its first format did not, with the other formats.

    The first format parses nearly every value, so the others run only on the values left
    (over every row, a failing format costs more than the one that matches).
    """
    formats, dtype = _date_formats(col)
    typed = frame[f"{_TYPED}{col.name}"]
    left = (typed.is_null() & frame[col.name].is_not_null()).arg_true()
    if not left.len():
        return frame
    retried = (
        frame[col.name]
        .gather(left)
        .to_frame()
        .select(_parse_dates(pl.col(col.name), formats[1:], dtype))
        .to_series()
    )
    return frame.with_columns(typed.clone().scatter(left, retried))


def _bound(value: float) -> str:
    return f"{value:g}"


def _range_checks(col: Column, raw: pl.Expr, typed_col: pl.Expr) -> list[Check]:
    """value_out_of_range for a number column: its minimum (or more than it), maximum, multiple."""
    out_of_range, bounds = pl.lit(False), []
    if col.min is not None and col.min_exclusive:
        out_of_range = out_of_range | (typed_col <= col.min)
        bounds.append(f"> {_bound(col.min)}")
    elif col.min is not None:
        out_of_range = out_of_range | (typed_col < col.min)
        bounds.append(f">= {_bound(col.min)}")
    if col.max is not None:
        out_of_range = out_of_range | (typed_col > col.max)
        bounds.append(f"<= {_bound(col.max)}")
    if col.multiple_of is not None:
        out_of_range = out_of_range | (typed_col % col.multiple_of != 0)
        bounds.append(f"a multiple of {col.multiple_of}")
    if not bounds:
        return []
    return [
        _check(
            "value_out_of_range",
            col.name,
            out_of_range,
            raw,
            f"{col.name} must be {' and '.join(bounds)}",
        )
    ]


def _typed_and_checks(col: Column) -> tuple[pl.Expr, list[pl.Expr], list[Check]]:
    """The typed expression for a column (from its raw strings), helper columns computed from
    the typed one, and the checks on it.

    A date column is typed with its first format here (`_parse_other_formats` does the rest).
    The checks read the raw column, the typed one (`_typed(name)`), the helpers, and the
    period end of each row's file (`PERIOD_END`).
    """
    raw, typed_col = pl.col(col.name), _typed(col.name)
    present = raw.is_not_null()
    helpers: list[pl.Expr] = []
    checks: list[Check] = []
    if col.required:
        checks.append(
            _check(
                "missing_required_value",
                col.name,
                ~present,
                pl.lit(None, pl.String),
                f"{col.name} is required but empty",
            )
        )
    if col.type == "nhs_number":
        typed = nhs_number.normalise_expr(col.name)
        number = f"{_NUMBER}{col.name}"
        helpers.append(nhs_number.number_expr(typed_col).alias(number))
        checks.append(
            _check(
                "invalid_nhs_number",
                col.name,
                present & ~nhs_number.modulus11_expr(pl.col(number)),
                pl.lit(None, pl.String),  # shown masked (see _findings)
                _nhs_number_message(typed_col),
            )
        )
    elif col.type in ("date", "datetime"):
        formats, dtype = _date_formats(col)
        typed = raw.str.strptime(dtype, formats[0], strict=False, exact=True)
        fmt = (
            "YYYY-MM-DD or DD/MM/YYYY" if col.type == "date" else "YYYY-MM-DDTHH:MM[:SS] (ISO 8601)"
        )
        as_date = typed_col.cast(pl.Date)
        period_end = pl.col(PERIOD_END)
        checks += [
            _check(
                "unparseable_date",
                col.name,
                present & typed_col.is_null(),
                raw,
                _date_message(raw, col, fmt),
            ),
            _check(
                "date_after_period_end",
                col.name,
                as_date > period_end,
                raw,
                pl.format(
                    f"{col.name} is after the file's period end {{}}",
                    period_end.dt.strftime("%Y-%m-%d"),
                ),
            ),
            _check(
                "date_implausibly_early",
                col.name,
                as_date < pl.col(EARLIEST),
                raw,
                f"{col.name} is more than {MAX_YEARS_BEFORE_PERIOD_END} years before the period end",
            ),
        ]
    elif col.type in ("integer", "number"):
        if col.type == "integer":
            shape, cast = r"^-?[0-9]{1,18}$", pl.Int64
            rule = "not_an_integer"
            words = "a whole number written with digits only (no thousands separators, decimal point or spaces)"
        else:
            shape, cast = NUMBER_SHAPE, pl.Float64
            rule = "not_a_number"
            words = "a number written with digits and at most one decimal point (no thousands separators, units or spaces)"
        typed = pl.when(raw.str.contains(shape)).then(raw).otherwise(None).cast(cast)
        checks.append(
            _check(
                rule,
                col.name,
                present & typed_col.is_null(),
                raw,
                f"{col.name} must be {words}",
            )
        )
        checks += _range_checks(col, raw, typed_col)
    elif col.type == "code":
        typed = raw.replace(col.canonical) if col.canonical else raw
        checks.append(
            _check(
                "value_not_allowed",
                col.name,
                present & ~raw.is_in(list(col.allowed)),
                raw,
                _code_message(raw, col),
            )
        )
    elif col.type == "icd10_list":
        typed = raw.str.replace_all(r"\.", "")
        checks.append(
            _check(
                "invalid_code",
                col.name,
                present & ~raw.str.contains(rf"^{ICD10_LIST_ITEM}(;{ICD10_LIST_ITEM})*$"),
                raw,
                f"{col.name} must be ICD-10 codes separated by ';'",
            )
        )
    elif col.type in PATTERNS:
        pattern, what = PATTERNS[col.type]
        typed = raw.str.replace_all(r"\.", "") if col.type == "icd10" else raw
        checks.append(
            _check(
                "invalid_code",
                col.name,
                present & ~raw.str.contains(pattern),
                raw,
                f"{col.name} must be {what}",
            )
        )
    else:  # text: loaded with control characters shown escaped (extracts.md v3); not masked,
        # since an identifier (a spell id) may be any ten digits, modulus 11 or not
        typed = escape_controls_expr(raw)
        checks.append(
            _check(
                "value_too_long",
                col.name,
                raw.str.len_chars() > MAX_TEXT_LENGTH,
                raw.str.slice(0, 40) + pl.lit("..."),
                f"{col.name} is longer than {MAX_TEXT_LENGTH} characters",
            )
        )
    return typed.alias(f"{_TYPED}{col.name}"), helpers, checks


def _row_checks(contract: Contract, batched: bool) -> list[Check]:
    """Checks across columns, on typed values: the date orders and the key."""
    checks = []
    for r in contract.order_rules:
        later, earlier = _typed(r.later), _typed(r.earlier)
        checks.append(
            _check(
                r.rule,
                r.later,
                later.cast(pl.Date) < earlier.cast(pl.Date),
                later.cast(pl.String),
                r.message,
            )
        )
    repeated = pl.struct([_typed(k) for k in contract.key]).is_duplicated()
    if batched:
        repeated = repeated.over(FILE)
    checks.append(
        _check(
            "duplicate_key",
            ",".join(contract.key),
            repeated & pl.all_horizontal(_typed(k).is_not_null() for k in contract.key),
            pl.concat_str([_typed(k).cast(pl.String) for k in contract.key], separator="|"),
            f"{', '.join(contract.key)} appears more than once in this file (every copy is held back)",
        )
    )
    return checks


@dataclass
class ValidationResult:
    rows: pl.DataFrame  # conforming rows, typed, with row_number; NHS numbers still raw
    findings: pl.DataFrame  # row_number, rule, column, value (NHS numbers masked), message
    rows_read: int

    @property
    def rows_quarantined(self) -> int:
        return self.findings["row_number"].n_unique() if self.findings.height else 0


FINDINGS_SCHEMA = {
    "row_number": pl.Int64,
    "rule": pl.String,
    "column": pl.String,
    "value": pl.String,
    "message": pl.String,
}


def validate_rows(raw: pl.DataFrame, contract: Contract, period_end: dt.date) -> ValidationResult:
    """Type and check every row of a delivered table (all columns strings, names normalised).

    Columns the contract marks optional may be absent from the file; they are added as nulls.
    Extra columns are dropped here (the caller reports them).
    """
    return validate_batch([(raw, period_end)], contract)[0]


def validate_batch(
    tables: list[tuple[pl.DataFrame, dt.date]], contract: Contract
) -> list[ValidationResult]:
    """`validate_rows` for several delivered tables of one extract at once, in one query.

    Each table is (its rows as strings with normalised names, its file's period end); the
    results come back in the same order, exactly as `validate_rows` gives them one by one.
    """
    if not tables:
        return []
    data = _stack(tables, contract.column_names)
    names = contract.column_names
    typed_exprs, helpers, checks = [], [], []
    for col in contract.columns:
        typed, col_helpers, col_checks = _typed_and_checks(col)
        typed_exprs.append(typed)
        helpers += col_helpers
        checks += col_checks
    checks += _row_checks(contract, batched=len(tables) > 1)
    flags = [f"_f{i}" for i in range(len(checks))]
    # Each stage is materialised: the checks refer to typed values many times over.
    typed_frame = (
        data.lazy()
        .with_columns(pl.col(c).str.strip_chars() for c in names)
        .with_columns(pl.when(pl.col(c) != "").then(pl.col(c)).alias(c) for c in names)
        .with_columns(typed_exprs)
        .collect()
    )
    for col in contract.columns:
        if col.type in ("date", "datetime"):
            typed_frame = _parse_other_formats(typed_frame, col)
    checked = (
        typed_frame.lazy()
        .with_columns(*helpers, _earliest_plausible(pl.col(PERIOD_END)).alias(EARLIEST))
        .with_columns(
            c.failed.fill_null(False).alias(f) for c, f in zip(checks, flags, strict=True)
        )
        .with_columns(pl.any_horizontal(flags).alias("_bad"))
        .collect()
    )
    good = (
        checked.lazy()
        .filter(~pl.col("_bad"))
        .select(FILE, "row_number", *[_typed(c).alias(c) for c in names])
        .collect()
    )
    findings = _findings(checked.lazy().filter(pl.col("_bad")).collect(), checks, flags, contract)

    # Rows stay in table order throughout, so each table's results are slices (no copies).
    rows_by_file = _slices(good, len(tables))
    findings_by_file = _slices(findings, len(tables))
    return [
        ValidationResult(rows=rows, findings=found, rows_read=t.height)
        for (t, _), rows, found in zip(tables, rows_by_file, findings_by_file, strict=True)
    ]


def _slices(frame: pl.DataFrame, tables: int) -> list[pl.DataFrame]:
    """A frame ordered by `FILE` cut into one frame per table (without `FILE`)."""
    counts = np.bincount(frame[FILE].to_numpy(), minlength=tables) if frame.height else [0] * tables
    frame = frame.drop(FILE)
    out, start = [], 0
    for n in counts:
        out.append(frame.slice(start, int(n)))
        start += int(n)
    return out


def _stack(tables: list[tuple[pl.DataFrame, dt.date]], names: list[str]) -> pl.DataFrame:
    """The tables' contract columns (absent ones as nulls) one under another, each row with
    its `row_number` in its table, its table's index (`FILE`) and period end (`PERIOD_END`)."""
    parts = []
    for raw, _ in tables:
        present = [c for c in names if c in raw.columns]
        if not present:  # keep the row count: a frame without columns has no rows to stack
            present, raw = (
                names[:1],
                pl.DataFrame({names[0]: pl.repeat(None, raw.height, dtype=pl.String, eager=True)}),
            )
        parts.append(raw[present])
    data = pl.concat(parts, how="diagonal_relaxed", rechunk=False) if len(parts) > 1 else parts[0]
    heights = np.array([t.height for t, _ in tables], dtype=np.int64)
    starts = np.repeat(np.cumsum(heights) - heights, heights)
    return data.select(
        pl.Series("row_number", np.arange(1, heights.sum() + 1, dtype=np.int64) - starts),
        *[
            pl.col(c).cast(pl.String) if c in data.columns else pl.lit(None, pl.String).alias(c)
            for c in names
        ],
        pl.Series(FILE, np.repeat(np.arange(len(tables), dtype=np.uint32), heights)),
        pl.Series(
            PERIOD_END,
            np.repeat(np.array([pe for _, pe in tables], dtype="datetime64[D]"), heights),
        ).cast(pl.Date),
    )


def _findings(
    failing: pl.DataFrame, checks: list[Check], flags: list[str], contract: Contract
) -> pl.DataFrame:
    """One finding per failed check per row, for the rows that failed any (the second pass)."""
    schema = {FILE: pl.UInt32, **FINDINGS_SCHEMA}
    if not failing.height:
        return pl.DataFrame(schema=schema)
    nhs_cols = {c.name for c in contract.columns if c.type == "nhs_number"}
    # Offending NHS numbers are reported masked, never in full (the raw value, as delivered).
    masked = {c: pl.col(c).map_elements(nhs_number.mask, return_dtype=pl.String) for c in nhs_cols}
    structs = [
        pl.when(pl.col(flag))
        .then(
            pl.struct(
                pl.lit(check.rule).alias("rule"),
                pl.lit(check.column).alias("column"),
                masked.get(check.column, check.value).cast(pl.String).alias("value"),
                check.message.alias("message"),
            )
        )
        .otherwise(None)
        .alias(flag)
        for check, flag in zip(checks, flags, strict=True)
    ]
    found = (
        failing.select(FILE, "row_number", *structs)
        .unpivot(index=[FILE, "row_number"], on=flags, value_name="f")
        .drop_nulls("f")
        .unnest("f")
        .drop("variable")
        .select(list(schema))
        .cast(schema)
    )
    # What the sender wrote is stored and shown neutral, whatever column it is in: an NHS
    # number typed into a date or code column is masked, control characters are escaped.
    found = found.with_columns(neutral_expr(pl.col("value")), neutral_expr(pl.col("message")))
    # A value is shown as far as a reader needs to find it: a field may be megabytes long.
    value = pl.col("value")
    return found.with_columns(
        pl.when(value.str.len_chars() > MAX_SHOWN_VALUE)
        .then(
            pl.format(
                "{}... ({} characters)",
                value.str.slice(0, MAX_SHOWN_VALUE - 30),
                value.str.len_chars(),
            )
        )
        .otherwise(value)
        .alias("value")
    ).sort(FILE, "row_number", "rule", "column")
