"""The row-rule engine: `validate_rows` is pure, a table of raw strings in, a typed table of
conforming rows and a table of quarantine findings out; `validate_batch` does the same for
several files of one extract in one query. Every finding names the rule, the column, the
offending value (neutral: NHS-number shapes masked, control characters escaped) and a message.
The rules themselves come from the suites (contracts.load_contract) as checks (checks.py)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from diewell.expectations.checks import (
    EARLIEST,
    FILE,
    PERIOD_END,
    Check,
    earliest_plausible,
    parse_other_formats,
    row_checks,
    typed_and_checks,
    typed_value,
)
from diewell.expectations.contracts import Contract
from diewell.transforms import nhs_number
from diewell.transforms.sender_text import neutral_expr

MAX_SHOWN_VALUE = 80  # a quarantined value is reported at most this long (a field may be 1 MB)


@dataclass
class ValidationResult:
    rows: pl.DataFrame  # conforming rows, typed, with row_number; NHS numbers still raw
    findings: pl.DataFrame  # row_number, rule, column, value (NHS numbers masked), message
    rows_read: int
    # A file in a national layout (expectations/sourced): its rows the layout filtered out,
    # per reason, the codes it sent to a default (rule, column, code, rows), the layout's name
    # and how many contract rows it formed. Rows and findings are then in the file's own rows.
    rows_filtered: int = 0
    filtered_by_reason: dict[str, int] = field(default_factory=dict)
    warnings: list[dict] = field(default_factory=list)
    layout: str | None = None
    rows_formed: int | None = None

    @property
    def rows_quarantined(self) -> int:
        return self.findings["row_number"].n_unique() if self.findings.height else 0

    @property
    def rows_kept(self) -> int:
        """The rows the file's rules count (the more-than-half-failing and volume rules):
        those its layout did not filter out (sources.md)."""
        return self.rows_read - self.rows_filtered


FINDINGS_SCHEMA = {
    "row_number": pl.Int64,
    "rule": pl.String,
    "column": pl.String,
    "value": pl.String,
    "message": pl.String,
}


def validate_rows(
    raw: pl.DataFrame, contract: Contract, period_end: dt.date, person_key: str = "nhs_number"
) -> ValidationResult:
    """Type and check every row of a delivered table (all columns strings, names normalised).

    Columns the contract marks optional may be absent from the file; they are added as nulls.
    Extra columns are dropped here (the caller reports them).
    """
    return validate_batch([(raw, period_end)], contract, person_key)[0]


def validate_batch(
    tables: list[tuple[pl.DataFrame, dt.date]], contract: Contract, person_key: str = "nhs_number"
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
        typed, col_helpers, col_checks = typed_and_checks(col, person_key)
        typed_exprs.append(typed)
        helpers += col_helpers
        checks += col_checks
    checks += row_checks(contract, batched=len(tables) > 1)
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
            typed_frame = parse_other_formats(typed_frame, col)
    checked = (
        typed_frame.lazy()
        .with_columns(*helpers, earliest_plausible(pl.col(PERIOD_END)).alias(EARLIEST))
        .with_columns(
            c.failed.fill_null(False).alias(f) for c, f in zip(checks, flags, strict=True)
        )
        .with_columns(pl.any_horizontal(flags).alias("_bad"))
        .collect()
    )
    good = (
        checked.lazy()
        .filter(~pl.col("_bad"))
        .select(FILE, "row_number", *[typed_value(c).alias(c) for c in names])
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
