"""The rules v3 added to the deaths contract and to person keys (extracts.md v3, sources.md v3),
on literal rows whose outcomes are worked by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from diewell.expectations.contracts import load_contract
from diewell.expectations.files import FileRejected, parse_file_name
from diewell.expectations.reading import read_delivery
from diewell.expectations.rules import validate_rows
from tests.conftest import nhs

PERIOD_END = dt.date(2024, 3, 31)


def death(**overrides) -> dict:
    row = {
        "nhs_number": nhs(0),
        "date_of_birth": "1950-03-10",
        "age_at_death": None,
        "date_of_death": "2024-03-09",
        "sex": "2",
        "underlying_cause_icd10": "C34.9",
        "place_of_death": "home",
        "lsoa_code": "E01000001",
    }
    row.update(overrides)
    return row


def findings(rows: list[dict], person_key: str = "nhs_number") -> list[tuple[int, str, str]]:
    raw = pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})
    result = validate_rows(raw, load_contract("deaths"), PERIOD_END, person_key)
    return sorted(
        (r["row_number"], r["rule"], r["column"]) for r in result.findings.iter_rows(named=True)
    )


# 1950-03-10 to 2024-03-09 is 73 completed years (the 74th birthday is the day after);
# to 2024-03-10 it is 74 (the birthday itself counts).
@pytest.mark.parametrize(
    "dob, dod, age, problem",
    [
        ("1950-03-10", "2024-03-09", "73", None),
        ("1950-03-10", "2024-03-09", "74", "age_inconsistent"),
        ("1950-03-10", "2024-03-10", "74", None),
        ("1950-03-10", "2024-03-10", "73", "age_inconsistent"),
        ("1952-02-29", "2024-02-28", "71", None),  # a leap-day birthday not yet reached
        ("1952-02-29", "2024-02-29", "72", None),
        (None, "2024-03-09", "73", None),  # an age alone (a national feed): kept
        ("1950-03-10", "2024-03-09", None, None),  # a date of birth alone: kept
        (None, "2024-03-09", None, "required_missing"),  # neither
    ],
)
def test_a_death_needs_a_date_of_birth_or_an_age_and_with_both_they_agree(dob, dod, age, problem):
    got = findings([death(date_of_birth=dob, date_of_death=dod, age_at_death=age)])
    column = {"age_inconsistent": "age_at_death", "required_missing": "date_of_birth"}
    assert got == ([] if problem is None else [(1, problem, column[problem])])


def test_an_implausible_date_of_birth_has_its_own_finding_and_no_age_finding():
    got = findings([death(date_of_birth="1880-01-01", age_at_death="73")])
    assert got == [(1, "date_implausibly_early", "date_of_birth")]


def test_a_death_before_the_birth_has_its_own_finding_and_no_age_finding():
    # found by the row rules' property test: the age from dates out of order means nothing
    got = findings(
        [death(date_of_birth="2024-03-10", date_of_death="2024-03-09", age_at_death="0")]
    )
    assert got == [(1, "death_before_birth", "date_of_death")]


def test_an_age_out_of_range_has_its_own_finding_and_no_age_finding():
    # 73 completed years by the dates, 126 given: only the range is reported
    got = findings(
        [death(date_of_birth="1950-03-10", date_of_death="2024-03-09", age_at_death="126")]
    )
    assert got == [(1, "value_out_of_range", "age_at_death")]


@pytest.mark.parametrize(
    "age, problem",
    [("0", None), ("125", None), ("126", "value_out_of_range"), ("-1", "value_out_of_range")],
)
def test_age_at_death_is_0_to_125(age, problem):
    got = findings([death(date_of_birth=None, age_at_death=age)])
    assert [r for _, r, _ in got] == ([] if problem is None else [problem])


@pytest.mark.parametrize(
    "marker, problem",
    [("Y", None), ("N", None), ("y", "value_not_allowed"), ("X", "value_not_allowed")],
)
def test_the_neonatal_marker_is_y_or_n(marker, problem):
    got = findings([death(date_of_birth=None, age_at_death="0", neonatal=marker)])
    assert [r for _, r, _ in got] == ([] if problem is None else [problem])


@pytest.mark.parametrize(
    "key, ok",
    [
        ("AbC123_-xyz", True),
        ("A" * 64, True),
        ("A" * 65, False),
        ("has space", False),
        ("semi;colon", False),
        ("é", False),
    ],
)
def test_a_pseudonymised_person_key_is_1_to_64_safe_characters(key, ok):
    got = findings([death(nhs_number=key)], person_key="pseudonymised")
    assert got == ([] if ok else [(1, "invalid_person_key", "nhs_number")])


def test_a_pseudonym_is_not_an_nhs_number_and_an_nhs_number_key_refuses_it():
    assert findings([death(nhs_number="AbC123")]) == [(1, "invalid_nhs_number", "nhs_number")]


def test_a_deaths_file_with_neither_date_of_birth_nor_age_column_is_rejected(tmp_path):
    path = tmp_path / "deaths_QSY_20240331.csv"
    path.write_text(
        "nhs_number,date_of_death,sex,underlying_cause_icd10,place_of_death,lsoa_code\n"
        f"{nhs(0)},2024-03-09,F,C349,home,E01000001\n",
        encoding="utf-8",
    )
    with pytest.raises(FileRejected) as raised:
        read_delivery(parse_file_name(path, None, today=dt.date(2024, 4, 2)))
    assert raised.value.rule == "required_column_missing"
    assert "date_of_birth or age_at_death" in raised.value.reason


def test_an_extract_name_with_digits_parses(tmp_path):
    """ref_lsoa_2011 (extracts.md v3) is the first extract whose name holds digits."""
    path = tmp_path / "ref_lsoa_2011_QSY_20260930.csv"
    path.write_text("lsoa11_code,lsoa21_code\nE01000001,E01000001\n", encoding="utf-8")
    delivery = parse_file_name(path, None, today=dt.date(2026, 10, 1))
    assert (delivery.extract, delivery.provider) == ("ref_lsoa_2011", "QSY")
