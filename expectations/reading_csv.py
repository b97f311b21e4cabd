"""Reading a delivered CSV file: RFC 4180, UTF-8, with a reason for each way it can fail
(an Excel workbook, UTF-16, gzip, Parquet under a CSV name, binary data, a stray or unclosed
quote, ragged rows, CR-only line ends). Every column is read as text."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from diewell.expectations.files import (
    FileRejected,
    _too_large,
    normalise_column_name,
    open_no_follow,
)

if TYPE_CHECKING:
    pass


CSV_BLOCK_SIZE = 1 << 25  # 32 MiB: a single field may be long (1 MB) without straddling blocks


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


def safe(text: str) -> str:
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


def read_csv(path: Path, limit: int) -> pl.DataFrame:
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
            f"the header names column(s) {safe(', '.join(duplicates))} more than once "
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
            "not_csv", f"the file cannot be read as RFC 4180 CSV ({safe(message)[:120]})"
        ) from None
    return pl.from_arrow(table)
