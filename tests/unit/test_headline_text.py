"""The demo's closing table of headline indicators (diewell.cli.headline_lines)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from diewell.cli.commands import headline_lines
from diewell.pipeline import HEADLINE_COLUMNS
from diewell.warehouse.indicators.schema import dtypes

LONG_NAME = "3 or more emergency admissions in the last 90 days of life"


def headline(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema=dtypes(*HEADLINE_COLUMNS),
        orient="row",
    )


END = dt.date(2026, 9, 30)
TABLE = headline(
    [
        ("HU01", LONG_NAME, 590, 9600, 6.14, 5.66, 6.63, "%", END),
        ("MR01", "Mortality rate", 9505, 1001815, 926.83, 908.21, 945.64, "per 100,000", END),
        ("ID03", "Median days on the register", None, 3160, 61.0, None, None, "days", END),
        ("SP02", "First contact in the last 14 days", None, None, None, None, None, "%", END),
    ]
)


def test_names_are_printed_whole_and_counts_with_thousands_separators():
    lines = headline_lines(TABLE)
    assert LONG_NAME in lines[1]
    assert "1,001,815" in lines[2] and "9,505" in lines[2]


def test_each_value_carries_its_unit_and_interval():
    hu01, mr01, id03, _ = headline_lines(TABLE)[1:]
    assert hu01.split()[-4:] == ["%", "5.7", "to", "6.6"]
    assert "926.8  per 100,000  908.2 to 945.6" in mr01
    assert id03.endswith("61.0  days")  # a median has no interval


def test_a_suppressed_row_says_so_and_shows_no_figures():
    sp02 = headline_lines(TABLE)[4]
    assert sp02.split() == ["SP02", *"First contact in the last 14 days".split(), "suppressed", "%"]


def test_columns_line_up():
    lines = headline_lines(TABLE)
    # The value column ends at the same place on every line: right-aligned numbers.
    value_ends = {
        line.index(tok) + len(tok)
        for line, tok in zip(lines, ["value", "6.1", "926.8", "61.0", "suppressed"], strict=True)
    }
    assert len(value_ends) == 1
