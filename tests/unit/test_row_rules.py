"""Row rules of extracts.md on literal rows: each case names the rule it must raise."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from diewell.expectations.contracts import all_contracts, load_contract
from diewell.expectations.rules import validate_rows
from diewell.transforms.nhs_number import is_valid_nhs_number, mask, modulus11_expr, number_expr
from tests.conftest import nhs

PERIOD_END = dt.date(2025, 1, 31)


def spell(**overrides) -> dict:
    row = {
        "spell_id": "S1",
        "nhs_number": nhs(0),
        "admission_date": "2025-01-10",
        "admission_method": "21",
        "discharge_date": "2025-01-12",
    }
    row.update(overrides)
    return row


def findings_for(rows: list[dict], extract: str = "apc_spells") -> list[tuple[int, str, str]]:
    raw = pl.DataFrame(rows, schema={k: pl.String for k in rows[0]})
    result = validate_rows(raw, load_contract(extract), PERIOD_END)
    assert result.rows_read == len(rows)
    assert result.rows.height + result.rows_quarantined == result.rows_read
    return [
        (r["row_number"], r["rule"], r["column"]) for r in result.findings.iter_rows(named=True)
    ]


def test_every_contract_loads_and_names_its_key_columns():
    contracts = all_contracts()
    assert len(contracts) == 17  # the twelve of v1, the four of v2 and ref_lsoa_2011 of v3
    for c in contracts:
        assert set(c.key) <= set(c.column_names), c.extract


@pytest.mark.parametrize(
    "value, valid",
    [
        ("9434765919", True),
        ("943 476 5919", True),
        ("943-476-5919", True),
        ("9434765918", False),  # wrong check digit
        ("943476591", False),  # 9 digits
        ("94347659AB", False),  # letters
        ("4010232137", True),
        ("0000000000", True),  # checksum 0: passes modulus 11
    ],
)
def test_nhs_number_modulus_11(value, valid):
    assert is_valid_nhs_number(value) is valid


def test_mask_keeps_only_last_two():
    assert mask("9434765919") == "********19"


def test_conforming_row_loads():
    assert findings_for([spell()]) == []


@pytest.mark.parametrize(
    "overrides, rule, column",
    [
        ({"nhs_number": "9434765918"}, "invalid_nhs_number", "nhs_number"),
        ({"nhs_number": ""}, "missing_required_value", "nhs_number"),
        ({"admission_date": "31/02/2025"}, "unparseable_date", "admission_date"),
        ({"admission_date": "01/13/2025"}, "unparseable_date", "admission_date"),
        (
            {"admission_date": "2025-02-01", "discharge_date": ""},
            "date_after_period_end",
            "admission_date",
        ),
        ({"admission_date": "1800-01-01"}, "date_implausibly_early", "admission_date"),
        ({"discharge_date": "2025-01-09"}, "discharge_before_admission", "discharge_date"),
        ({"admission_method": "2a"}, "value_not_allowed", "admission_method"),
        ({"admission_method": "99"}, "value_not_allowed", "admission_method"),
        ({"specialist_palliative_care": "yes"}, "value_not_allowed", "specialist_palliative_care"),
    ],
)
def test_row_rule(overrides, rule, column):
    assert findings_for([spell(**overrides)]) == [(1, rule, column)]


def test_dd_mm_yyyy_dates_are_accepted():
    assert findings_for([spell(admission_date="10/01/2025", discharge_date="12/01/2025")]) == []


def test_duplicate_keys_quarantine_every_copy():
    found = findings_for([spell(), spell(), spell(spell_id="S2")])
    assert found == [(1, "duplicate_key", "spell_id"), (2, "duplicate_key", "spell_id")]


def test_integer_rules():
    base = {"gp_practice_code": "A81001", "sex": "1", "age_band": "0-4"}
    rows = [
        {**base, "patients": "1,234"},  # thousands separator
        {**base, "age_band": "5-9", "patients": "-3"},  # negative count
        {**base, "age_band": "10-14", "patients": "120"},
    ]
    assert findings_for(rows, "gp_population") == [
        (1, "not_an_integer", "patients"),
        (2, "value_out_of_range", "patients"),
    ]


def test_spoc_nhs_number_optional_but_checked_when_present():
    base = {
        "call_id": "C1",
        "call_datetime": "2025-01-05T18:30",
        "caller_type": "carer_family",
        "outcome": "advice_only",
    }
    rows = [{**base, "nhs_number": ""}, {**base, "call_id": "C2", "nhs_number": "1234567890"}]
    assert findings_for(rows, "spoc_calls") == [(2, "invalid_nhs_number", "nhs_number")]


def test_death_location_codes_map_to_words():
    raw = pl.DataFrame(
        {
            "nhs_number": [nhs(0), nhs(1)],
            "date_of_birth": ["1940-01-01", "1930-01-01"],
            "date_of_death": ["2025-01-02", "2025-01-03"],
            "sex": ["1", "2"],
            "underlying_cause_icd10": ["C34.9", "I21"],
            "place_of_death": ["21", "41"],
            "lsoa_code": ["E01000001", "E01000002"],
        }
    )
    result = validate_rows(raw, load_contract("deaths"), PERIOD_END)
    assert result.findings.height == 0
    assert result.rows["place_of_death"].to_list() == ["home", "care_home"]


def test_quarantined_nhs_numbers_are_masked_in_findings():
    raw = pl.DataFrame([spell(nhs_number="9434765918")])
    result = validate_rows(raw, load_contract("apc_spells"), PERIOD_END)
    assert result.findings["value"].to_list() == ["********18"]


def test_vectorised_modulus_11_matches_the_rule_digit_by_digit():
    """Every check digit for a spread of 9-digit stems: the expression against the rule itself
    (weights 10 down to 2, check = 11 - sum mod 11, 11 -> 0, 10 -> no valid number)."""
    from diewell.transforms.nhs_number import normalise_expr

    def by_hand(number: str) -> bool:
        total = sum(int(d) * w for d, w in zip(number[:9], range(10, 1, -1), strict=True))
        check = 11 - total % 11
        return check != 10 and (0 if check == 11 else check) == int(number[9])

    stems = [f"{(i * 7_919_993) % 1_000_000_000:09d}" for i in range(1_500)] + ["000000000"]
    numbers = [stem + str(d) for stem in stems for d in range(10)]
    values = [*numbers, "943 476 5919", "943-476-5919", "943476591", "94347659AB", "", None]
    got = pl.DataFrame({"n": values}, schema={"n": pl.String}).select(
        valid_expr(normalise_expr("n"))
    )
    got = got.to_series()
    expected = [by_hand(n) for n in numbers] + [True, True, False, False, False, False]
    assert got.to_list() == expected
    assert 1_000 < sum(expected) < 1_501  # about one check digit per stem (none for 1 in 11)


def test_a_batch_checks_each_file_against_its_own_period_and_keys():
    """validate_batch: period ends and duplicate keys are per file; results as file by file."""
    from diewell.expectations.rules import validate_batch

    contract = load_contract("apc_spells")
    january = pl.DataFrame(
        [spell(), spell(spell_id="S2", admission_date="2025-02-15", discharge_date="")]
    )
    february = pl.DataFrame(
        [
            spell(),  # S1 again: another file, so not a duplicate
            spell(spell_id="S2", admission_date="2025-02-15", discharge_date=""),  # in period
            spell(spell_id="S3"),
            spell(spell_id="S3"),  # S3 twice in this file: both copies held back
        ]
    )
    header_only = pl.DataFrame(schema={c: pl.String for c in contract.required_columns})
    tables = [
        (january, dt.date(2025, 1, 31)),
        (february, dt.date(2025, 2, 28)),
        (header_only, dt.date(2025, 2, 28)),
    ]
    results = validate_batch(tables, contract)

    def found(r):
        return [(f["row_number"], f["rule"], f["column"]) for f in r.findings.iter_rows(named=True)]

    assert found(results[0]) == [(2, "date_after_period_end", "admission_date")]
    assert results[0].findings["message"][0] == (
        "admission_date is after the file's period end 2025-01-31"
    )
    assert results[0].rows["spell_id"].to_list() == ["S1"]
    assert found(results[1]) == [(3, "duplicate_key", "spell_id"), (4, "duplicate_key", "spell_id")]
    assert results[1].rows["spell_id"].to_list() == ["S1", "S2"]
    assert results[1].rows["admission_date"].to_list() == [
        dt.date(2025, 1, 10),
        dt.date(2025, 2, 15),
    ]
    assert (results[2].rows_read, results[2].rows.height, results[2].findings.height) == (0, 0, 0)
    for (raw, period_end), batched in zip(tables, results, strict=True):
        alone = validate_rows(raw, contract, period_end)
        assert batched.rows.equals(alone.rows)
        assert batched.findings.equals(alone.findings)
        assert batched.rows_read == alone.rows_read


def valid_expr(normalised: pl.Expr) -> pl.Expr:
    """Vectorised modulus 11 check over a normalised string column (null -> false)."""
    return modulus11_expr(number_expr(normalised))
