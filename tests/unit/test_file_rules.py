"""File rules of extracts.md: each broken delivery must be rejected with its specific rule."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from diewell.config import load_config
from diewell.expectations.contracts import load_contract
from diewell.expectations.files import (
    EARLIEST_PERIOD_END,
    PERIOD_END_DAYS_AHEAD,
    FileRejected,
    parse_file_name,
)
from diewell.expectations.reading import read_delivery
from tests.conftest import TinyIcs, nhs

HEADER = "attendance_id,nhs_number,arrival_datetime,department_type\n"
ROW = f"A1,{nhs(0)},2025-01-05T10:00,01\n"


@pytest.fixture
def ics(tmp_path) -> TinyIcs:
    return TinyIcs(
        tmp_path,
        providers=[{"code": "RX1", "name": "Trust", "extracts": ["ae_attendances"]}],
    )


def write(ics: TinyIcs, name: str, content: bytes) -> Path:
    path = ics.root / "landing" / name
    path.write_bytes(content)
    return path


def read(ics: TinyIcs, name: str, content: bytes):
    config = load_config(ics.config_path)
    delivery = parse_file_name(write(ics, name, content), config)
    read = read_delivery(delivery)
    return read.rows, read.extra


OK_NAME = "ae_attendances_RX1_20250131.csv"


@pytest.mark.parametrize(
    "name, rule",
    [
        ("ae_attendances_RX1_2025-01-31.csv", "file_name_invalid"),
        ("ae_attendances_rx1_20250131.csv", "file_name_invalid"),
        ("ae_attendances_RX1_20250131.xlsx", "file_name_invalid"),
        ("attendances_RX1_20250131.csv", "unknown_extract"),
        ("ae_attendances_RX1_20250231.csv", "period_invalid"),
        ("ae_attendances_RX2_20250131.csv", "provider_not_registered"),
        ("apc_spells_RX1_20250131.csv", "provider_not_registered"),
    ],
)
def test_name_rules(ics, name, rule):
    with pytest.raises(FileRejected) as exc:
        parse_file_name(write(ics, name, (HEADER + ROW).encode()), load_config(ics.config_path))
    assert exc.value.rule == rule


@pytest.mark.parametrize(
    "content, rule",
    [
        (b"", "empty_file"),
        ((HEADER + ROW).encode("utf-16"), "encoding_not_utf8"),
        ((HEADER + "A1,x,2025-01-05T10:00,caf\xe9\n").encode("latin-1"), "encoding_not_utf8"),
        ((HEADER + ROW).replace(",", ";").encode(), "wrong_delimiter"),
        ((HEADER + ROW).replace(",", "\t").encode(), "wrong_delimiter"),
        ((HEADER + ROW + "A2,1\n").encode(), "ragged_rows"),
        ((HEADER + ROW + 'A2,"unterminated\n').encode(), "unterminated_quote"),
        (b"attendance_id,arrival_datetime\nA1,2025-01-05T10:00\n", "required_column_missing"),
        (b"attendance_id,nhs_number,NHS_Number,arrival_datetime\n", "duplicate_column"),
        (b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 100, "not_csv"),
    ],
)
def test_content_rules(ics, content, rule):
    with pytest.raises(FileRejected) as exc:
        read(ics, OK_NAME, content)
    assert exc.value.rule == rule
    assert exc.value.reason  # a sentence for the provider


@pytest.mark.parametrize(
    "period_end, accepted",
    [
        ("20270107", True),  # 31 days after the run's day, 2026-12-07
        ("20270108", False),  # 32 days after
        ("20521231", False),  # a typo for 20251231
        ("99991231", False),  # once a crash in building the periods (year 10000)
        ("20000101", True),
        ("19991231", False),
    ],
)
def test_a_period_end_far_ahead_of_the_run_or_before_2000_is_implausible(ics, period_end, accepted):
    today = dt.date(2026, 12, 7)
    path = write(ics, f"ae_attendances_RX1_{period_end}.csv", HEADER.encode())
    config = load_config(ics.config_path)
    assert (PERIOD_END_DAYS_AHEAD, EARLIEST_PERIOD_END) == (31, dt.date(2000, 1, 1))
    if accepted:
        assert parse_file_name(path, config, today).period_end.strftime("%Y%m%d") == period_end
        return
    with pytest.raises(FileRejected) as exc:
        parse_file_name(path, config, today)
    assert exc.value.rule == "period_end_implausible"
    assert f"the period end {period_end} in the file name is" in exc.value.reason


def test_bom_is_tolerated(ics):
    df, extra = read(ics, OK_NAME, b"\xef\xbb\xbf" + (HEADER + ROW).encode())
    assert df.columns[0] == "attendance_id" and extra == []


def test_column_names_match_case_insensitively_after_trimming(ics):
    header = " Attendance_ID ,NHS_NUMBER,Arrival_DateTime ,department_type\n"
    df, _ = read(ics, OK_NAME, (header + ROW).encode())
    assert df.columns == ["attendance_id", "nhs_number", "arrival_datetime", "department_type"]


def test_extra_column_is_reported_not_fatal(ics):
    df, extra = read(
        ics, OK_NAME, (HEADER.strip() + ",notes\n" + ROW.strip() + ",hello\n").encode()
    )
    assert extra == ["notes"]


def test_header_only_file_is_valid(ics):
    df, _ = read(ics, OK_NAME, HEADER.encode())
    assert df.height == 0


def test_long_field_does_not_break_reading(ics):
    long_id = "X" * 1_000_000
    df, _ = read(ics, OK_NAME, (HEADER + f"{long_id},{nhs(0)},2025-01-05T10:00,01\n").encode())
    assert df["attendance_id"].str.len_chars().to_list() == [1_000_000]


@pytest.mark.parametrize(
    "rows, previous, truncated",
    [
        (1, 49, False),  # after fewer than 50 rows the rule does not apply (a quiet month)
        (1, 50, True),  # from 50 it does: 1 is under 20% of 50
        (9, 50, True),
        (10, 50, False),  # exactly 20% is not under it
        (0, 500, False),  # header-only: "nothing this period"
        (5, None, False),  # no previous delivery
    ],
)
def test_the_volume_rule_applies_after_a_delivery_of_50_rows(rows, previous, truncated):
    assert load_contract("ae_attendances").looks_truncated(rows, previous) is truncated
