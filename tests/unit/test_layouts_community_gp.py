"""The built-in layouts csds_contacts and gp_events (sources.md v3), on hand-made rows.

Dates used: 2024-03-06 is a Wednesday, 2024-03-09 a Saturday, 2024-03-10 a Sunday; 2024-05-06
(the early May bank holiday) and 2024-05-13 are Mondays; 2024-12-26 (Boxing Day) is a
Thursday; 2002-06-03 was the Golden Jubilee bank holiday.
"""

from __future__ import annotations

import polars as pl
import pytest

from diewell.expectations.layouts import apply_layout, load_layout

CSDS = load_layout("csds_contacts")
GP = load_layout("gp_events")
PALCARE = "103735009"  # Palliative care (PALCARE_COD)
PALCARE_2 = "526631000000108"  # On end of life care register (PALCARE_COD)
PALCARENI = "1048611000000104"  # Palliative care not currently clinically indicated
CARE_PLAN, CARE_PLAN_2 = "736366004", "773981004"
RESPECT = "1107891000000106"
DNACPR, DNACPR_2 = "450476008", "304253006"
DEMENTIA, DEMENTIA_2 = "10349009", "101421000119107"  # DEM_COD
OTHER = "22298006"  # myocardial infarction: in no list


def frame(*rows: dict) -> pl.DataFrame:
    names = list(dict.fromkeys(k for row in rows for k in row))
    data = {n.lower(): [row.get(n) for row in rows] for n in names}
    return pl.DataFrame(data, schema={n: pl.String for n in data})


def contact(ident, **fields) -> dict:
    return {
        "UNIQUECARECONTACTIDENTIFIER": ident,
        "Der_Pseudo_NHS_Number": "p1",
        "CARECONTACTDATE": "2024-03-06",
        "SERVICEORTEAMTYPEREFERREDTO": "47",
        "CONSULTATIONMEDIUMUSED": "01",
        **fields,
    }


def contacts(*rows: dict):
    return apply_layout(frame(*rows), CSDS, target_extract="community_contacts")


@pytest.mark.parametrize(
    ("code", "service"),
    [
        ("47", "community_palliative_care"),
        ("14", "community_palliative_care"),
        ("12", "district_nursing"),
        ("51", "rapid_response"),
    ],
)
def test_service_map(code, service):
    out = contacts(contact("1", SERVICEORTEAMTYPEREFERREDTO=code))
    assert out.rows["service"].to_list() == [service]
    assert out.warnings.height == 0


def test_other_service_codes_are_other_counted_per_code():
    out = contacts(
        contact("1", SERVICEORTEAMTYPEREFERREDTO="99"),
        contact("2", SERVICEORTEAMTYPEREFERREDTO="99"),
        contact("3", SERVICEORTEAMTYPEREFERREDTO="A1"),
    )
    assert out.rows["service"].to_list() == ["other"] * 3
    assert out.findings.height == 0  # a default, not a quarantine
    assert out.warnings.to_dicts() == [
        {
            "rule": "service_team_type_other",
            "column": "SERVICEORTEAMTYPEREFERREDTO",
            "code": "99",
            "rows": 2,
        },
        {
            "rule": "service_team_type_other",
            "column": "SERVICEORTEAMTYPEREFERREDTO",
            "code": "A1",
            "rows": 1,
        },
    ]


@pytest.mark.parametrize(
    ("code", "mode"),
    [
        ("01", "face_to_face"),
        ("1", "face_to_face"),
        ("02", "telephone_video"),
        ("11", "telephone_video"),
        ("03", "other"),
        (None, "other"),  # the column is optional (sources.md): no medium given is other
    ],
)
def test_contact_mode_map(code, mode):
    out = contacts(contact("1", CONSULTATIONMEDIUMUSED=code))
    assert out.rows["contact_mode"].to_list() == [mode]
    shown = {"03": "03", None: "(empty)"}
    expected = [{"code": shown[code], "rows": 1}] if code in shown else []
    assert out.warnings.select("code", "rows").to_dicts() == expected


@pytest.mark.parametrize(
    ("date", "time", "expected"),
    [
        ("2024-03-06", "07:59", "Y"),
        ("2024-03-06", "08:00", "N"),
        ("2024-03-06", "08:00:00", "N"),
        ("2024-03-06", "12:00", "N"),
        ("2024-03-06", "18:29", "N"),
        ("2024-03-06", "18:29:59", "N"),
        ("2024-03-06", "18:30", "Y"),
        ("2024-03-06", "23:59", "Y"),
        ("2024-03-06", "00:00", "Y"),
        ("2024-03-09", "12:00", "Y"),  # Saturday
        ("2024-03-10", "12:00", "Y"),  # Sunday
        ("2024-05-06", "12:00", "Y"),  # early May bank holiday
        ("06/05/2024", "12:00", "Y"),  # the same, written DD/MM/YYYY
        ("2024-12-26", "12:00", "Y"),  # Boxing Day
        ("2002-06-03", "12:00", "Y"),  # Golden Jubilee (a derived year of the calendar)
        ("2024-05-13", "12:00", "N"),  # an ordinary Monday
        ("2024-03-09", None, None),  # no time: empty, even at a weekend
        ("2024-03-06", "8am", "8am"),  # not a time: as it came, for the contract's Y/N rule
        ("2024-02-30", "12:00", None),  # not a date: the contract quarantines the date
    ],
)
def test_out_of_hours(date, time, expected):
    out = contacts(contact("1", CARECONTACTDATE=date, CARECONTACTTIME=time))
    assert out.rows["out_of_hours"].to_list() == [expected]


def test_out_of_hours_is_empty_without_a_time_column():
    out = contacts(contact("1", CARECONTACTDATE="2024-03-09"))
    assert out.rows["out_of_hours"].to_list() == [None]
    assert out.column_sources["out_of_hours"] == "CARECONTACTDATE, CARECONTACTTIME"


def test_contacts_not_attended_are_filtered():
    statuses = ["5", "6", "05", None, "7", "2", "3", "X"]
    out = contacts(*(contact(str(i), ATTENDANCESTATUS=s) for i, s in enumerate(statuses)))
    assert out.rows["contact_id"].to_list() == ["0", "1", "2", "3"]
    assert out.filtered.to_dicts() == [
        {"source_row": r, "reason": "not_attended"} for r in (5, 6, 7, 8)
    ]


# --- GP events ----------------------------------------------------------------------------------


def events(*rows: tuple) -> pl.DataFrame:
    """(person, date, code) rows at practice A81001, or (person, date, code, practice)."""
    return frame(
        *(
            {
                "person_id": r[0],
                "gp_practice_code": r[3] if len(r) > 3 else "A81001",
                "event_date": r[1],
                "snomed_code": r[2],
            }
            for r in rows
        )
    )


def register(*rows: tuple):
    return apply_layout(events(*rows), GP, target_extract="palliative_register")


def by_person(out) -> dict[str, dict]:
    return {r["nhs_number"]: r for r in out.rows.to_dicts()}


def test_date_added_is_the_start_of_the_current_episode():
    out = register(
        ("a", "2009-05-01", PALCARE),  # first episode...
        ("a", "2011-02-01", PALCARENI),  # ... closed
        ("a", "2013-02-02", PALCARE_2),  # the current episode starts here
        ("a", "2014-01-01", PALCARE),  # L, the latest counted
    )
    assert by_person(out)["a"]["date_added"] == "2013-02-02"
    assert out.source_rows["source_row"].to_list() == [1, 2, 3, 4]


def test_a_resolved_code_after_the_latest_register_code_removes_the_person():
    out = register(
        ("b", "2015-01-01", PALCARE),
        ("b", "2015-06-01", CARE_PLAN),
        ("b", "2016-01-01", PALCARENI),  # after L: off the register (QOF)
        ("c", "2015-01-01", PALCARE),
    )
    assert list(by_person(out)) == ["c"]
    assert out.filtered.to_dicts() == [
        {"source_row": r, "reason": "not_on_register"} for r in (1, 2, 3)
    ]


def test_a_resolved_code_on_the_latest_register_codes_day_does_not_remove():
    out = register(
        ("c", "2012-01-01", PALCARE),
        ("c", "2015-01-01", PALCARE),  # L
        ("c", "2015-01-01", PALCARENI),  # the same day: still on the register...
    )
    # ... and the current episode starts that day (the latest resolved code on or before L).
    assert by_person(out)["c"]["date_added"] == "2015-01-01"


def test_events_before_april_2008_do_not_count():
    out = register(
        ("d", "2007-01-01", PALCARE),  # only an early event: not on the register
        ("e", "2008-03-31", PALCARE),  # the day before: does not count
        ("e", "2008-04-01", PALCARE),  # the first day that counts
        ("e", "2009-01-01", PALCARE),
        ("f", "2005-01-01", PALCARE),
        ("f", "2010-01-01", PALCARE),
    )
    people = by_person(out)
    assert sorted(people) == ["e", "f"]
    assert people["e"]["date_added"] == "2008-04-01"
    assert people["f"]["date_added"] == "2010-01-01"
    assert out.filtered.to_dicts() == [{"source_row": 1, "reason": "not_on_register"}]


def test_a_resolved_code_before_april_2008_still_opens_the_current_episode():
    out = register(
        ("g", "2007-06-01", PALCARENI),
        ("g", "2009-01-01", PALCARE),
        ("g", "2012-01-01", PALCARE),
    )
    assert by_person(out)["g"]["date_added"] == "2009-01-01"


def test_care_plan_respect_and_dnacpr_are_the_earliest_of_each_list():
    out = register(
        ("h", "2020-01-01", PALCARE),
        ("h", "2021-05-01", CARE_PLAN),
        ("h", "2019-03-01", CARE_PLAN_2),  # before the register: still the earliest care plan
        ("h", "2022-01-01", RESPECT),
        ("h", "2021-09-01", DNACPR_2),
        ("h", "2023-01-01", DNACPR),
        ("i", "2020-01-01", PALCARE),
    )
    people = by_person(out)
    assert {k: people["h"][k] for k in ("care_plan_date", "respect_date", "dnacpr_date")} == {
        "care_plan_date": "2019-03-01",
        "respect_date": "2022-01-01",
        "dnacpr_date": "2021-09-01",
    }
    assert (people["i"]["care_plan_date"], people["i"]["respect_date"]) == (None, None)
    for empty in (
        "identification_tool",
        "preferred_place_of_death",
        "what_matters_date",
        "ethnic_category",
    ):
        assert people["h"][empty] is None


def test_events_in_no_code_list_are_filtered_and_the_practice_is_the_latest_events():
    out = register(
        ("j", "2020-01-01", PALCARE, "A81001"),
        ("j", "2021-01-01", OTHER, "A81001"),
        ("j", "2022-01-01", PALCARE, "B82002"),
        ("k", "2020-01-01", "", "A81001"),
    )
    assert by_person(out)["j"]["gp_practice_code"] == "B82002"
    assert out.filtered.to_dicts() == [
        {"source_row": 2, "reason": "not_in_codelists"},
        {"source_row": 4, "reason": "not_in_codelists"},
    ]


def test_an_event_date_that_is_not_a_date_quarantines_the_persons_events():
    out = register(
        ("m", "2020-01-01", PALCARE),
        ("m", "2021-13-01", PALCARENI),  # could be the code that removes them: cannot tell
        ("n", "2020-01-01", PALCARE),
    )
    assert list(by_person(out)) == ["n"]
    assert out.findings.select("source_row", "rule", "column", "value").to_dicts() == [
        {"source_row": 1, "rule": "group_member_quarantined", "column": "person_id", "value": "m"},
        {
            "source_row": 2,
            "rule": "unparseable_date",
            "column": "event_date",
            "value": "2021-13-01",
        },
    ]


def test_dementia_date_diagnosed_is_the_earliest_dementia_code():
    out = apply_layout(
        events(
            ("p", "2019-06-01", DEMENTIA),
            ("p", "2005-02-01", DEMENTIA_2),  # early events count here
            ("p", "2001-01-01", PALCARE),  # another register's code: filtered
            ("q", "2022-01-01", DEMENTIA),
        ),
        GP,
        target_extract="dementia_register",
    )
    people = by_person(out)
    assert {p: r["date_diagnosed"] for p, r in people.items()} == {
        "p": "2005-02-01",
        "q": "2022-01-01",
    }
    assert people["p"]["dementia_subtype"] is None
    assert out.filtered.to_dicts() == [{"source_row": 3, "reason": "not_in_codelists"}]
    assert out.column_sources["date_diagnosed"] == "event_date, snomed_code"


def test_a_csds_file_without_the_consultation_medium_column_forms_other_contacts():
    """The column is optional in sources.md: a file without it loaded nothing (every row
    missing its required contact_mode: the file rejected as too many rows failing)."""
    row = contact("1")
    del row["CONSULTATIONMEDIUMUSED"]
    out = contacts(row)
    assert out.rows["contact_mode"].to_list() == ["other"]
    assert out.findings.height == 0
