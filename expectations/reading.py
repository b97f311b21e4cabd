"""Reading a delivered file's contract columns as text (extracts.md): CSV (reading_csv) or
Parquet (only the columns the contract names are decoded; dictionary-encoded strings are
plain strings; typed dates, datetimes and integers are written in the contract's formats, a
date beyond the calendar so that its row is quarantined). Nothing here logs row data."""

from __future__ import annotations

import datetime as dt
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from diewell.expectations.contracts import Contract, load_contract
from diewell.expectations.files import (
    DEFAULT_MAX_FILE_BYTES,
    Delivery,
    FileRejected,
    _too_large,
    normalise_column_name,
    open_no_follow,
    screen,
)
from diewell.expectations.reading_csv import read_csv, safe
from diewell.transforms.sender_text import neutral

if TYPE_CHECKING:
    pass


PARQUET_BATCH_ROWS = 65_536  # rows decoded at a time, so the decoded size is checked as it grows


# Parquet physical types the contract types accept (strings are always accepted).
PARQUET_TYPES = {
    "date": (pa.types.is_date, pa.types.is_timestamp),
    "datetime": (pa.types.is_timestamp,),
    "integer": (pa.types.is_integer,),
    "nhs_number": (pa.types.is_integer,),
}


PARQUET_TYPE_WORDS = {
    "date": "a date (or a string YYYY-MM-DD)",
    "datetime": "a timestamp (or an ISO 8601 string)",
    "integer": "an integer (or a string of digits)",
    "nhs_number": "a string of 10 digits (or an integer)",
}


@dataclass
class Read:
    """A delivered file as read: the contract's columns, every value as text."""

    rows: pl.DataFrame  # the contract's columns the file has (names normalised), as strings
    columns: list[str]  # every column the file names, normalised (sender text made neutral)
    extra: list[str]  # the columns the contract does not name: ignored, and reported


@dataclass(frozen=True)
class Wanted:
    """The columns a file is read for: the contract's, or a layout's source columns."""

    names: tuple[str, ...]  # normalised (lower case)
    required: tuple[str, ...]
    types: dict[str, str]  # a column's contract type (what its Parquet type may be); "" any
    what: str  # "the contract" or "layout <name>", for the reasons
    one_of: tuple[tuple[str, ...], ...] = ()  # a file needs a column of each (one_of_required)

    @classmethod
    def of_contract(cls, contract: Contract) -> Wanted:
        return cls(
            tuple(contract.column_names),
            tuple(contract.required_columns),
            {c.name: c.type for c in contract.columns},
            "the contract",
            tuple(r.columns for r in contract.row_rules if r.check == "one_of_required"),
        )

    @classmethod
    def of_layout(cls, layout) -> Wanted:
        """A layout's source columns (expectations/layouts), spelled as it spells them and
        matched ignoring case; a Parquet column of any plain type (text, integer, date,
        timestamp) is read as text."""
        names = tuple(normalise_column_name(c) for c in layout.source_columns)
        return cls(
            names,
            tuple(normalise_column_name(c) for c in layout.required),
            dict.fromkeys(names, ""),
            f"layout {layout.name}",
        )


def read_delivery(
    delivery: Delivery, limit: int = DEFAULT_MAX_FILE_BYTES, wanted: Wanted | None = None
) -> Read:
    """Read a delivered file's contract columns (or `wanted`: a layout's source columns) as a
    table of strings.

    A file over `limit` bytes (for Parquet: decoded) is rejected before it is read whole.
    A required column missing, or a Parquet column of a type its column cannot take, rejects
    the file; only the wanted columns are converted (extra ones, of any type, are named and
    ignored: extracts.md v3)."""
    if screen(delivery.path, limit).st_size == 0:
        raise FileRejected(
            "empty_file",
            "the file is zero bytes; send a header-only file for 'nothing this period'",
        )
    wanted = wanted or Wanted.of_contract(load_contract(delivery.extract))
    if delivery.format == "parquet":
        table, names = _read_parquet(delivery.path, limit, list(wanted.names))
        _check_required(names, wanted)
        _check_parquet_types(table, wanted)
        rows = as_strings(pl.from_arrow(table))
    else:
        frame = read_csv(delivery.path, limit)
        names = frame.columns
        _check_required(names, wanted)
        rows = frame.select(c for c in names if c in wanted.names)
    extra = [neutral(c) for c in names if c not in wanted.names]
    return Read(rows, [neutral(c) for c in names], extra)


def _read_parquet(path: Path, limit: int, wanted: list[str]) -> tuple[pa.Table, list[str]]:
    """The Parquet file's `wanted` columns (names normalised, dictionary-encoded columns
    decoded to their values), and every column name it has, normalised."""
    with open_no_follow(path) as f:
        size = os.fstat(f.fileno()).st_size
        head = f.read(4)
        f.seek(max(size - 4, 0))
        tail = f.read(4)
        if head != b"PAR1":
            if head.startswith((b"PK\x03\x04", b"\xd0\xcf\x11\xe0")):
                what = "the file is an Excel workbook renamed .parquet; send Parquet, or CSV (UTF-8) named .csv"
            else:
                what = (
                    "the file is not Parquet: it does not start with the Parquet marker 'PAR1' "
                    "(if it is CSV, name it .csv)"
                )
            raise FileRejected("not_parquet", what)
        if tail != b"PAR1" or size < 12:
            raise FileRejected(
                "not_parquet",
                f"the Parquet file is truncated: it is {size} bytes and its footer (ending 'PAR1') "
                "is missing; re-send the complete file",
            )
        f.seek(0)
        try:
            parquet = pq.ParquetFile(f)
            originals = parquet.schema_arrow.names
            names = [normalise_column_name(n) for n in originals]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise FileRejected(
                    "duplicate_column",
                    f"the file names column(s) {safe(', '.join(duplicates))} more than once "
                    "(column names are compared ignoring case and surrounding spaces)",
                )
            keep = [o for o, n in zip(originals, names, strict=True) if n in wanted]
            table = _read_parquet_within(parquet, keep, limit)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise FileRejected(
                "not_parquet",
                f"the file cannot be read as Parquet ({safe(str(exc).splitlines()[0])[:120]}); "
                "re-export it",
            ) from None
    table = table.rename_columns([normalise_column_name(n) for n in table.column_names])
    return _decoded(table), names


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary-encoded columns (pandas' `category`) as plain columns of their values."""
    for i, column in enumerate(table.columns):
        if pa.types.is_dictionary(column.type):
            table = table.set_column(i, table.field(i).name, column.cast(column.type.value_type))
    return table


def _read_parquet_within(parquet: pq.ParquetFile, columns: list[str], limit: int) -> pa.Table:
    """The Parquet table's `columns`, rejected as soon as its decoded size passes `limit`.

    The footer's uncompressed sizes are checked first (an honest large file is refused
    unread); they are the sender's word, so the rows are then decoded a batch at a time and
    the decoded bytes counted, stopping at the limit whatever the footer claimed.
    """
    meta = parquet.metadata
    declared = sum(max(meta.row_group(i).total_byte_size, 0) for i in range(meta.num_row_groups))
    if declared > limit:
        raise _too_large(f"decodes to {declared:,} bytes (its Parquet footer says)", limit)
    schema = pa.schema([parquet.schema_arrow.field(c) for c in columns])
    batches, decoded = [], 0
    for batch in parquet.iter_batches(
        batch_size=PARQUET_BATCH_ROWS, columns=columns, use_threads=False
    ):
        decoded += batch.nbytes
        if decoded > limit:
            raise _too_large(f"decodes to more than {limit:,} bytes", limit)
        batches.append(batch)
    return pa.Table.from_batches(batches, schema=schema)


def _missing_column_hint(missing: list[str], columns: list[str], wanted: Wanted) -> str:
    """Point at header names that are near misses for the missing columns, or at a missing header."""
    squashed = {re.sub(r"[\s\-]+", "_", c): c for c in columns}
    near = [f"'{squashed[m]}' should be named {m}" for m in missing if m in squashed]
    if near:
        return "; " + "; ".join(near)
    if columns and not set(columns) & set(wanted.names):
        return f"; the first line names no column of {wanted.what}: is the header row missing?"
    return ""


def _check_required(columns: list[str], wanted: Wanted) -> None:
    """Reject a file missing a column the contract (or the file's layout) requires."""
    missing = [c for c in wanted.required if c not in columns]
    if missing:
        shown = missing if wanted.what == "the contract" else [m.upper() for m in missing]
        of = "" if wanted.what == "the contract" else f" of {wanted.what}"
        raise FileRejected(
            "required_column_missing",
            f"required column(s){of} {', '.join(shown)} missing; the header has: "
            f"{safe(', '.join(columns))}{_missing_column_hint(missing, columns, wanted)}",
        )
    for pair in wanted.one_of:  # neither column of a one_of_required rule: no row could pass
        if not set(pair) & set(columns):
            raise FileRejected(
                "required_column_missing",
                f"the file has none of the columns {' or '.join(pair)}, and the contract needs "
                f"one of them on every row; the header has: {safe(', '.join(columns))}"
                f"{_missing_column_hint(list(pair), columns, wanted)}",
            )


def _is_text(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_null(arrow_type)  # an all-empty column carries no type
        or getattr(pa.types, "is_string_view", lambda _: False)(arrow_type)
    )


# A layout's source column may be any plain type: it is read as text.
ANY_PLAIN = (pa.types.is_integer, pa.types.is_date, pa.types.is_timestamp)


def _check_parquet_types(table: pa.Table, wanted: Wanted) -> None:
    """Reject a Parquet file whose wanted column has a type its column cannot take."""
    for field in table.schema:
        kind = wanted.types[field.name]
        accepted = PARQUET_TYPES.get(kind, ()) if kind else ANY_PLAIN
        if not _is_text(field.type) and not any(test(field.type) for test in accepted):
            expects = (
                PARQUET_TYPE_WORDS.get(kind, "a string") if kind else "text, a number or a date"
            )
            raise FileRejected(
                "column_type_invalid",
                f"Parquet column {field.name} has type {field.type}; {wanted.what} expects "
                f"{expects}; re-export it with that type",
            )


# The days and microseconds a date or datetime may have (0001-01-01 to 9999-12-31 23:59:59).
_FIRST_DAY = (dt.date(1, 1, 1) - dt.date(1970, 1, 1)).days


_LAST_DAY = (dt.date(9999, 12, 31) - dt.date(1970, 1, 1)).days


_PER_DAY = {"ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}


def _outside_calendar(count: pl.Expr, first: int) -> pl.Expr:
    """What a date or datetime beyond the calendar is written as, so that the row rules
    quarantine it as unparseable (and the sender sees which end it passed)."""
    return (
        pl.when(count < first)
        .then(pl.lit("before 0001-01-01"))
        .otherwise(pl.lit("after 9999-12-31"))
    )


def as_strings(df: pl.DataFrame) -> pl.DataFrame:
    """Typed Parquet columns as contract-formatted strings (dates YYYY-MM-DD, datetimes ISO).

    A date or datetime outside the years 0001-9999 is not converted (it cannot be): it is
    written as `after 9999-12-31` (or `before 0001-01-01`), which the row rules quarantine as
    unparseable."""
    if all(dtype == pl.String for dtype in df.schema.values()):
        return df  # CSV, and Parquet of strings
    exprs = []
    for name, dtype in df.schema.items():
        col = pl.col(name)
        if dtype == pl.String:
            exprs.append(col)
        elif dtype == pl.Date:
            days = col.to_physical()
            inside = days.is_between(_FIRST_DAY, _LAST_DAY)
            exprs.append(
                pl.when(inside)
                .then(pl.when(inside).then(col).dt.strftime("%Y-%m-%d"))
                .otherwise(_outside_calendar(days, _FIRST_DAY))
                .alias(name)
            )
        elif isinstance(dtype, pl.Datetime):
            count = col.to_physical()
            per_day = _PER_DAY[dtype.time_unit]
            inside = count.is_between(_FIRST_DAY * per_day, (_LAST_DAY + 1) * per_day - 1)
            exprs.append(
                pl.when(inside)
                .then(pl.when(inside).then(col).dt.strftime("%Y-%m-%dT%H:%M:%S"))
                .otherwise(_outside_calendar(count, _FIRST_DAY * per_day))
                .alias(name)
            )
        else:
            exprs.append(col.cast(pl.String))
    return df.select(exprs)
