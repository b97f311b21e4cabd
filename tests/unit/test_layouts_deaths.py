"""The built-in layout ncdr_deaths (sources.md v3), on hand-made rows.

Every expected value here is worked out by hand from sources.md: the ten place-of-death rules
with the codes at their edges, ICD-10 cleaning, the S_COD joins, the LSOA lookup, the
cancelled filter and the neonatal marker.
"""

from __future__ import annotations

import polars as pl
import pytest

from diewell.expectations.layouts import LayoutColumnMissing, apply_layout, load_layout

LAYOUT = load_layout("ncdr_deaths")
BASE = {
    "DER_PSEUDO_NHS_NUMBER": "tok-1",
    "REG_DATE_OF_DEATH": "2024-01-31",
    "DEC_SEX": "2",
    "S_UNDERLYING_COD_ICD10": "C349",
    "POD_CODE": "H",
    "LSOA_OF_RESIDENCE_CODE": "E01000001",
}


def frame(*rows: dict) -> pl.DataFrame:
    """A delivered table: every column text, names lower-cased, missing cells empty."""
    names = list(dict.fromkeys(k for row in rows for k in row))
    data = {n.lower(): [row.get(n) for row in rows] for n in names}
    return pl.DataFrame(data, schema={n: pl.String for n in data})


def deaths(*rows: dict, lookups=None):
    return apply_layout(
        frame(*({**BASE, **r} for r in rows)), LAYOUT, lookups=lookups, target_extract="deaths"
    )


def place(pod_code, nhs, type_):
    row = {"POD_CODE": pod_code, "POD_NHS_ESTABLISHMENT": nhs, "POD_ESTABLISHMENT_TYPE": type_}
    out = deaths(row)
    return out.rows["place_of_death"][0], out.warnings


# (rule, POD_CODE, NHS flag, establishment type, place): each rule's codes, at their edges.
CLASSIFIED = [
    (1, "H", None, None, "home"),
    (1, "H", "1", "01", "home"),  # H decides, whatever the establishment columns say
    (2, "E", None, None, "other"),
    (2, "E", "2", "83", "other"),  # E before the hospice rule
    *[(3, "X123", "1", t, "care_home") for t in ("02", "4", "07", "10", "21")],
    (3, "X123", "1", "007", "care_home"),  # compared as whole numbers: 007 = 7
    *[(4, "X123", "1", t, "hospital") for t in ("01", "1", "03", "18", "99")],
    *[
        (5, "X123", "2", t, "care_home")
        for t in ("03", "04", "07", "10", "14", "20", "22", "32", "33", "99")
    ],
    *[(6, "X123", "2", t, "hospital") for t in ("01", "18", "19")],
    (7, "X123", "1", "83", "hospice"),
    (7, "X123", "2", "83", "hospice"),
    (7, "X123", None, "83", "hospice"),  # whatever the NHS flag
    (7, "X123", "3", "83", "hospice"),
    *[(8, "X123", "1", t, "other") for t in ("05", "06", "08", "09", "11")],
    *[
        (9, "X123", "2", t, "other")
        for t in ("05", "08", "09", "11", "12", "13", "15", "16", "17", "23", "27", "31")
    ],
    *[(9, "X123", "2", t, "other") for t in ("34", "50", "82")],
]


@pytest.mark.parametrize(("rule", "pod", "nhs", "type_", "expected"), CLASSIFIED)
def test_place_of_death_rules_1_to_9(rule, pod, nhs, type_, expected):
    got, warnings = place(pod, nhs, type_)
    assert got == expected, f"rule {rule}"
    assert warnings.height == 0  # classified: no warning


# Rule 10: anything else is `other`, kept, with a warning counted per flag and type.
UNCLASSIFIED = [
    ("X123", "1", None, "1 / (empty)"),  # a blank type after a communal POD_CODE
    ("X123", "1", "7Q", "1 / 7Q"),  # a non-numeric type
    ("X123", None, "07", "(empty) / 07"),  # no NHS flag
    ("X123", "3", "07", "3 / 07"),  # a flag that is neither 1 nor 2
    ("X123", "1", "12", "1 / 12"),  # NHS: 12-17, 19, 20, 22 and on are in no NHS rule
    ("X123", "1", "19", "1 / 19"),
    ("X123", "1", "20", "1 / 20"),
    ("X123", "1", "22", "1 / 22"),
    ("X123", "2", "02", "2 / 02"),  # non-NHS: 2, 6 and 21 are in no non-NHS rule
    ("X123", "2", "06", "2 / 06"),
    ("X123", "2", "21", "2 / 21"),
    ("X123", "2", "84", "2 / 84"),  # past 83
    ("X123", "2", "00", "2 / 00"),
    (None, None, None, "(empty) / (empty)"),  # no POD_CODE at all
]


@pytest.mark.parametrize(("pod", "nhs", "type_", "code"), UNCLASSIFIED)
def test_place_of_death_rule_10_is_other_with_a_warning(pod, nhs, type_, code):
    got, warnings = place(pod, nhs, type_)
    assert got == "other"
    assert warnings.to_dicts() == [
        {
            "rule": "place_of_death_unclassified",
            "column": "POD_NHS_ESTABLISHMENT, POD_ESTABLISHMENT_TYPE",
            "code": code,
            "rows": 1,
        }
    ]


def test_rule_10_warnings_are_counted_per_code_and_the_deaths_kept():
    rows = [
        {"POD_CODE": "X1", "POD_NHS_ESTABLISHMENT": "1", "POD_ESTABLISHMENT_TYPE": "7Q"},
        {"POD_CODE": "X2", "POD_NHS_ESTABLISHMENT": "1", "POD_ESTABLISHMENT_TYPE": "7Q"},
        {"POD_CODE": "X3", "POD_NHS_ESTABLISHMENT": "2", "POD_ESTABLISHMENT_TYPE": "84"},
        {"POD_CODE": "H"},
    ]
    out = deaths(*rows)
    assert out.rows["place_of_death"].to_list() == ["other", "other", "other", "home"]
    assert out.findings.height == 0
    assert out.warnings.select("code", "rows").to_dicts() == [
        {"code": "1 / 7Q", "rows": 2},
        {"code": "2 / 84", "rows": 1},
    ]


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("I10X", "I10"),
        ("C349", "C34.9"),
        ("c34.9", "C34.9"),
        (" J189 ", "J18.9"),
        ("A01-", "A01"),
        ("C34", "C34"),
        ("X59X", "X59"),  # an X that is the chapter letter stays
        ("HELLO", "HELLO"),  # no ICD-10 code: left for the contract to quarantine
    ],
)
def test_underlying_cause_is_cleaned(raw, clean):
    assert deaths({"S_UNDERLYING_COD_ICD10": raw}).rows["underlying_cause_icd10"][0] == clean


def test_contributing_causes_join_the_non_empty_codes_cleaned():
    out = deaths(
        {
            "S_COD_CODE_1": "I10X",
            "S_COD_CODE_2": "",
            "S_COD_CODE_3": "C349",
            "S_COD_CODE_15": "J189",
        },
        {"S_COD_CODE_1": None},
        {"S_COD_CODE_2": "A01-"},
    )
    assert out.rows["contributing_causes_icd10"].to_list() == ["I10;C34.9;J18.9", None, "A01"]
    assert out.column_sources["contributing_causes_icd10"].startswith("S_COD_CODE_1, S_COD_CODE_2")


def test_no_contributing_cause_columns_at_all():
    assert deaths({}).rows["contributing_causes_icd10"].to_list() == [None]


def test_lsoa_2011_codes_go_through_the_lookup_where_it_lists_them():
    lookup = {"ref_lsoa_2011": {"E01000001": "E01033333"}}
    out = deaths(
        {"LSOA_OF_RESIDENCE_CODE": "E01000001"},  # listed: replaced
        {"LSOA_OF_RESIDENCE_CODE": "E01999999"},  # not listed: kept as it came
        lookups=lookup,
    )
    assert out.rows["lsoa_code"].to_list() == ["E01033333", "E01999999"]
    # Without a lookup every code passes through.
    assert deaths({"LSOA_OF_RESIDENCE_CODE": "E01000001"}).rows["lsoa_code"][0] == "E01000001"


@pytest.mark.parametrize(
    ("raw", "formed"),
    [
        ("2024-01-31", "2024-01-31"),
        ("20240131", "2024-01-31"),
        ("31/01/2024", "2024-01-31"),
        ("2024-02-30", "2024-02-30"),  # no such day: left for the contract's unparseable_date
        ("2024-1-5", "2024-1-5"),
        ("2024013", "2024013"),
    ],
)
def test_dates_in_the_three_formats(raw, formed):
    assert deaths({"REG_DATE_OF_DEATH": raw}).rows["date_of_death"][0] == formed


def test_the_columns_each_contract_column_comes_from():
    out = deaths(
        {"REG_DATE": "20240205", "DEC_DATE_OF_BIRTH": "01/02/1930", "DER_AGE_AT_DEATH": "93"}
    )
    row = out.rows.to_dicts()[0]
    assert row["nhs_number"] == "tok-1"
    assert row["sex"] == "2"
    assert (row["date_of_registration"], row["date_of_birth"], row["age_at_death"]) == (
        "2024-02-05",
        "1930-02-01",
        "93",
    )
    assert out.column_sources["age_at_death"] == "DER_AGE_AT_DEATH"
    assert out.column_sources["place_of_death"] == (
        "POD_CODE, POD_NHS_ESTABLISHMENT, POD_ESTABLISHMENT_TYPE"
    )
    assert out.column_sources["nhs_number"] == "DER_PSEUDO_NHS_NUMBER"


def test_the_person_key_is_trimmed_and_otherwise_unchanged():
    assert deaths({"DER_PSEUDO_NHS_NUMBER": "  AbC_12-x "}).rows["nhs_number"][0] == "AbC_12-x"


def test_cancelled_registrations_are_filtered():
    out = deaths({"CANCELLED_FLAG": "Y"}, {"CANCELLED_FLAG": "N"}, {"CANCELLED_FLAG": None})
    assert out.filtered.to_dicts() == [{"source_row": 1, "reason": "cancelled_registration"}]
    assert out.source_rows.to_dicts() == [
        {"row_number": 1, "source_row": 2},
        {"row_number": 2, "source_row": 3},
    ]
    assert out.filtered_by_reason() == {"cancelled_registration": 1}


def test_neonatal_deaths_are_marked():
    out = deaths({"NEO_NATE_FLAG": "Y"}, {"NEO_NATE_FLAG": "N"}, {})
    assert out.rows["neonatal"].to_list() == ["Y", None, None]
    assert out.rows.columns[-1] == "neonatal"


def test_a_missing_required_column_names_the_source_columns():
    raw = frame(BASE).drop("pod_code", "dec_sex")
    with pytest.raises(LayoutColumnMissing) as caught:
        apply_layout(raw, LAYOUT, target_extract="deaths")
    assert caught.value.columns == ("DEC_SEX", "POD_CODE")


def test_column_names_are_matched_ignoring_case():
    raw = frame(BASE).rename({"pod_code": "POD_Code", "dec_sex": "Dec_Sex"})
    assert apply_layout(raw, LAYOUT, target_extract="deaths").rows["place_of_death"][0] == "home"
