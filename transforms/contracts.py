"""Extract contracts, read from the Great Expectations suites, and the row rules they imply.

The suites (`expectations/suites/<extract>.json`, one GX ExpectationSuite per extract) are the
single source of the rules: `load_contract` reads one into a `Contract` (as plain JSON, so
this fast path does not import GX) and `validate_rows` evaluates it with Polars expressions.
`diewell.suites` builds the same suites with the GX API and turns findings into GX results.

`validate_rows` is pure: a table of raw strings in, a typed table of conforming rows and a
table of quarantine findings out. Every finding names the rule, the column, the offending
value (NHS numbers masked) and a message a provider's data manager can act on.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import polars as pl

from transforms import nhs_number

SUITES_DIR = Path(__file__).resolve().parent.parent / "expectations" / "suites"

# How a contract type is stored once typed.
POLARS_TYPES = {
    "nhs_number": pl.String,
    "date": pl.Date,
    "datetime": pl.Datetime("us"),
    "code": pl.String,
    "code_text": pl.String,
    "text": pl.String,
    "integer": pl.Int64,
    "icd10": pl.String,
    "icd10_list": pl.String,
    "lsoa": pl.String,
    "ods_practice": pl.String,
    "ods_code": pl.String,
}

PATTERNS = {
    "icd10": (r"^[A-Z][0-9]{2}(\.?[0-9A-Z]{1,2})?$", "an ICD-10 code such as C34.9, C349 or C34"),
    "lsoa": (r"^[EW]01[0-9]{6}$", "an LSOA 2021 code (E01 or W01 and 6 digits)"),
    "ods_practice": (r"^[A-Z][0-9]{5}$", "an ODS practice code (a letter and 5 digits)"),
    "ods_code": (r"^[A-Z0-9]{3,9}$", "an ODS organisation code (3-9 upper-case letters/digits)"),
    "code_text": (r"^[0-9A-Z]{1,3}$", "an NHS Data Dictionary code"),
}
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
    min: int | None = None
    max: int | None = None
    multiple_of: int | None = None


@dataclass(frozen=True)
class OrderRule:
    rule: str
    earlier: str
    later: str
    message: str


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
    for e in suite["expectations"]:
        kind, kw, meta = e["type"], e["kwargs"], e.get("meta") or {}
        rule = meta.get("rule")
        if "column_type" in meta:
            spec = specs.setdefault(kw["column"], {})
            spec["type"] = meta["column_type"]
            if kind == "expect_column_values_to_be_in_set":
                spec["allowed"] = tuple(str(v) for v in kw["value_set"])
                spec["canonical"] = {str(k): str(v) for k, v in meta.get("canonical", {}).items()}
        elif rule == "missing_required_value":
            required.add(kw["column"])
        elif rule == "value_out_of_range":
            spec = specs.setdefault(kw["column"], {})
            # GX stores the bounds as floats (0.0): the contract's are whole numbers.
            spec["min"], spec["max"] = _whole(kw.get("min_value")), _whole(kw.get("max_value"))
            spec["multiple_of"] = meta.get("multiple_of")
        elif kind == "expect_column_pair_values_a_to_be_greater_than_b":
            order_rules.append(OrderRule(rule, kw["column_B"], kw["column_A"], meta["message"]))
        elif rule == "duplicate_key":
            key = tuple(kw["column_list"]) if "column_list" in kw else (kw["column"],)
        elif rule == "volume_drop":
            min_volume_share = meta["min_share_of_previous_delivery"]
    columns = []
    for name, spec in specs.items():
        if spec.get("type") not in POLARS_TYPES:
            raise ValueError(
                f"suite {suite['name']}: column {name} has no known type ({spec.get('type')})"
            )
        columns.append(Column(name=name, required=name in required, **spec))
    if info.get("key") and tuple(info["key"]) != key:
        raise ValueError(f"suite {suite['name']}: meta key {info['key']} differs from {key}")
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
    )


def all_contracts() -> list[Contract]:
    return [load_contract(p.stem) for p in sorted(SUITES_DIR.glob("*.json"))]


# --- row validation ---------------------------------------------------------------------


def _finding(
    rule: str, column: str, failed: pl.Expr, value: pl.Expr, message: str | pl.Expr
) -> pl.Expr:
    """A struct describing one failed rule, or null where the row passes.

    `message` is a sentence, or an expression choosing the sentence that fits the value.
    """
    return (
        pl.when(failed)
        .then(
            pl.struct(
                pl.lit(rule).alias("rule"),
                pl.lit(column).alias("column"),
                value.cast(pl.String).alias("value"),
                (pl.lit(message) if isinstance(message, str) else message).alias("message"),
            )
        )
        .otherwise(None)
    )


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


def _parse_dates(raw: pl.Expr, formats: tuple[str, ...], dtype) -> pl.Expr:
    parsed = [raw.str.strptime(dtype, f, strict=False, exact=True) for f in formats]
    return pl.coalesce(parsed)


def _typed_and_checks(col: Column, period_end: dt.date) -> tuple[pl.Expr, list[pl.Expr]]:
    """The typed expression for a column and the findings its values can raise."""
    raw = pl.col(col.name)
    present = raw.is_not_null()
    checks: list[pl.Expr] = []
    if col.required:
        checks.append(
            _finding(
                "missing_required_value",
                col.name,
                ~present,
                pl.lit(None, pl.String),
                f"{col.name} is required but empty",
            )
        )
    shown = raw
    if col.type == "nhs_number":
        norm = nhs_number.normalise_expr(col.name)
        typed = norm
        bad = present & ~nhs_number.valid_expr(norm)
        shown = pl.lit(None, pl.String)  # replaced by a masked value in validate_rows
        checks.append(
            _finding(
                "invalid_nhs_number",
                col.name,
                bad,
                shown,
                _nhs_number_message(norm),
            )
        )
    elif col.type in ("date", "datetime"):
        if col.type == "date":
            typed = _parse_dates(raw, DATE_FORMATS, pl.Date)
            fmt = "YYYY-MM-DD or DD/MM/YYYY"
        else:
            typed = _parse_dates(raw, DATETIME_FORMATS, pl.Datetime("us"))
            fmt = "YYYY-MM-DDTHH:MM[:SS] (ISO 8601)"
        as_date = typed.cast(pl.Date)
        earliest = earliest_plausible_date(period_end)
        checks += [
            _finding(
                "unparseable_date",
                col.name,
                present & typed.is_null(),
                raw,
                _date_message(raw, col, fmt),
            ),
            _finding(
                "date_after_period_end",
                col.name,
                as_date > pl.lit(period_end),
                raw,
                f"{col.name} is after the file's period end {period_end.isoformat()}",
            ),
            _finding(
                "date_implausibly_early",
                col.name,
                as_date < pl.lit(earliest),
                raw,
                f"{col.name} is more than {MAX_YEARS_BEFORE_PERIOD_END} years before the period end",
            ),
        ]
    elif col.type == "integer":
        is_int = raw.str.contains(r"^-?[0-9]{1,18}$").fill_null(False)
        typed = pl.when(is_int).then(raw).otherwise(None).cast(pl.Int64)
        checks.append(
            _finding(
                "not_an_integer",
                col.name,
                present & ~is_int,
                raw,
                f"{col.name} must be a whole number written with digits only (no thousands "
                "separators, decimal point or spaces)",
            )
        )
        out_of_range = pl.lit(False)
        bounds = []
        if col.min is not None:
            out_of_range = out_of_range | (typed < col.min)
            bounds.append(f">= {col.min}")
        if col.max is not None:
            out_of_range = out_of_range | (typed > col.max)
            bounds.append(f"<= {col.max}")
        if col.multiple_of is not None:
            out_of_range = out_of_range | (typed % col.multiple_of != 0)
            bounds.append(f"a multiple of {col.multiple_of}")
        if bounds:
            checks.append(
                _finding(
                    "value_out_of_range",
                    col.name,
                    out_of_range.fill_null(False),
                    raw,
                    f"{col.name} must be {' and '.join(bounds)}",
                )
            )
    elif col.type == "code":
        typed = raw.replace(col.canonical) if col.canonical else raw
        checks.append(
            _finding(
                "value_not_allowed",
                col.name,
                present & ~raw.is_in(list(col.allowed)),
                raw,
                _code_message(raw, col),
            )
        )
    elif col.type == "icd10_list":
        typed = raw.str.replace_all(r"\.", "")
        ok = raw.str.contains(rf"^{ICD10_LIST_ITEM}(;{ICD10_LIST_ITEM})*$")
        checks.append(
            _finding(
                "invalid_code",
                col.name,
                present & ~ok.fill_null(False),
                raw,
                f"{col.name} must be ICD-10 codes separated by ';'",
            )
        )
    elif col.type in PATTERNS:
        pattern, what = PATTERNS[col.type]
        typed = raw.str.replace_all(r"\.", "") if col.type == "icd10" else raw
        checks.append(
            _finding(
                "invalid_code",
                col.name,
                present & ~raw.str.contains(pattern).fill_null(False),
                raw,
                f"{col.name} must be {what}",
            )
        )
    else:  # text
        typed = raw
        checks.append(
            _finding(
                "value_too_long",
                col.name,
                raw.str.len_chars() > MAX_TEXT_LENGTH,
                raw.str.slice(0, 40) + pl.lit("..."),
                f"{col.name} is longer than {MAX_TEXT_LENGTH} characters",
            )
        )
    return typed.alias(col.name), checks


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
    df = raw.with_columns(
        pl.col(c).str.strip_chars().replace("", None)
        for c in raw.columns
        if c in contract.column_names
    )
    for c in contract.column_names:
        if c not in df.columns:
            df = df.with_columns(pl.lit(None, pl.String).alias(c))
    df = df.select(contract.column_names).with_row_index("row_number", offset=1)
    df = df.with_columns(pl.col("row_number").cast(pl.Int64))

    typed_exprs, checks = [], []
    for col in contract.columns:
        typed, col_checks = _typed_and_checks(col, period_end)
        typed_exprs.append(typed)
        checks += col_checks
    typed_df = df.select(pl.col("row_number"), *typed_exprs)

    # Rules across columns, on typed values.
    raw_checks = df.select(pl.col("row_number"), *[c.alias(f"_f{i}") for i, c in enumerate(checks)])
    order_checks = []
    for r in contract.order_rules:
        later, earlier = pl.col(r.later), pl.col(r.earlier)
        failed = (later.cast(pl.Date) < earlier.cast(pl.Date)).fill_null(False)
        order_checks.append(_finding(r.rule, r.later, failed, later.cast(pl.String), r.message))
    key_dup = pl.struct(list(contract.key)).is_duplicated() & pl.all_horizontal(
        pl.col(k).is_not_null() for k in contract.key
    )
    order_checks.append(
        _finding(
            "duplicate_key",
            ",".join(contract.key),
            key_dup,
            pl.concat_str([pl.col(k).cast(pl.String) for k in contract.key], separator="|"),
            f"{', '.join(contract.key)} appears more than once in this file (every copy is held back)",
        )
    )
    typed_checks = typed_df.select(
        pl.col("row_number"), *[c.alias(f"_g{i}") for i, c in enumerate(order_checks)]
    )

    findings = _collect_findings(raw_checks, typed_checks, df, contract)
    bad_rows = findings["row_number"].unique()
    good = typed_df.filter(~pl.col("row_number").is_in(bad_rows.implode()))
    return ValidationResult(rows=good, findings=findings, rows_read=df.height)


def _collect_findings(
    raw_checks: pl.DataFrame, typed_checks: pl.DataFrame, df: pl.DataFrame, contract: Contract
) -> pl.DataFrame:
    frames = []
    for checks in (raw_checks, typed_checks):
        cols = [c for c in checks.columns if c != "row_number"]
        if not cols:
            continue
        long = (
            checks.unpivot(index="row_number", on=cols, value_name="f")
            .drop_nulls("f")
            .unnest("f")
            .drop("variable")
        )
        frames.append(long)
    findings = pl.concat(frames) if frames else pl.DataFrame(schema=FINDINGS_SCHEMA)
    findings = findings.select(list(FINDINGS_SCHEMA)).cast(FINDINGS_SCHEMA)
    # A value is shown as far as a reader needs to find it: a field may be megabytes long.
    value = pl.col("value")
    findings = findings.with_columns(
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
    )
    # Offending NHS numbers are reported masked, never in full.
    nhs_cols = [c.name for c in contract.columns if c.type == "nhs_number"]
    if nhs_cols and findings.height:
        flagged = df.filter(pl.col("row_number").is_in(findings["row_number"].implode()))
        masked = flagged.select(
            "row_number",
            *[
                pl.col(c)
                .map_elements(nhs_number.mask, return_dtype=pl.String)
                .alias(f"_masked_{c}")
                for c in nhs_cols
            ],
        )
        findings = findings.join(masked, on="row_number", how="left")
        for c in nhs_cols:
            findings = findings.with_columns(
                pl.when(pl.col("column") == c)
                .then(pl.col(f"_masked_{c}"))
                .otherwise(pl.col("value"))
                .alias("value")
            )
        findings = findings.drop([f"_masked_{c}" for c in nhs_cols])
    return findings.sort("row_number", "rule", "column")
