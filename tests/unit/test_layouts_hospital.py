"""The built-in layouts ncdr_apc_episodes and ncdr_ecds (sources.md v3), on hand-made rows."""

from __future__ import annotations

import polars as pl
import pytest

from diewell.expectations.layouts import apply_layout, load_layout

APC = load_layout("ncdr_apc_episodes")
ECDS = load_layout("ncdr_ecds")


def frame(*rows: dict) -> pl.DataFrame:
    names = list(dict.fromkeys(k for row in rows for k in row))
    data = {n.lower(): [row.get(n) for row in rows] for n in names}
    return pl.DataFrame(data, schema={n: pl.String for n in data})


def episode(spell, number, **fields) -> dict:
    return {
        "APCS_Ident": spell,
        "Der_Pseudo_NHS_Number": "p1",
        "Episode_Number": number,
        "Admission_Date": "2024-01-01",
        "Admission_Method": "21",
        **fields,
    }


def spells(*rows: dict):
    return apply_layout(frame(*rows), APC, target_extract="apc_spells")


def accounted(out) -> list[int]:
    every = [*out.source_rows["source_row"], *out.filtered["source_row"]]
    every += out.findings["source_row"].unique().to_list()
    return sorted(every)


def test_episodes_form_one_spell_first_and_last_episode_fields():
    out = spells(
        episode(
            "S1",
            "03",
            Discharge_Date="2024-01-20",
            Discharge_Destination="54",
            Der_Primary_Diagnosis_Code="J189",
            Admission_Method="99",
        ),
        episode(
            "S1",
            "01",
            Discharge_Date="2024-01-05",
            Discharge_Destination="51",
            Der_Primary_Diagnosis_Code="C349",
        ),
        episode(
            "S1",
            "02",
            Discharge_Date="2024-01-10",
            Discharge_Destination="51",
            Treatment_Function_Code="315",
        ),
    )
    assert out.rows.to_dicts() == [
        {
            "row_number": 1,
            "spell_id": "S1",
            "nhs_number": "p1",
            "admission_date": "2024-01-01",
            "admission_method": "21",  # episode 01's
            "discharge_date": "2024-01-20",  # episode 03's
            "discharge_destination": "54",
            "primary_diagnosis_icd10": "C34.9",  # episode 01's, cleaned
            "specialist_palliative_care": "Y",  # episode 02's treatment function
        }
    ]
    assert sorted(out.source_rows["source_row"]) == [1, 2, 3]
    assert set(out.source_rows["row_number"]) == {1}


def test_episode_numbers_are_ordered_as_numbers():
    out = spells(
        episode("S1", "10", Discharge_Destination="19"),
        episode("S1", "9", Discharge_Destination="54"),
        episode("S1", "1", Discharge_Destination="51"),
    )
    assert out.rows["discharge_destination"].to_list() == ["19"]  # 10 comes after 9


@pytest.mark.parametrize(
    ("tfc", "specialty", "expected"),
    [
        ("315", None, "Y"),
        (None, "315", "Y"),
        ("300", "300", "N"),
        (None, None, "N"),
        ("3150", None, "N"),
    ],
)
def test_specialist_palliative_care_from_either_column(tfc, specialty, expected):
    out = spells(
        episode("S1", "01", Treatment_Function_Code="100"),
        episode("S1", "02", Treatment_Function_Code=tfc, Main_Specialty_Code=specialty),
    )
    assert out.rows["specialist_palliative_care"].to_list() == [expected]
    assert out.column_sources["specialist_palliative_care"] == (
        "Treatment_Function_Code, Main_Specialty_Code"
    )


def test_died_with_no_destination_is_destination_79():
    out = spells(
        episode("S1", "01", Discharge_Method="4"),  # died, no destination: 79
        episode("S2", "01", Discharge_Method="4", Discharge_Destination="19"),  # one given: kept
        episode("S3", "01", Discharge_Method="1"),  # not died: empty
        # The last episode decides: a died method on an earlier episode does not count.
        episode("S4", "01", Discharge_Method="4"),
        episode("S4", "02", Discharge_Method="1"),
    )
    assert out.rows["discharge_destination"].to_list() == ["79", "19", None, None]


def test_episodes_that_disagree_on_the_person_quarantine_every_episode():
    out = spells(
        episode("S1", "01"),
        episode("S1", "02", Der_Pseudo_NHS_Number="p2"),
        episode("S2", "01"),
    )
    assert out.rows["spell_id"].to_list() == ["S2"]
    assert out.findings.select("source_row", "rule", "column", "value").to_dicts() == [
        {
            "source_row": 1,
            "rule": "spell_episodes_disagree",
            "column": "Der_Pseudo_NHS_Number",
            "value": "p1",
        },
        {
            "source_row": 2,
            "rule": "spell_episodes_disagree",
            "column": "Der_Pseudo_NHS_Number",
            "value": "p2",
        },
    ]
    assert out.findings["message"][0] == (
        "the source rows of APCS_Ident 'S1' disagree on Der_Pseudo_NHS_Number ('p1', 'p2'): "
        "every source row of it is held back"
    )
    assert accounted(out) == [1, 2, 3]


def test_episodes_that_disagree_on_the_admission_date_quarantine_the_spell():
    out = spells(
        episode("S1", "01", Admission_Date="2024-01-01"),
        episode("S1", "02", Admission_Date="2024-01-02"),
        episode("S2", "01", Admission_Date="20240101"),  # the same day written two ways agrees
        episode("S2", "02", Admission_Date="2024-01-01"),
    )
    assert out.rows["spell_id"].to_list() == ["S2"]
    assert set(out.findings["source_row"]) == {1, 2}
    assert set(out.findings["column"]) == {"Admission_Date"}


def test_an_episode_number_that_is_no_number_quarantines_its_spell():
    out = spells(episode("S1", "01"), episode("S1", "x"), episode("S2", "01"))
    found = out.findings.select("source_row", "rule", "column").to_dicts()
    assert found == [
        {"source_row": 1, "rule": "group_member_quarantined", "column": "APCS_Ident"},
        {"source_row": 2, "rule": "not_a_whole_number", "column": "Episode_Number"},
    ]
    assert out.rows["spell_id"].to_list() == ["S2"]


def test_an_episode_without_a_spell_id_is_a_spell_of_its_own_for_the_contract_to_judge():
    out = spells(episode(None, "01"), episode(None, "01"))
    assert out.rows["spell_id"].to_list() == [None, None]
    assert out.source_rows["source_row"].to_list() == [1, 2]


# --- ECDS ----------------------------------------------------------------------------------------


def attendance(ident, **fields) -> dict:
    return {
        "EC_Ident": ident,
        "Der_Pseudo_NHS_Number": "p1",
        "Arrival_Date": "2024-03-01",
        **fields,
    }


def attendances(*rows: dict):
    return apply_layout(frame(*rows), ECDS, target_extract="ae_attendances")


def test_ecds_filters():
    out = attendances(
        attendance("1", EC_AttendanceCategory="4"),
        attendance("2", EC_AttendanceCategory="X"),
        attendance("3", EC_Discharge_Status_SNOMED_CT="63238001"),
        attendance("4", Der_Dupe_Flag="1"),
        attendance("5", Der_Dupe_Flag="0", EC_AttendanceCategory="1"),
        attendance("6", Der_Dupe_Flag=None, EC_Discharge_Status_SNOMED_CT="306689006"),
        attendance("7", EC_AttendanceCategory="4", Der_Dupe_Flag="1"),  # the first filter decides
        attendance("8", EC_AttendanceCategory="04"),  # the category compared as a number
    )
    assert out.filtered.to_dicts() == [
        {"source_row": 1, "reason": "planned_follow_up"},
        {"source_row": 2, "reason": "dead_on_arrival"},
        {"source_row": 3, "reason": "dead_on_arrival"},
        {"source_row": 4, "reason": "duplicate_record"},
        {"source_row": 7, "reason": "planned_follow_up"},
        {"source_row": 8, "reason": "planned_follow_up"},
    ]
    assert out.rows["attendance_id"].to_list() == ["5", "6"]
    assert out.filtered_by_reason() == {
        "dead_on_arrival": 2,
        "duplicate_record": 1,
        "planned_follow_up": 3,
    }


@pytest.mark.parametrize(
    ("date", "time", "formed"),
    [
        ("2024-03-01", "14:05", "2024-03-01T14:05:00"),
        ("20240301", "14:05:09", "2024-03-01T14:05:09"),
        ("01/03/2024", "7:05", "2024-03-01T07:05:00"),
        ("2024-03-01", None, "2024-03-01T00:00:00"),  # no time: midnight
        ("2024-03-01", "25:00", "2024-03-01 25:00"),  # not a time: as it came
        ("2024-02-30", "10:00", "2024-02-30 10:00"),  # not a date: as it came
        (None, "10:00", None),  # no date: empty, for the contract's required rule
    ],
)
def test_arrival_datetime(date, time, formed):
    out = attendances(attendance("1", Arrival_Date=date, Arrival_Time=time))
    assert out.rows["arrival_datetime"].to_list() == [formed]


def test_arrival_without_a_time_column_is_midnight():
    out = attendances(attendance("1"))
    assert out.rows["arrival_datetime"].to_list() == ["2024-03-01T00:00:00"]
    assert out.column_sources["arrival_datetime"] == "Arrival_Date, Arrival_Time"


@pytest.mark.parametrize(
    ("raw", "formed"), [("01", "01"), ("1", "01"), ("05", "05"), ("06", "06"), (None, None)]
)
def test_department_type(raw, formed):
    out = attendances(attendance("1", EC_Department_Type=raw))
    assert out.rows["department_type"].to_list() == [formed]
    assert out.findings.height == 0 and out.warnings.height == 0
