"""What a sender wrote, made safe for each medium diewell repeats it in (extracts.md v3).

File names, column names and values come from senders and are data, never markup or
control. Every writer takes them through one function here for its medium:

| medium | function | what it does |
|---|---|---|
| logs, reason files, quarantined values, artifacts | `neutral` (`neutral_expr` on a column) | NHS-number shapes masked, control characters shown escaped |
| a loaded text value (a name, an identifier) | `escape_controls` (`escape_controls_expr`) | control characters shown escaped; an identifier may be any ten digits, so it is not masked |
| HTML pages | `for_html` | `neutral`, then `&`, `<`, `>` and quotes escaped |
| a text cell of a published CSV | `for_csv_cell` | a leading `'` before `=`, `+`, `-`, `@`, a tab or a carriage return |

Loggers are made by `sender_logger`, whose filter passes every message through `neutral`,
so a log line can neither colour a terminal nor start a forged line, whatever its arguments
hold (tests/unit/test_import_boundaries.py refuses a logger made any other way).

An NHS-number shape is ten digits, with or without a space or hyphen between any two, that
pass the modulus 11 check; it is masked to its last two digits, as quarantine shows an NHS
number. Pure: no part of the project but transforms.
"""

from __future__ import annotations

import html
import logging
import re

import polars as pl

from diewell.transforms.nhs_number import is_valid_nhs_number, mask

# Ten digits, a single space or hyphen allowed between any two, not inside a longer digit run.
NHS_NUMBER_SHAPE = re.compile(r"(?<![0-9])[0-9](?:[ \-]?[0-9]){9}(?![0-9])")
# A character that is not printable: C0 and C1 controls, DEL, line and paragraph separators,
# format characters (bidirectional overrides among them) and the like.
_NOT_PRINTABLE = re.compile(r"[^\x20-\x7e]")  # fast pre-filter; the exact test is isprintable
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def mask_nhs_numbers(text: str) -> str:
    """`text` with every NHS-number shape masked to its last two digits."""
    return NHS_NUMBER_SHAPE.sub(
        lambda m: mask(m.group()) if is_valid_nhs_number(m.group()) else m.group(), text
    )


def escape_controls(text: str) -> str:
    """`text` with every character that is not printable shown as its escape (`\\x1b`, `\\n`,
    `\\u202e`); printable text, any script, is kept as it is."""
    if not _NOT_PRINTABLE.search(text):
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def neutral(value: object) -> object:
    """A sender's text as diewell may store or show it (NHS-number shapes masked, control
    characters escaped); anything that is not text (numbers, None) as it is."""
    if not isinstance(value, str):
        return value
    return escape_controls(mask_nhs_numbers(value))


def for_html(value: object) -> object:
    """A sender's text for an HTML page: `neutral`, then HTML-escaped (quotes too)."""
    text = neutral(value)
    return html.escape(text, quote=True) if isinstance(text, str) else text


def for_csv_cell(value: object) -> object:
    """A text cell of a published CSV that a spreadsheet would run as a formula, with a
    leading `'` (OWASP's advice for CSV injection); other text and non-text as it is."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


# A value needs the Python path only if it could hold an NHS number or an unprintable character.
_NEEDS_WORK = r"[0-9][0-9 \-]{8,18}[0-9]|[^\x20-\x7e]"


def neutral_expr(expr: pl.Expr) -> pl.Expr:
    """`neutral` over a string column: rows that cannot hold anything to neutralise are kept
    as they are without leaving Polars."""
    return (
        pl.when(expr.str.contains(_NEEDS_WORK).fill_null(False))
        .then(expr.map_elements(neutral, return_dtype=pl.String, skip_nulls=True))
        .otherwise(expr)
    )


def escape_controls_expr(expr: pl.Expr) -> pl.Expr:
    """`escape_controls` over a string column (rows of printable ASCII stay in Polars)."""
    return (
        pl.when(expr.str.contains(r"[^\x20-\x7e]").fill_null(False))
        .then(expr.map_elements(escape_controls, return_dtype=pl.String, skip_nulls=True))
        .otherwise(expr)
    )


def csv_cell_expr(expr: pl.Expr) -> pl.Expr:
    """`for_csv_cell` over a string column."""
    return expr.str.replace(r"^([=+\-@\t\r])", "'${1}")


class _NeutralMessages(logging.Filter):
    """Formats each record's message with its arguments, then neutralises it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        record.msg, record.args = neutral(message), None
        return True


_FILTER = _NeutralMessages()


def sender_logger(name: str) -> logging.Logger:
    """The logger `name` (diewell's own), with every message neutralised before any handler
    sees it. Every module of the project makes its logger here."""
    made = logging.getLogger(name)
    if _FILTER not in made.filters:
        made.addFilter(_FILTER)
    return made
