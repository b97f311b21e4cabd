"""Delivered files: naming, reading and the file rules of extracts.md.

A file that breaks a file rule raises `FileRejected` with a rule id and a reason written for
the provider who must fix it. Nothing here logs row-level data.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from diewell.config import EXTRACTS, Config
from transforms.contracts import Contract

FILE_NAME = re.compile(
    r"^(?P<extract>[a-z_]+?)_(?P<provider>[A-Z0-9]{3,6})_(?P<period>[0-9]{8})\.(?P<format>csv|parquet)$"
)
CSV_BLOCK_SIZE = 1 << 25  # 32 MiB: a single field may be long (1 MB) without straddling blocks
# Parquet physical types the contract types accept (strings are always accepted).
PARQUET_TYPES = {
    "date": (pa.types.is_date, pa.types.is_timestamp),
    "datetime": (pa.types.is_timestamp,),
    "integer": (pa.types.is_integer,),
    "nhs_number": (pa.types.is_integer,),
}


class FileRejected(Exception):
    """The whole file is rejected; `rule` is machine-readable, `reason` is for the provider."""

    def __init__(self, rule: str, reason: str):
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


@dataclass(frozen=True)
class Delivery:
    path: Path
    extract: str
    provider: str
    period_end: dt.date
    format: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sort_key(self) -> tuple:
        """Reference data first, then deliveries in period order."""
        reference_first = 0 if self.extract.startswith("ref_") else 1
        return (reference_first, self.period_end, self.extract, self.provider, self.name)


def parse_file_name(path: Path, config: Config) -> Delivery:
    """Identify a delivery by its name alone; reject names, extracts or senders the contract does not allow."""
    m = FILE_NAME.match(path.name)
    if not m:
        raise FileRejected(
            "file_name_invalid",
            f"file name '{path.name}' does not follow <extract>_<provider ODS code>_<YYYYMMDD>.csv "
            "or .parquet (for example apc_spells_RD1_20250331.csv)",
        )
    extract, provider, period = m["extract"], m["provider"], m["period"]
    if extract not in EXTRACTS:
        raise FileRejected(
            "unknown_extract",
            f"'{extract}' is not an extract of the contract; expected one of: {', '.join(EXTRACTS)}",
        )
    try:
        period_end = dt.datetime.strptime(period, "%Y%m%d").date()
    except ValueError:
        raise FileRejected(
            "period_invalid",
            f"the period end '{period}' in the file name is not a real date in YYYYMMDD form",
        ) from None
    if not config.is_registered(provider, extract):
        if config.provider(provider) is None:
            what = f"sender {provider} is not a registered provider in this ICS"
        else:
            what = f"sender {provider} is not registered to send {extract}"
        raise FileRejected(
            "provider_not_registered", f"{what}; ask the ICB to add it to the ICS configuration"
        )
    return Delivery(path, extract, provider, period_end, m["format"])


def discover(landing: Path) -> list[Path]:
    """Every candidate file under the landing folder (sub-folders included), in name order.

    Hidden files and files still being written (`*.part`, `*.tmp`) are left alone.
    """
    if not landing.exists():
        return []
    found = [
        p
        for p in landing.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(landing).parts)
        and p.suffix not in (".part", ".tmp")
    ]
    return sorted(found, key=lambda p: (p.name, str(p)))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def normalise_column_name(name: str) -> str:
    return name.strip().lower()


def read_delivery(delivery: Delivery) -> pl.DataFrame:
    """Read a delivered file as a table of strings with normalised column names."""
    if delivery.path.stat().st_size == 0:
        raise FileRejected(
            "empty_file",
            "the file is zero bytes; send a header-only file for 'nothing this period'",
        )
    if delivery.format == "parquet":
        return _read_parquet(delivery.path)
    return _read_csv(delivery.path)


def _sniff_csv_problem(head: bytes) -> FileRejected | None:
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return FileRejected(
            "not_csv", "the file is an Excel workbook renamed .csv; export it as CSV (UTF-8)"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return FileRejected(
            "encoding_not_utf8", "the file is encoded as UTF-16; re-export it as UTF-8"
        )
    if b"\x00" in head:
        return FileRejected("not_csv", "the file holds binary data, not comma-separated text")
    return None


def _header(data: bytes) -> list[str]:
    first_line = data.split(b"\n", 1)[0].rstrip(b"\r")
    if first_line.startswith(b"\xef\xbb\xbf"):
        first_line = first_line[3:]
    text = first_line.decode("utf-8")
    return next(csv.reader(io.StringIO(text)), [])


def _read_csv(path: Path) -> pl.DataFrame:
    data = path.read_bytes()
    problem = _sniff_csv_problem(data[:4096])
    if problem:
        raise problem
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise FileRejected(
            "encoding_not_utf8",
            f"the file is not valid UTF-8 (byte 0x{data[exc.start]:02X} on line {line}; "
            "probably Latin-1/Windows-1252); re-export it as UTF-8",
        ) from None
    if data.count(b'"') % 2:
        raise FileRejected(
            "unterminated_quote", "a quoted field is never closed (an odd number of '\"')"
        )
    header = _header(data)
    names = [normalise_column_name(h) for h in header]
    if len(header) <= 1 and header:
        for delim, word in ((";", "semicolons"), ("\t", "tabs"), ("|", "pipes")):
            if delim in header[0]:
                raise FileRejected(
                    "wrong_delimiter",
                    f"the file is delimited by {word}; the contract requires commas",
                )
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileRejected(
            "duplicate_column", f"the header names column(s) {', '.join(duplicates)} more than once"
        )
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(
                column_names=names, skip_rows=1, block_size=CSV_BLOCK_SIZE, encoding="utf8"
            ),
            parse_options=pacsv.ParseOptions(
                delimiter=",", quote_char='"', double_quote=True, newlines_in_values=True
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        message = str(exc)
        m = re.search(r"Expected (\d+) columns, got (\d+)", message)
        if m:
            raise FileRejected(
                "ragged_rows",
                f"a row has {m[2]} fields where the header has {m[1]}; every row must have as many fields as the header",
            ) from None
        raise FileRejected(
            "not_csv", f"the file cannot be read as RFC 4180 CSV ({message.splitlines()[0][:120]})"
        ) from None
    return pl.from_arrow(table)


def _read_parquet(path: Path) -> pl.DataFrame:
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileRejected(
            "not_parquet",
            f"the file cannot be read as Parquet ({str(exc).splitlines()[0][:120]}); is it truncated?",
        ) from None
    names = [normalise_column_name(n) for n in table.column_names]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise FileRejected(
            "duplicate_column", f"the file names column(s) {', '.join(duplicates)} more than once"
        )
    return pl.from_arrow(table.rename_columns(names))


def check_columns(df: pl.DataFrame, contract: Contract, fmt: str) -> list[str]:
    """Reject a file missing a required column or carrying a column of the wrong type; return extra columns."""
    missing = [c for c in contract.required_columns if c not in df.columns]
    if missing:
        raise FileRejected(
            "required_column_missing",
            f"required column(s) {', '.join(missing)} missing; the header has: {', '.join(df.columns)}",
        )
    if fmt == "parquet":
        for col in contract.columns:
            if col.name not in df.columns:
                continue
            dtype = df.schema[col.name]
            if dtype == pl.String:
                continue
            arrow_type = df[col.name].to_arrow().type
            accepted = PARQUET_TYPES.get(col.type, ())
            if not any(test(arrow_type) for test in accepted):
                raise FileRejected(
                    "column_type_invalid",
                    f"Parquet column {col.name} has type {arrow_type}; the contract expects {col.type} "
                    "(write it as a string column)",
                )
    return [c for c in df.columns if c not in contract.column_names]


def as_strings(df: pl.DataFrame) -> pl.DataFrame:
    """Typed Parquet columns as contract-formatted strings (dates YYYY-MM-DD, datetimes ISO)."""
    exprs = []
    for name, dtype in df.schema.items():
        if dtype == pl.String:
            exprs.append(pl.col(name))
        elif dtype == pl.Date:
            exprs.append(pl.col(name).dt.strftime("%Y-%m-%d"))
        elif isinstance(dtype, pl.Datetime):
            exprs.append(pl.col(name).dt.strftime("%Y-%m-%dT%H:%M:%S"))
        else:
            exprs.append(pl.col(name).cast(pl.String))
    return df.select(exprs)
