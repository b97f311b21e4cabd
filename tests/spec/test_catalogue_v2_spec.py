"""Spec tests for catalogue v2 (indicators.md v2): TR01-TR02, DM01-DM03, BV01-BV02, ED01-ED02.

A tiny ICS, worked by hand. Deaths are delivered for January-December 2024, so the only
period is the rolling 12 months 2024-01-01 .. 2024-12-31. Every other extract is delivered
up to 2024-12-31 too; ref_lsoa maps E01000001 to place P1 and E01000002 to P2; practice
A81001 is in P1.

Children and young people (children's hospice referrals with a date of birth):
    Y1  born 2007-06-15: 17th birthday 2024-06-15, transition plan on that very day      TR01 yes
    Y2  born 2007-03-01: 17th birthday 2024-03-01, plan the day after                     TR01 no
    Y3  born 2007-09-10, died 2024-09-09, the day before the 17th birthday (plan in 2023): out
    Y4  born 2007-11-20, died on the 17th birthday 2024-11-20 (alive on it), no plan      TR01 no
    Y5  born 2005-05-01: 17th birthday in 2022 and 18 1/2 in 2023, outside the period: out
    A1  born 2006-01-10: 18 1/2 on 2024-07-10; adult hospice referral that very day      TR02 yes
    A2  born 2005-12-01: 18 1/2 on 2024-06-01; community palliative contact the day before the
        16th birthday (2021-11-30) and an adult referral the day after 18 1/2: neither counts TR02 no
    A3  born 2006-03-15: 18 1/2 on 2024-09-15, died 2024-09-14 (adult referral in 2024): out
    A4  born 2005-08-20: 18 1/2 on 2024-02-20; community palliative contact on the 16th
        birthday 2021-08-20                                                                TR02 yes
    TR01 = 1 / 3 (Y1 of Y1, Y2, Y4); TR02 = 2 / 3 (A1, A4 of A1, A2, A4).

Dementia (decedents):
    M1  diagnosed 2020, died 2024-03-01 at 85 at home (cause I21), on the palliative care
        register, 3 emergency admissions in the last 90 days: DM01 yes, DM02 yes, DM03 yes
    M2  diagnosed on the day of death 2024-05-05, cause C34: not dementia (diagnosis must be
        before the day of death): out
    M3  diagnosed on the day of death 2024-06-06, but cause F03, 70, hospital: in through the
        cause; DM01 no, DM02 no, DM03 no
    M4  cause G30, 60, care home, on the register: DM01 yes; DM02 out (under 65); DM03 no
    M5  diagnosed 2019, cause W19 (a fall: external), 90, care home: DM01 no; DM02 out; DM03 no
    DM01 = 2 / 4; DM02 = 1 / 2 (M1 of M1, M3); DM03 = 1 / 4.

Bereavement (the latest bereavement delivery ends 2024-12-31, so deaths up to 2024-10-02
have a closed 90-day window):
    B1  died 2024-03-10, known to the hospice; bereavement contact on day 90    BV01 yes (90 days)
    B2  died 2024-04-01, known to the hospice; contact on day 91                 BV01 no
    B3  died 2024-05-01, known to the hospice; contacts on day 0 and day 20      BV01 yes (0 days)
    B4  died 2024-11-15, known to the hospice; contact on day 10: window open: out
    B5  died 2024-06-01, not known to specialist care; contact on day 5: out
    B6  died 2024-02-01, known to the hospice; contact the day before death       BV01 no
    BV01 = 2 / 4; BV02 = median(90, 0) = 45 days over 2. BV01's period is incomplete: its
    window needs bereavement deliveries up to 2025-03-31.

Education (sessions; care homes CH1 1-000000001 in P1, CH2 1-000000002 and CH3 1-0000000003
in P2):
    S1 2024-02-01 care_home CH1 12;  S2 2024-05-01 care_home CH1 8 (a second session for CH1);
    S3 2024-06-01 care_home CH2 5;   S4 2024-07-01 primary_care A81001 (P1) 20;
    S5 2024-08-01 prison, no organisation code (place unknown) 3;
    S6 2023-12-15 care_home CH3 10 (before the period: out)
    ED01 = 48 (care_home 25, primary_care 20, prison 3; P1 40, P2 5, unknown 3);
    ED02 = 2 / 3 at ICS (CH1 once although it had two sessions, CH2), P1 1 / 1, P2 1 / 2.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from tests.conftest import TEST_KEY, TinyIcs, nhs
from tests.spec.tiny_values import computed_values
from tests.spec.tiny_values import pick as pick_row

PERIOD_END = dt.date(2024, 12, 31)
# NHS numbers: young people 200+, dementia 300+, bereavement 400+.
Y1, Y2, Y3, Y4, Y5 = (nhs(201 + k) for k in range(5))
A1, A2, A3, A4 = (nhs(211 + k) for k in range(4))
M1, M2, M3, M4, M5 = (nhs(301 + k) for k in range(5))
B1, B2, B3, B4, B5, B6 = (nhs(401 + k) for k in range(6))
CH1, CH2, CH3 = "1-000000001", "1-000000002", "1-0000000003"


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def death(number, born, died, cause="C34", place="hospital"):
    return {
        "nhs_number": number,
        "date_of_birth": born,
        "date_of_death": died,
        "sex": "2",
        "underlying_cause_icd10": cause,
        "place_of_death": place,
        "lsoa_code": "E01000001",
        "gp_practice_code": "A81001",
    }


def referral(rid, person, referred, service, born="", plan=""):
    return {
        "referral_id": rid,
        "nhs_number": person,
        "date_of_birth": born,
        "referral_date": referred,
        "referral_source": "gp",
        "service": service,
        "first_contact_date": "",
        "transition_plan_date": plan,
    }


def after(died: str, days: int) -> str:
    return (day(died) + dt.timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def values(tmp_path_factory):
    os.environ["DIEWELL_PSEUDO_KEY"] = TEST_KEY
    ics = TinyIcs(
        tmp_path_factory.mktemp("catalogue_v2"),
        providers=[
            {
                "code": "QTT",
                "name": "ICB",
                "extracts": ["deaths", "ref_lsoa", "ref_practice", "ref_care_homes"],
            },
            {
                "code": "A81001",
                "name": "Surgery",
                "extracts": ["palliative_register", "dementia_register"],
            },
            {
                "code": "HSP1",
                "name": "Hospice",
                "extracts": [
                    "hospice_referrals",
                    "hospice_contacts",
                    "bereavement_contacts",
                    "education_sessions",
                ],
            },
            {"code": "CMT1", "name": "Community", "extracts": ["community_contacts"]},
            {"code": "RX1", "name": "Acute", "extracts": ["apc_spells"]},
        ],
    )
    ics.deliver(
        "ref_lsoa_QTT_20241231.csv",
        [
            {"lsoa_code": lsoa, "imd_decile": "5", "place_code": place, "place_name": place}
            for lsoa, place in (("E01000001", "P1"), ("E01000002", "P2"))
        ],
    )
    ics.deliver(
        "ref_practice_QTT_20241231.csv",
        [
            {
                "gp_practice_code": "A81001",
                "practice_name": "Surgery",
                "pcn_code": "PCN1",
                "pcn_name": "PCN1",
                "place_code": "P1",
                "place_name": "P1",
            }
        ],
    )
    ics.deliver(
        "ref_care_homes_QTT_20241231.csv",
        [
            {
                "location_id": location,
                "care_home_name": f"Home {k}",
                "lsoa_code": lsoa,
                "beds": "30",
                "nursing": "N",
            }
            for k, (location, lsoa) in enumerate(
                ((CH1, "E01000001"), (CH2, "E01000002"), (CH3, "E01000002")), start=1
            )
        ],
    )
    deaths = [
        death(Y3, "2007-09-10", "2024-09-09"),
        death(Y4, "2007-11-20", "2024-11-20"),
        death(A3, "2006-03-15", "2024-09-14"),
        death(M1, "1938-06-01", "2024-03-01", cause="I21", place="home"),
        death(M2, "1940-01-01", "2024-05-05"),
        death(M3, "1954-01-01", "2024-06-06", cause="F03", place="hospital"),
        death(M4, "1964-01-01", "2024-04-04", cause="G30", place="care_home"),
        death(M5, "1934-01-01", "2024-07-07", cause="W19", place="care_home"),
        death(B1, "1950-01-01", "2024-03-10"),
        death(B2, "1950-01-01", "2024-04-01"),
        death(B3, "1950-01-01", "2024-05-01"),
        death(B4, "1950-01-01", "2024-11-15"),
        death(B5, "1950-01-01", "2024-06-01"),
        death(B6, "1950-01-01", "2024-02-01"),
    ]
    ics.deliver("deaths_QTT_20240131.csv", [], list(deaths[0]))
    ics.deliver("deaths_QTT_20241231.csv", deaths)
    ics.deliver(
        "palliative_register_A81001_20241231.csv",
        [
            {"nhs_number": person, "gp_practice_code": "A81001", "date_added": "2023-01-01"}
            for person in (M1, M4)
        ],
    )
    ics.deliver(
        "dementia_register_A81001_20241231.csv",
        [
            {"nhs_number": M1, "gp_practice_code": "A81001", "date_diagnosed": "2020-01-01"},
            {"nhs_number": M2, "gp_practice_code": "A81001", "date_diagnosed": "2024-05-05"},
            {"nhs_number": M3, "gp_practice_code": "A81001", "date_diagnosed": "2024-06-06"},
            {"nhs_number": M5, "gp_practice_code": "A81001", "date_diagnosed": "2019-01-01"},
        ],
    )
    ics.deliver(
        "apc_spells_RX1_20241231.csv",
        [
            {
                "spell_id": f"S{k}",
                "nhs_number": M1,
                "admission_date": admitted,
                "admission_method": "21",
                "discharge_date": admitted,
            }
            for k, admitted in enumerate(("2024-01-15", "2024-02-01", "2024-02-20"))
        ],
    )
    ics.deliver(
        "hospice_referrals_HSP1_20241231.csv",
        [
            referral("Y1", Y1, "2020-01-01", "childrens", "2007-06-15", "2024-06-15"),
            referral("Y2", Y2, "2020-01-01", "childrens", "2007-03-01", "2024-03-02"),
            referral("Y3", Y3, "2020-01-01", "childrens", "2007-09-10", "2023-01-01"),
            referral("Y4", Y4, "2020-01-01", "childrens", "2007-11-20"),
            referral("Y5", Y5, "2020-01-01", "childrens", "2005-05-01", "2021-01-01"),
            referral("A1c", A1, "2015-01-01", "childrens", "2006-01-10"),
            referral("A1a", A1, "2024-07-10", "community"),
            referral("A2c", A2, "2015-01-01", "childrens", "2005-12-01"),
            referral("A2a", A2, "2024-06-02", "inpatient_unit"),
            referral("A3c", A3, "2015-01-01", "childrens", "2006-03-15"),
            referral("A3a", A3, "2024-01-01", "community"),
            referral("A4c", A4, "2015-01-01", "childrens", "2005-08-20"),
        ],
    )
    ics.deliver(
        "community_contacts_CMT1_20241231.csv",
        [
            {
                "contact_id": cid,
                "nhs_number": person,
                "contact_date": when,
                "service": "community_palliative_care",
                "contact_mode": "face_to_face",
            }
            for cid, person, when in (("K1", A2, "2021-11-30"), ("K2", A4, "2021-08-20"))
        ],
    )
    known = {B1: "2024-03-10", B2: "2024-04-01", B3: "2024-05-01", B4: "2024-11-15"}
    known[B6] = "2024-02-01"
    ics.deliver(
        "hospice_contacts_HSP1_20241231.csv",
        [
            {
                "contact_id": f"H{k}",
                "nhs_number": person,
                "contact_date": after(died, -5),
                "setting": "home",
            }
            for k, (person, died) in enumerate(known.items())
        ],
    )

    def support(cid, person, when):
        return {
            "contact_id": cid,
            "deceased_nhs_number": person,
            "contact_date": when,
            "support": "one_to_one",
            "relationship": "partner",
        }

    ics.deliver(
        "bereavement_contacts_HSP1_20241231.csv",
        [
            support("V1", B1, after("2024-03-10", 90)),
            support("V2", B2, after("2024-04-01", 91)),
            support("V3", B3, "2024-05-01"),
            support("V4", B3, after("2024-05-01", 20)),
            support("V5", B4, after("2024-11-15", 10)),
            support("V6", B5, after("2024-06-01", 5)),
            support("V7", B6, after("2024-02-01", -1)),
        ],
    )

    def session(sid, when, sector, organisation, attendees):
        return {
            "session_id": sid,
            "session_date": when,
            "course": "Recognising dying",
            "audience_sector": sector,
            "organisation_code": organisation,
            "attendees": str(attendees),
            "hours": "1.5",
        }

    ics.deliver(
        "education_sessions_HSP1_20241231.csv",
        [
            session("S1", "2024-02-01", "care_home", CH1, 12),
            session("S2", "2024-05-01", "care_home", CH1, 8),
            session("S3", "2024-06-01", "care_home", CH2, 5),
            session("S4", "2024-07-01", "primary_care", "A81001", 20),
            session("S5", "2024-08-01", "prison", "", 3),
            session("S6", "2023-12-15", "care_home", CH3, 10),
        ],
    )
    yield from computed_values(ics)


def pick(values, indicator, level="ics", code="QTT", breakdown="all", breakdown_value="all"):
    return pick_row(
        values, indicator, level, code, breakdown, breakdown_value, period_end=PERIOD_END
    )


@pytest.mark.parametrize(
    "indicator, numerator, denominator",
    [
        ("TR01", 1, 3),  # Y1 (plan on the 17th birthday) of Y1, Y2, Y4 (Y3 died before it)
        ("TR02", 2, 3),  # A1 (adult referral at 18 1/2 exactly), A4 (on the 16th birthday)
        ("DM01", 2, 4),  # M1, M4 of M1, M3, M4, M5 (M2 diagnosed on the day of death)
        ("DM02", 1, 2),  # M1 at home of M1, M3 (M4 under 65, M5 external cause)
        ("DM03", 1, 4),  # M1's three emergency admissions
        ("BV01", 2, 4),  # B1 (day 90), B3 (day 0) of B1, B2 (day 91), B3, B6 (before death)
        ("ED02", 2, 3),  # CH1 (two sessions, once), CH2 of CH1-CH3
    ],
)
def test_v2_proportions(values, indicator, numerator, denominator):
    row = pick(values, indicator)
    assert (row["numerator"], row["denominator"]) == (numerator, denominator)
    assert row["value"] == pytest.approx(100 * numerator / denominator, rel=1e-12)
    assert row["statistic"] == "proportion"


def test_bereavement_median_is_over_the_supported_decedents(values):
    row = pick(values, "BV02")
    assert (row["denominator"], row["value"]) == (2, 45.0)  # median of 90 and 0 days


def test_a_bereavement_period_whose_window_is_open_is_incomplete(values):
    # Every extract is delivered to 2024-12-31: complete for DM01, but BV01 and BV02 need
    # bereavement deliveries up to 2024-12-31 + 90 days.
    assert pick(values, "DM01")["data_complete"] is True
    assert pick(values, "BV01")["data_complete"] is False
    assert pick(values, "BV02")["data_complete"] is False


def test_training_attendances_are_a_count_by_sector_and_place(values):
    ics = pick(values, "ED01")
    assert (ics["numerator"], ics["denominator"], ics["value"]) == (48, None, 48.0)
    assert ics["statistic"] == "count" and ics["lower_95"] is None
    by_sector = {
        sector: pick(values, "ED01", breakdown="audience_sector", breakdown_value=sector)["value"]
        for sector in ("care_home", "primary_care", "prison")
    }
    assert by_sector == {"care_home": 25.0, "primary_care": 20.0, "prison": 3.0}
    by_place = {
        place: pick(values, "ED01", level="place", code=place)["value"]
        for place in ("P1", "P2", "unknown")  # S5 has no organisation code: place unknown
    }
    assert by_place == {"P1": 40.0, "P2": 5.0, "unknown": 3.0}


def test_care_homes_reached_by_place(values):
    p1, p2 = (
        pick(values, "ED02", level="place", code="P1"),
        pick(values, "ED02", level="place", code="P2"),
    )
    assert (p1["numerator"], p1["denominator"]) == (1, 1)
    assert (p2["numerator"], p2["denominator"]) == (1, 2)


def test_levels_and_breakdowns_follow_the_catalogue(values):
    levels = {
        i: set(values.filter(values["indicator_id"] == i)["geography_level"].unique())
        for i in ("TR01", "TR02", "ED01", "ED02", "DM01")
    }
    assert levels["TR01"] == levels["TR02"] == {"ics"}
    assert levels["ED01"] == levels["ED02"] == {"ics", "place"}
    assert levels["DM01"] == {"ics", "place", "pcn", "practice"}
    sectors = values.filter(values["breakdown"] == "audience_sector")
    assert set(sectors["indicator_id"].unique()) == {"ED01"}
