"""What a sender wrote, made safe for each medium (transforms/sender_text.py; extracts.md v3)."""

from __future__ import annotations

import logging

import polars as pl
import pytest

from diewell.transforms.sender_text import (
    csv_cell_expr,
    escape_controls,
    escape_controls_expr,
    for_csv_cell,
    for_html,
    mask_nhs_numbers,
    neutral,
    neutral_expr,
    sender_logger,
)

# 943 476 5919 is the NHS Data Dictionary's example; 9990000018 is in the 999 test range.
# 9990000017 fails modulus 11 and is not an NHS number, so it is left as it is.


@pytest.mark.parametrize(
    "text, expected",
    [
        ("9434765919", "********19"),
        ("943 476 5919", "**********19"),
        ("943-476-5919", "**********19"),
        ("dob 9990000018 typed here", "dob ********18 typed here"),
        ("9990000017", "9990000017"),  # not a valid number
        ("99900000189", "99900000189"),  # 11 digits: not one
        ("19990000018", "19990000018"),
        ("2024-12-01", "2024-12-01"),
        ("E01000001", "E01000001"),
        ("", ""),
    ],
)
def test_nhs_number_shapes_are_masked_to_their_last_two_digits(text, expected):
    assert mask_nhs_numbers(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("date_of_birth\x1b[31m", "date_of_birth\\x1b[31m"),
        ("note\nforged line", "note\\nforged line"),
        ("a\rb\tc", "a\\rb\\tc"),
        ("evil\u202eexe.csv", "evil\\u202eexe.csv"),  # a right-to-left override
        ("Surgery Café", "Surgery Café"),  # printable text of any script is kept
        ("St Mary’s", "St Mary’s"),
    ],
)
def test_control_characters_are_shown_escaped(text, expected):
    assert escape_controls(text) == expected


def test_neutral_masks_then_escapes_and_leaves_other_values_alone():
    assert neutral("\x1b9434765919\n") == "\\x1b********19\\n"
    assert neutral(None) is None and neutral(42) == 42


def test_html_gets_neutral_text_with_markup_escaped():
    assert for_html('<b onclick="x">9434765919</b>\x07') == (
        "&lt;b onclick=&quot;x&quot;&gt;********19&lt;/b&gt;\\x07"
    )


@pytest.mark.parametrize("first", ["=", "+", "-", "@", "\t", "\r"])
def test_a_csv_cell_a_spreadsheet_would_run_gets_a_leading_quote(first):
    assert for_csv_cell(first + "SUM(A1)") == "'" + first + "SUM(A1)"


@pytest.mark.parametrize("text", ["Bath", "0-17", "Mid=dle", " =leading space", ""])
def test_other_csv_cells_are_unchanged(text):
    assert for_csv_cell(text) == text


def test_the_column_forms_agree_with_the_value_forms():
    values = ["=1+1", "-2", "Bath", None, "9434765919\x1b", "a\nb", "12345"]
    frame = pl.DataFrame({"v": values})
    got = frame.select(
        neutral_expr(pl.col("v")),
        csv_cell_expr(pl.col("v")).alias("c"),
        escape_controls_expr(pl.col("v")).alias("e"),
    )
    assert got["v"].to_list() == [neutral(v) for v in values]
    assert got["e"].to_list() == [None if v is None else escape_controls(v) for v in values]
    assert got["c"].to_list() == [for_csv_cell(v) for v in values]


def test_a_sender_logger_writes_every_message_neutral(caplog):
    log = sender_logger("diewell.test_sender_text")
    assert sender_logger("diewell.test_sender_text") is log
    assert len(log.filters) == 1  # asked for twice, filtered once
    with caplog.at_level(logging.INFO, logger="diewell.test_sender_text"):
        log.info("%s: %d rows", "x\x1b[2J\n2024 INFO all loaded 9434765919", 3)
    [record] = caplog.records
    assert record.getMessage() == "x\\x1b[2J\\n2024 INFO all loaded ********19: 3 rows"
