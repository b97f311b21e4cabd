"""The GX suites are the extract contracts: valid GX objects, complete, and read back exactly."""

from __future__ import annotations

import json

import great_expectations as gx
import pytest

from diewell.config import EXTRACTS
from diewell.expectations.contracts import SUITES_DIR, all_contracts, load_contract
from diewell.expectations.gx_suites import load_suite, suite_json

SUITES = sorted(p.stem for p in SUITES_DIR.glob("*.json"))
ROW_RULES = {
    "missing_required_value",
    "invalid_nhs_number",
    "unparseable_date",
    "date_after_period_end",
    "date_implausibly_early",
    "not_an_integer",
    "value_out_of_range",
    "value_not_allowed",
    "invalid_code",
    "value_too_long",
    "duplicate_key",
    "duplicate_death",
}


def test_one_suite_per_extract_of_the_contract():
    assert EXTRACTS == tuple(SUITES)  # the extracts are the suites present, in name order
    assert len(all_contracts()) == 17  # the twelve of v1, the four of v2 and ref_lsoa_2011 of v3


def test_the_suites_folder_is_the_projects_unless_diewell_suites_dir_names_another(
    monkeypatch, tmp_path
):
    from diewell.expectations import PROJECT_SUITES, SUITES_ENV, extract_names, suites_dir

    monkeypatch.delenv(SUITES_ENV, raising=False)
    assert suites_dir() == PROJECT_SUITES == SUITES_DIR
    (tmp_path / "b_extract.json").write_text("{}", encoding="utf-8")
    (tmp_path / "a_extract.json").write_text("{}", encoding="utf-8")
    (tmp_path / "notes.txt").write_text("not a suite", encoding="utf-8")
    monkeypatch.setenv(SUITES_ENV, str(tmp_path))
    assert suites_dir() == tmp_path
    assert extract_names() == ("a_extract", "b_extract")


@pytest.mark.parametrize("extract", SUITES)
def test_each_suite_file_is_a_gx_suite_and_exactly_what_its_contract_builds(extract):
    suite = load_suite(extract)
    assert isinstance(suite, gx.ExpectationSuite) and suite.name == extract
    # JSON -> Contract -> GX suite -> JSON gives the file back: nothing GX or diewell would
    # read differently can hide in a hand edit.
    assert suite_json(load_contract(extract)) == (SUITES_DIR / f"{extract}.json").read_text(
        encoding="utf-8"
    )


@pytest.mark.parametrize("extract", SUITES)
def test_every_expectation_names_its_rule_and_says_what_a_failure_means(extract):
    raw = json.loads((SUITES_DIR / f"{extract}.json").read_text(encoding="utf-8"))
    for e in raw["expectations"]:
        assert e["meta"]["rule"], e
        assert len(e["notes"]) > 40 and e["description"].startswith(f"[{e['meta']['rule']}]")
    contract = load_contract(extract)
    rules = {e["meta"]["rule"] for e in raw["expectations"]}
    assert {"required_column_missing", "duplicate_key", "volume_drop"} <= rules
    assert {r.rule for r in contract.order_rules} <= rules
    assert raw["meta"]["diewell"]["file_rules"]["too_many_rows_failing"]["max_quarantined_share"]


def test_the_suites_together_cover_every_row_rule_of_the_contract():
    rules = set()
    for extract in SUITES:
        raw = json.loads((SUITES_DIR / f"{extract}.json").read_text(encoding="utf-8"))
        rules |= {e["meta"]["rule"] for e in raw["expectations"]}
    assert ROW_RULES <= rules
    assert {"death_before_birth", "discharge_before_admission"} <= rules


def test_a_suite_with_an_unknown_column_type_is_refused(tmp_path):
    from diewell.expectations.contracts import contract_from_suite

    raw = json.loads((SUITES_DIR / "ref_lsoa.json").read_text(encoding="utf-8"))
    for e in raw["expectations"]:
        if e["meta"].get("column_type") == "lsoa":
            e["meta"]["column_type"] = "postcode"
    with pytest.raises(ValueError, match="no known type"):
        contract_from_suite(raw)


def test_a_suite_with_an_unknown_load_is_refused():
    from diewell.expectations.contracts import contract_from_suite

    raw = json.loads((SUITES_DIR / "apc_spells.json").read_text(encoding="utf-8"))
    raw["meta"]["diewell"]["load"] = "append"
    with pytest.raises(ValueError, match="load 'append' is not one of"):
        contract_from_suite(raw)


def test_a_cumulative_suite_names_the_date_that_picks_a_persons_latest_row():
    from diewell.expectations.contracts import contract_from_suite

    assert load_contract("palliative_register").latest_by == "date_added"
    assert load_contract("dementia_register").latest_by == "date_diagnosed"
    raw = json.loads((SUITES_DIR / "palliative_register.json").read_text(encoding="utf-8"))
    del raw["meta"]["diewell"]["latest_by"]
    with pytest.raises(ValueError, match="latest_by"):
        contract_from_suite(raw)
    raw["meta"]["diewell"]["latest_by"] = "ethnic_category"
    with pytest.raises(ValueError, match="not a date column"):
        contract_from_suite(raw)
