"""Delivered files: naming, reading and the file rules of extracts.md.

A file that breaks a file rule raises `FileRejected` with a rule id and a reason written for
the provider who must fix it. Nothing here logs row-level data.
"""

from __future__ import annotations

import csv
import datetime as dt
import difflib
import hashlib
import io
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from polars.exceptions import PanicException

from diewell.expectations import extract_names
from diewell.expectations.contracts import Contract, load_contract
from diewell.transforms.sender_text import neutral

if TYPE_CHECKING:
    from diewell.config import Config

EXTRACTS = extract_names()  # the extracts a file name may name: one per suite
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3  # limits.max_file_bytes: 2 GiB (extracts.md)
FILE_NAME = re.compile(
    r"^(?P<extract>[a-z_]+?)_(?P<provider>[A-Z0-9]{3,6})_(?P<period>[0-9]{8})\.(?P<format>csv|parquet)\Z"
)
NOT_READ = ""  # the checksum recorded for a file rejected before any of it was read
WAITING_SUFFIXES = (".part", ".tmp")  # files still being written: left alone
PARQUET_BATCH_ROWS = 65_536  # rows decoded at a time, so the decoded size is checked as it grows
# A period end in a file name later than this many days after the run starts, or before the
# earliest, rejects the file (period_end_implausible, extracts.md v3).
PERIOD_END_DAYS_AHEAD = 31
EARLIEST_PERIOD_END = dt.date(2000, 1, 1)
CSV_BLOCK_SIZE = 1 << 25  # 32 MiB: a single field may be long (1 MB) without straddling blocks
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


class FileRejected(Exception):
    """The whole file is rejected; `rule` is machine-readable, `reason` is for the provider.

    The reason may quote what the sender wrote (a header, a name): it is made `neutral` here,
    once, so every place it goes (the log, the reason files, landing_files, the pages) gets
    it with NHS-number shapes masked and control characters escaped."""

    def __init__(self, rule: str, reason: str):
        reason = neutral(reason)
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason

    def __reduce__(self):
        # Pickled as (rule, reason): a rejection found by a validation run in another process
        # (the refresh flow's Dask workers) travels back to the flow that loads.
        return type(self), (self.rule, self.reason)


@contextmanager
def one_file(doing: str) -> Iterator[None]:
    """The boundary around everything done to one file before it loads (reading, converting,
    validating): whatever fails inside it rejects that file (`unreadable`), never the run
    (extracts.md v3, "No delivery stops a run"). A file rule's own rejection passes as it is.

    Polars' PanicException (a Rust panic) is a BaseException; it is caught too. What the
    failure said is not repeated: reader messages quote the file's values."""
    try:
        yield
    except FileRejected:
        raise
    except (Exception, PanicException) as exc:
        raise FileRejected(
            "unreadable",
            f"the file could not be read: {doing} it failed ({type(exc).__name__}), so it "
            "cannot be loaded as it is; check that it opens in the program that wrote it, "
            "re-export it as CSV (UTF-8) or Parquet following the contract, and re-send it",
        ) from None


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
        """Reference data first (the extracts whose latest delivery replaces the whole table),
        then deliveries in period order."""
        reference_first = 0 if load_contract(self.extract).load == "snapshot_table" else 1
        return (reference_first, self.period_end, self.extract, self.provider, self.name)


def parse_file_name(path: Path, config: Config | None, today: dt.date | None = None) -> Delivery:
    """Identify a delivery by its name alone; reject names, extracts or senders the contract does not allow.

    Without a configuration (`diewell check` with no --config) the sender's registration is
    not checked: only the ICS's configuration says who may send what. `today` is the day the
    run started (by default, today): a period end more than PERIOD_END_DAYS_AHEAD days after
    it, or before EARLIEST_PERIOD_END, is a typo, not a period (extracts.md v3)."""
    m = FILE_NAME.match(path.name)
    if not m:
        shown = shown_name(path.name)
        raise FileRejected(
            "file_name_invalid",
            f"file name '{shown}' does not follow <extract>_<provider ODS code>_<YYYYMMDD>.csv "
            f"or .parquet (for example apc_spells_RD1_20250331.csv): {_name_problem(shown)}",
        )
    extract, provider, period = m["extract"], m["provider"], m["period"]
    if extract not in EXTRACTS:
        close = difflib.get_close_matches(extract, EXTRACTS, n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        raise FileRejected(
            "unknown_extract",
            f"'{extract}' is not an extract of the contract{hint}; expected one of: "
            f"{', '.join(EXTRACTS)}",
        )
    try:
        period_end = dt.datetime.strptime(period, "%Y%m%d").date()
    except ValueError:
        raise FileRejected(
            "period_invalid",
            f"the period end '{period}' in the file name is not a real date in YYYYMMDD form",
        ) from None
    implausible = period_end_implausible(period_end, today or dt.date.today())
    if implausible:
        raise implausible
    if config is not None and not config.is_registered(provider, extract):
        if config.provider(provider) is None:
            what = f"sender {provider} is not a registered provider in this ICS"
        else:
            what = f"sender {provider} is not registered to send {extract}"
        raise FileRejected(
            "provider_not_registered", f"{what}; ask the ICB to add it to the ICS configuration"
        )
    return Delivery(path, extract, provider, period_end, m["format"])


def period_end_implausible(period_end: dt.date, today: dt.date) -> FileRejected | None:
    """The rejection of a period end too far ahead of `today`, or too early, else None."""
    latest = today + dt.timedelta(days=PERIOD_END_DAYS_AHEAD)
    if EARLIEST_PERIOD_END <= period_end <= latest:
        return None
    when = "after" if period_end > latest else "before"
    bound = latest if period_end > latest else EARLIEST_PERIOD_END
    return FileRejected(
        "period_end_implausible",
        f"the period end {period_end:%Y%m%d} in the file name is {when} {bound:%Y-%m-%d} "
        f"(periods end at most {PERIOD_END_DAYS_AHEAD} days after the day the run starts, and "
        f"not before {EARLIEST_PERIOD_END:%Y-%m-%d}); it looks mistyped: rename the file with the "
        "period end it covers and re-send it",
    )


def _name_problem(name: str) -> str:
    """What is wrong with a file name that does not parse, in words for the sender."""
    stem, dot, ext = name.rpartition(".")
    if not dot:
        return "it has no .csv or .parquet extension"
    if ext.lower() in ("csv", "parquet") and ext not in ("csv", "parquet"):
        return f"the extension '.{ext}' must be lower-case (.{ext.lower()})"
    if ext not in ("csv", "parquet"):
        return f"files of type '.{ext}' are not accepted; send CSV (.csv) or Parquet (.parquet)"
    parts = stem.rsplit("_", 2)
    if len(parts) < 3:
        return "it does not have the three parts extract, provider and period end separated by '_'"
    extract, provider, period = parts
    if not re.fullmatch(r"[0-9]{8}", period):
        return f"the period end '{period}' must be 8 digits, YYYYMMDD, with no separators"
    if not re.fullmatch(r"[A-Z0-9]{3,6}", provider):
        return (
            f"the provider '{provider}' must be the sender's ODS code "
            "(3 to 6 upper-case letters or digits)"
        )
    if not re.fullmatch(r"[a-z_]+", extract):
        return f"the extract '{extract}' must be a lower-case extract name such as apc_spells"
    return "it does not match the pattern"


def discover(landing: Path) -> list[Path]:
    """Every candidate entry under the landing folder, in name order, without following links.

    Sub-folders are walked, but never a folder reached through a symbolic link: a link (to a
    file or a folder), or anything that is not a regular file, is listed so that ingest
    rejects it whole (`screen`). Hidden entries and files still being written (`*.part`,
    `*.tmp`) are left alone.
    """
    if not landing.is_dir() or landing.is_symlink():
        return []
    return sorted(_walk(landing), key=lambda p: (p.name, str(p)))


def _walk(folder: Path) -> Iterator[Path]:
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                yield from _walk(Path(entry.path))
            elif entry.is_symlink() or not entry.name.endswith(WAITING_SUFFIXES):
                yield Path(entry.path)


def shown_name(name: str) -> str:
    """A sender's file name as it may be shown in a reason or a log: bytes that are not UTF-8
    as \\xNN, then `neutral` (control characters escaped, NHS-number shapes masked), at most
    200 characters."""
    try:
        raw = os.fsencode(name)  # a name read from the file system: undecodable bytes as-is
    except UnicodeEncodeError:
        raw = name.encode("utf-8", errors="backslashreplace")
    return neutral(raw.decode("utf-8", errors="backslashreplace"))[:200]


def _is_utf8(name: str) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a byte that is not UTF-8, kept by the file system as a surrogate
        return False
    return True


def is_plain_name(name: str) -> bool:
    """True for a plain, valid UTF-8 base name: no folder, no '..', no NUL, not absolute,
    nothing unprintable. Only such a name from a sender is ever used as a path."""
    return (
        _is_utf8(name)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\x00" not in name
        and name.isprintable()
    )


def stored_name(name: str, fallback: str) -> str:
    """A name safe to create a file under: `name` if it is plain, else its letters, digits and
    '._-' (others as '_'), else `fallback`. Never a folder, never hidden."""
    if is_plain_name(name) and not name.startswith("."):
        return name
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", shown_name(name))[:120].lstrip(".")
    return cleaned or fallback


def max_file_bytes(config: Config) -> int:
    """The configured `limits.max_file_bytes` (2 GiB unless the configuration says)."""
    return config.max_file_bytes


def _too_large(size: str, limit: int) -> FileRejected:
    return FileRejected(
        "file_too_large",
        f"the file {size}, over this ICS's limit of {limit:,} bytes (limits.max_file_bytes); "
        "split the extract (for example by month) or ask the ICB to raise the limit",
    )


def screen(path: Path, limit: int = DEFAULT_MAX_FILE_BYTES) -> os.stat_result:
    """Reject, without reading it, an entry that must never be opened as a delivery.

    A name that is not valid UTF-8, a symbolic link (to a file or a folder), anything that is
    not a regular file, and a file larger than `limit`. Returns the entry's lstat.
    """
    name = path.name
    if not _is_utf8(name):
        raise FileRejected(
            "file_name_not_utf8",
            f"the file name '{shown_name(name)}' is not valid UTF-8 text; name it <extract>_<provider ODS code>_<YYYYMMDD>.csv or .parquet "
            "in plain letters and digits (for example apc_spells_RD1_20250331.csv)",
        )
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        linked_folder = path.is_dir()
        raise FileRejected(
            "folder_link" if linked_folder else "symbolic_link",
            f"'{shown_name(name)}' is a symbolic link"
            + (" to a folder" if linked_folder else "")
            + ", not a delivered file; links are never followed: put the file itself in the "
            "landing folder",
        )
    if not stat.S_ISREG(info.st_mode):
        raise FileRejected(
            "not_a_regular_file",
            f"'{shown_name(name)}' is not a regular file (a pipe, socket or device); "
            "put the file itself in the landing folder",
        )
    if info.st_size > limit:
        raise _too_large(f"is {info.st_size:,} bytes", limit)
    return info


def open_no_follow(path: Path):
    """The file opened for reading in binary, refusing a symbolic link or a non-regular file."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise FileRejected("not_a_regular_file", "the entry is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open_no_follow(path) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def normalise_column_name(name: str) -> str:
    return name.strip().lower()


@dataclass
class Read:
    """A delivered file as read: the contract's columns, every value as text."""

    rows: pl.DataFrame  # the contract's columns the file has (names normalised), as strings
    columns: list[str]  # every column the file names, normalised (sender text made neutral)
    extra: list[str]  # the columns the contract does not name: ignored, and reported


def read_delivery(delivery: Delivery, limit: int = DEFAULT_MAX_FILE_BYTES) -> Read:
    """Read a delivered file's contract columns as a table of strings.

    A file over `limit` bytes (for Parquet: decoded) is rejected before it is read whole.
    A required column missing, or a Parquet contract column of a type the contract cannot
    take, rejects the file; only the columns the contract names are converted (extra ones,
    of any type, are named and ignored: extracts.md v3)."""
    if screen(delivery.path, limit).st_size == 0:
        raise FileRejected(
            "empty_file",
            "the file is zero bytes; send a header-only file for 'nothing this period'",
        )
    contract = load_contract(delivery.extract)
    if delivery.format == "parquet":
        table, names = _read_parquet(delivery.path, limit, contract.column_names)
        _check_required(names, contract)
        _check_parquet_types(table, contract)
        rows = as_strings(pl.from_arrow(table))
    else:
        frame = _read_csv(delivery.path, limit)
        names = frame.columns
        _check_required(names, contract)
        rows = frame.select(c for c in names if c in contract.column_names)
    extra = [neutral(c) for c in names if c not in contract.column_names]
    return Read(rows, [neutral(c) for c in names], extra)


def _sniff_csv_problem(head: bytes) -> FileRejected | None:
    if head.startswith(b"PK\x03\x04") or head.startswith(b"\xd0\xcf\x11\xe0"):
        return FileRejected(
            "not_csv", "the file is an Excel workbook renamed .csv; export it as CSV (UTF-8)"
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return FileRejected(
            "encoding_not_utf8", "the file is encoded as UTF-16; re-export it as UTF-8"
        )
    if head.startswith(b"\x1f\x8b"):
        return FileRejected(
            "not_csv", "the file is gzip-compressed; send the CSV file itself, uncompressed"
        )
    if head.startswith(b"PAR1"):
        return FileRejected(
            "not_csv", "the file is Parquet, not CSV; send it with the extension .parquet"
        )
    if b"\x00" in head:
        if _looks_utf16(head):
            return FileRejected(
                "encoding_not_utf8",
                "the file is encoded as UTF-16 (without a byte order mark); re-export it as UTF-8",
            )
        return FileRejected("not_csv", "the file holds binary data, not comma-separated text")
    return None


def _looks_utf16(head: bytes) -> bool:
    """Mostly-ASCII text in UTF-16 has a zero byte in every other position, and only there."""
    even, odd = head[0::2], head[1::2]
    if len(odd) < 4:
        return False
    for zeros, text in ((even, odd), (odd, even)):
        if zeros.count(0) >= 0.8 * len(zeros) and text.count(0) <= 0.1 * len(text):
            return True
    return False


def _not_utf8(data: bytes, exc: UnicodeDecodeError) -> FileRejected:
    byte = data[exc.start : exc.start + 1]
    line = data[: exc.start].count(b"\n") + 1
    char = byte.decode("cp1252", errors="ignore") or byte.decode("latin-1")
    shown = f", which is '{char}' in Latin-1/Windows-1252" if char.isprintable() else ""
    return FileRejected(
        "encoding_not_utf8",
        f"the file is not valid UTF-8: byte 0x{byte[0]:02X} on line {line}{shown}; "
        "the file was probably saved as Latin-1/Windows-1252; re-export it as UTF-8",
    )


_DIGIT_RUN = re.compile(r"[0-9][0-9 \-]{4,}[0-9]")


def _safe(text: str) -> str:
    """Text from a file (header names, parser messages) with digit runs hidden: it may hold data."""
    return _DIGIT_RUN.sub("<digits>", text)


# One RFC 4180 field: quoted (quotes inside doubled) or unquoted (no quotes, commas or newlines).
_QUOTED_FIELD = re.compile(r'"[^"]*(?:""[^"]*)*"')
_UNQUOTED_FIELD = re.compile(r'[^,"\r\n]*')
# A quote with an ordinary character on each side never occurs in RFC 4180 CSV: inside a quoted
# field every quote is doubled, and an opening or closing quote touches a comma or line end.
# Found with bytes.translate and bytes.find (C speed; a regular expression over a whole file
# costs more than reading it): commas and line ends become ',', quotes stay, the rest 'a'.
_QUOTE_CONTEXT = bytes(b if b in b',"' else (b"," if b in b"\r\n" else b"a")[0] for b in range(256))


def _has_stray_quote(data: bytes, start: int) -> bool:
    """True when a quote in data[start:] has an ordinary character on each side."""
    return data.find(b'"', start) != -1 and data.translate(_QUOTE_CONTEXT).find(b'a"a', start) != -1


def _scan_csv(text: str, pos: int, header_fields: int) -> FileRejected | None:
    """Walk the records after the header (from `pos`) and return the first structural problem.

    Pure Python, so only called when a file has already failed a cheaper check; it names the
    data row and the line so that the sender can find the problem.
    """
    end, line, row = len(text), 2, 0
    while pos < end:
        if text[pos] in "\r\n":  # a blank line is skipped, as the reader does
            line += text[pos] == "\n"
            pos += 1
            continue
        row += 1
        row_line, fields = line, 0
        while True:
            fields += 1
            if pos < end and text[pos] == '"':
                m = _QUOTED_FIELD.match(text, pos)
                if m is None:
                    return FileRejected(
                        "unterminated_quote",
                        f"data row {row} (line {line}): a quoted field opens but is never closed; "
                        "a value in quotes must end with a closing '\"' (a quote inside a value "
                        'is written twice: "")',
                    )
                line += m.group().count("\n")
                pos = m.end()
                if pos < end and text[pos] not in ",\r\n":
                    return FileRejected(
                        "not_csv",
                        f"data row {row} (line {line}): characters follow the closing quote of a "
                        "quoted field before the next comma; quote the whole value, with any quote "
                        'inside it written twice ("")',
                    )
            else:
                pos = _UNQUOTED_FIELD.match(text, pos).end()
                if pos < end and text[pos] == '"':
                    return FileRejected(
                        "not_csv",
                        f"data row {row} (line {line}): a double quote inside a value that is not "
                        'quoted; RFC 4180 requires such a value in quotes, with the quote written twice ("")',
                    )
            if pos >= end:
                break
            if text[pos] == ",":
                pos += 1
                continue
            pos += 2 if text.startswith("\r\n", pos) else 1
            line += 1
            break
        if fields != header_fields:
            return FileRejected(
                "ragged_rows",
                f"data row {row} (line {row_line}) has {fields} fields where the header has "
                f"{header_fields}; every row must have as many fields as the header (a value "
                "holding a comma must be in quotes)",
            )
    return None


def _read_csv(path: Path, limit: int) -> pl.DataFrame:
    with open_no_follow(path) as f:
        data = f.read(limit + 1)  # plain text: the file's size is its decoded size
    if len(data) > limit:
        raise _too_large("is larger", limit)
    problem = _sniff_csv_problem(data[:4096])
    if problem:
        raise problem
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(data, exc) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    first_line, newline, _ = text.partition("\n")
    if not first_line.strip():
        raise FileRejected(
            "required_column_missing",
            "the first line of the file is empty; the first line must be the header row naming "
            "the columns",
        )
    if "\r" in first_line.rstrip("\r") and "\n" not in text:
        raise FileRejected(
            "unreadable",
            "the file's lines end in a carriage return alone (CR, as classic Mac OS wrote "
            "them), so its rows cannot be told apart; re-export it as CSV (UTF-8) with LF or "
            "CRLF line endings",
        )
    try:
        header = next(csv.reader([first_line.rstrip("\r")]), [])
    except csv.Error:
        raise FileRejected(
            "unreadable",
            "the header row cannot be read as CSV (it holds a line break or quote that does "
            "not follow RFC 4180); re-export the file as CSV (UTF-8)",
        ) from None
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
            "duplicate_column",
            f"the header names column(s) {_safe(', '.join(duplicates))} more than once "
            "(column names are compared ignoring case and surrounding spaces)",
        )
    body_start = len(first_line) + len(newline)
    body_start_byte = data.find(b"\n") + 1 if newline else len(data)  # "\n" is one byte in UTF-8
    if data.count(b'"', body_start_byte) % 2 or _has_stray_quote(data, body_start_byte):
        problem = _scan_csv(text, body_start, len(header))
        if problem:
            raise problem
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
        found = _scan_csv(text, body_start, len(header))
        if found:
            raise found from None
        message = re.sub(r":\s.*", "", str(exc).splitlines()[0])  # the parser quotes row data
        raise FileRejected(
            "not_csv", f"the file cannot be read as RFC 4180 CSV ({_safe(message)[:120]})"
        ) from None
    return pl.from_arrow(table)


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
                    f"the file names column(s) {_safe(', '.join(duplicates))} more than once "
                    "(column names are compared ignoring case and surrounding spaces)",
                )
            keep = [o for o, n in zip(originals, names, strict=True) if n in wanted]
            table = _read_parquet_within(parquet, keep, limit)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError) as exc:
            raise FileRejected(
                "not_parquet",
                f"the file cannot be read as Parquet ({_safe(str(exc).splitlines()[0])[:120]}); "
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


def _missing_column_hint(missing: list[str], columns: list[str], contract: Contract) -> str:
    """Point at header names that are near misses for the missing columns, or at a missing header."""
    squashed = {re.sub(r"[\s\-]+", "_", c): c for c in columns}
    near = [f"'{squashed[m]}' should be named {m}" for m in missing if m in squashed]
    if near:
        return "; " + "; ".join(near)
    if columns and not set(columns) & set(contract.column_names):
        return "; the first line names no column of the contract: is the header row missing?"
    return ""


def _check_required(columns: list[str], contract: Contract) -> None:
    """Reject a file missing a column the contract requires."""
    missing = [c for c in contract.required_columns if c not in columns]
    if missing:
        raise FileRejected(
            "required_column_missing",
            f"required column(s) {', '.join(missing)} missing; the header has: "
            f"{_safe(', '.join(columns))}{_missing_column_hint(missing, columns, contract)}",
        )


def _is_text(arrow_type: pa.DataType) -> bool:
    return (
        pa.types.is_string(arrow_type)
        or pa.types.is_large_string(arrow_type)
        or pa.types.is_null(arrow_type)  # an all-empty column carries no type
        or getattr(pa.types, "is_string_view", lambda _: False)(arrow_type)
    )


def _check_parquet_types(table: pa.Table, contract: Contract) -> None:
    """Reject a Parquet file whose contract column has a type its contract type cannot take."""
    for field in table.schema:
        col = contract.column(field.name)
        accepted = PARQUET_TYPES.get(col.type, ())
        if not _is_text(field.type) and not any(test(field.type) for test in accepted):
            raise FileRejected(
                "column_type_invalid",
                f"Parquet column {col.name} has type {field.type}; the contract expects "
                f"{PARQUET_TYPE_WORDS.get(col.type, 'a string')}; re-export it with that type",
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
