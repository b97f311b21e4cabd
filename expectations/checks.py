"""The row rules of a contract as Polars expressions: for each column, its typed value and
the checks on it (required, NHS number, dates and their formats, integers and ranges, codes,
patterns, text length), and the checks across columns (date orders, duplicate keys). Each
check carries its rule id and a message a provider's data manager can act on."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from diewell.expectations.contracts import ICD10_LIST_ITEM, Column, Contract, RowRule
from diewell.transforms import nhs_number
from diewell.transforms.sender_text import escape_controls_expr

PATTERNS = {
    "icd10": (r"^[A-Z][0-9]{2}(\.?[0-9A-Z]{1,2})?$", "an ICD-10 code such as C34.9, C349 or C34"),
    "lsoa": (r"^[EW]01[0-9]{6}$", "an LSOA 2021 code (E01 or W01 and 6 digits)"),
    "lsoa_2011": (r"^[EW]01[0-9]{6}$", "an LSOA 2011 code (E01 or W01 and 6 digits)"),
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


MAX_TEXT_LENGTH = 255


DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y")


DATETIME_FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M")


MAX_YEARS_BEFORE_PERIOD_END = 120


# An NHS number's shape as delivered: 10 digits, spaces or hyphens between them.
NHS_NUMBER_SHAPE = r"^([0-9][ -]*){9}[0-9]$"


def earliest_plausible_date(period_end: dt.date) -> dt.date:
    """Dates before this, over 120 years before the period end, are typing errors or placeholders."""
    return dt.date(period_end.year - MAX_YEARS_BEFORE_PERIOD_END, period_end.month, 1)


FILE = "_file"  # which table of a batch a row came from


PERIOD_END = "_period_end"  # that table's period end (from its file name)


_TYPED = "_typed_"  # prefix of a column's typed values while checking


_NUMBER = "_number_"  # prefix of an NHS number column's integer form while checking


def typed_value(column: str) -> pl.Expr:
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


def earliest_plausible(period_end: pl.Expr) -> pl.Expr:
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


def parse_other_formats(frame: pl.DataFrame, col: Column) -> pl.DataFrame:
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


PERSON_KEY_SHAPE = r"^[A-Za-z0-9_-]{1,64}$"  # a data service's pseudonym (sources.md v3)


def typed_and_checks(
    col: Column, person_key: str = "nhs_number"
) -> tuple[pl.Expr, list[pl.Expr], list[Check]]:
    """The typed expression for a column (from its raw strings), helper columns computed from
    the typed one, and the checks on it.

    A date column is typed with its first format here (`_parse_other_formats` does the rest).
    The checks read the raw column, the typed one (`typed_value(name)`), the helpers, and the
    period end of each row's file (`PERIOD_END`).
    """
    raw, typed_col = pl.col(col.name), typed_value(col.name)
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
    if col.type == "nhs_number" and person_key == "pseudonymised":
        # The person column holds the data service's pseudonym: trimmed, as it is, no check
        # digit; it is hashed like an NHS number, so the warehouse never holds it either.
        typed = raw
        checks.append(
            _check(
                "invalid_person_key",
                col.name,
                present & ~raw.str.contains(PERSON_KEY_SHAPE),
                pl.lit(None, pl.String),  # shown masked (see rules._findings)
                f"{col.name} must be the data service's pseudonym: 1 to 64 letters, digits, "
                "'_' or '-' (pseudonymisation.person_key is pseudonymised)",
            )
        )
    elif col.type == "nhs_number":
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


def row_checks(contract: Contract, batched: bool) -> list[Check]:
    """Checks across columns, on typed values: the date orders and the key."""
    checks = []
    for r in contract.order_rules:
        later, earlier = typed_value(r.later), typed_value(r.earlier)
        checks.append(
            _check(
                r.rule,
                r.later,
                later.cast(pl.Date) < earlier.cast(pl.Date),
                later.cast(pl.String),
                r.message,
            )
        )
    checks += [_row_rule_check(r, contract) for r in contract.row_rules]
    repeated = pl.struct([typed_value(k) for k in contract.key]).is_duplicated()
    if batched:
        repeated = repeated.over(FILE)
    checks.append(
        _check(
            "duplicate_key",
            ",".join(contract.key),
            repeated & pl.all_horizontal(typed_value(k).is_not_null() for k in contract.key),
            pl.concat_str([typed_value(k).cast(pl.String) for k in contract.key], separator="|"),
            f"{', '.join(contract.key)} appears more than once in this file (every copy is held back)",
        )
    )
    return checks


def completed_years(birth: pl.Expr, death: pl.Expr) -> pl.Expr:
    """Whole years from a date of birth to a date (the age at that date)."""
    before_birthday = (death.dt.month() < birth.dt.month()) | (
        (death.dt.month() == birth.dt.month()) & (death.dt.day() < birth.dt.day())
    )
    return death.dt.year() - birth.dt.year() - before_birthday.cast(pl.Int32)


def _row_rule_check(r: RowRule, contract: Contract) -> Check:
    """A row rule of the contract (contracts.RowRule) as a check on raw and typed values."""
    if r.check == "one_of_required":
        a, b = r.columns
        return _check(
            r.rule, a, pl.col(a).is_null() & pl.col(b).is_null(), pl.lit(None, pl.String), r.message
        )
    birth, death, age = (typed_value(c) for c in r.columns)
    birth, death = birth.cast(pl.Date), death.cast(pl.Date)
    years = completed_years(birth, death)
    # Only plausible values are compared: a date outside its range, a death before the birth
    # or an age outside its range has its own finding already (comparing them means nothing).
    bounds = contract.column(r.columns[2])
    plausible = (
        pl.all_horizontal(
            (d >= pl.col(EARLIEST)) & (d <= pl.col(PERIOD_END)) for d in (birth, death)
        )
        & (death >= birth)
        & age.is_between(bounds.min, bounds.max)
    )
    return _check(
        r.rule,
        r.columns[2],
        plausible & years.is_not_null() & age.is_not_null() & (years != age),
        pl.col(r.columns[2]),
        pl.format(f"{r.message}: the dates give {{}} completed years", years),
    )
