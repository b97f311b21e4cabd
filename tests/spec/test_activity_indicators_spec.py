"""Spec tests for the indicators that do not start from a death: SP03-SP05, SC01-SC02, RG01, MR01.

A tiny ICS, worked by hand. Reporting period: deaths are delivered for January-December 2024,
so the only period is the rolling 12 months 2024-01-01 .. 2024-12-31.

Practices: A81001 (PCN1, place P1) and A81002 (PCN2, place P2). Population snapshot at
2024-12-31: A81001 has 100 patients in every sex x 5-year band (3,800), A81002 has 50 (1,900).

People (NHS numbers nhs(100+k)):
    R1  on the register at A81001 since 2024-03-01, alive
    R2  on the register at A81001 since 2024-06-01, died 2024-09-01 (male, 80)
    R3  on the register at A81001 since 2025-01-15 (after the period end)
    R4  on the register at A81002 since 2023-05-05, alive
    D1..D9  died in 2024 at 80, male, registered at A81001 (with R2: 10 deaths, all in 80-84)
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from tests.conftest import TEST_KEY, TinyIcs, nhs
from tests.spec.tiny_values import computed_values
from tests.spec.tiny_values import pick as pick_row

BANDS = [f"{a}-{a + 4}" for a in range(0, 90, 5)] + ["90+"]
R1, R2, R3, R4 = nhs(101), nhs(102), nhs(103), nhs(104)
DEAD = [R2] + [nhs(110 + k) for k in range(9)]


def death_row(number: str, dod: dt.date) -> dict:
    return {
        "nhs_number": number,
        "date_of_birth": dod.replace(year=dod.year - 80).isoformat(),
        "date_of_death": dod.isoformat(),
        "sex": "1",
        "underlying_cause_icd10": "C34",
        "place_of_death": "hospital",
        "lsoa_code": "E01000001",
        "gp_practice_code": "A81001",
    }


@pytest.fixture(scope="module")
def values(tmp_path_factory):
    os.environ["DIEWELL_PSEUDO_KEY"] = TEST_KEY
    ics = TinyIcs(
        tmp_path_factory.mktemp("activity"),
        providers=[
            {
                "code": "QTT",
                "name": "ICB",
                "extracts": ["deaths", "gp_population", "ref_lsoa", "ref_practice"],
            },
            {"code": "A81001", "name": "Surgery 1", "extracts": ["palliative_register"]},
            {"code": "A81002", "name": "Surgery 2", "extracts": ["palliative_register"]},
            {
                "code": "HSP1",
                "name": "Hospice",
                "extracts": ["hospice_referrals", "outcome_assessments"],
            },
            {"code": "SPC01", "name": "Single point of contact", "extracts": ["spoc_calls"]},
        ],
    )
    ics.deliver(
        "ref_lsoa_QTT_20241231.csv",
        [{"lsoa_code": "E01000001", "imd_decile": "1", "place_code": "P1", "place_name": "One"}],
    )
    ics.deliver(
        "ref_practice_QTT_20241231.csv",
        [
            {
                "gp_practice_code": code,
                "practice_name": code,
                "pcn_code": pcn,
                "pcn_name": pcn,
                "place_code": place,
                "place_name": place,
            }
            for code, pcn, place in (("A81001", "PCN1", "P1"), ("A81002", "PCN2", "P2"))
        ],
    )
    ics.deliver(
        "gp_population_QTT_20241231.csv",
        [
            {"gp_practice_code": code, "sex": sex, "age_band": band, "patients": patients}
            for code, patients in (("A81001", 100), ("A81002", 50))
            for sex in ("1", "2")
            for band in BANDS
        ],
    )
    deaths_columns = list(death_row(R2, dt.date(2024, 9, 1)))
    ics.deliver("deaths_QTT_20240131.csv", [], deaths_columns)
    ics.deliver(
        "deaths_QTT_20241231.csv",
        [death_row(R2, dt.date(2024, 9, 1))]
        + [death_row(n, dt.date(2024, 2 + k, 10)) for k, n in enumerate(DEAD[1:])],
    )
    ics.deliver(
        "palliative_register_A81001_20250131.csv",
        [
            {"nhs_number": R1, "gp_practice_code": "A81001", "date_added": "2024-03-01"},
            {"nhs_number": R2, "gp_practice_code": "A81001", "date_added": "2024-06-01"},
            {"nhs_number": R3, "gp_practice_code": "A81001", "date_added": "2025-01-15"},
        ],
    )
    ics.deliver(
        "palliative_register_A81002_20241231.csv",
        [{"nhs_number": R4, "gp_practice_code": "A81002", "date_added": "2023-05-05"}],
    )

    def referral(rid, person, referred, first):
        return {
            "referral_id": rid,
            "nhs_number": person,
            "referral_date": referred,
            "referral_source": "gp",
            "service": "community",
            "first_contact_date": first,
        }

    ics.deliver(
        "hospice_referrals_HSP1_20241231.csv",
        [
            referral("F1", R1, "2024-02-05", "2024-02-05"),  # seen the same day: yes
            referral("F2", nhs(120), "2024-02-09", "2024-02-10"),  # next day: yes
            referral("F3", nhs(121), "2024-03-01", "2024-03-03"),  # 2 days: no
            referral("F4", nhs(122), "2024-04-01", ""),  # not yet seen: excluded
            referral("F5", nhs(123), "2023-12-31", "2024-01-01"),  # referred before the period
        ],
    )
    p1, p2, p3, p4, p5 = (nhs(130 + k) for k in range(5))

    def assessment(aid, person, day, phase, ipos):
        return {
            "assessment_id": aid,
            "nhs_number": person,
            "assessment_date": day,
            "phase_of_illness": phase,
            "ipos_total": ipos,
        }

    ics.deliver(
        "outcome_assessments_HSP1_20241231.csv",
        [
            assessment("A1", p1, "2024-03-01", "unstable", "30"),  # phase 1 starts
            assessment("A2", p1, "2024-03-02", "unstable", ""),  # ...continues
            assessment("A3", p1, "2024-03-04", "stable", "20"),  # ends after 3 days: yes
            assessment("A4", p1, "2024-08-01", "unstable", ""),  # phase 2 starts
            assessment("A5", p1, "2024-08-02", "dying", ""),  # ends after 1 day: yes
            assessment("A6", p2, "2024-05-01", "unstable", "25"),
            assessment("A7", p2, "2024-05-06", "deteriorating", "25"),  # 5 days: no
            assessment("A8", p3, "2024-07-01", "unstable", "10"),  # never ends: not counted
            assessment("A9", p4, "2023-12-30", "unstable", "40"),
            assessment("A10", p4, "2024-01-02", "stable", "35"),  # ends in the period, 3 days
            assessment("A11", p5, "2024-09-01", "stable", "30"),
            assessment("A12", p5, "2024-09-01", "stable", "20"),  # same day: not 1 day apart
        ],
    )

    def call(cid, when, outcome="advice_only"):
        return {
            "call_id": cid,
            "call_datetime": when,
            "nhs_number": "",
            "caller_type": "carer_family",
            "outcome": outcome,
        }

    ics.deliver(
        "spoc_calls_SPC01_20241231.csv",
        [
            call("C1", "2024-03-04T18:29", "ambulance_or_admission"),  # Monday 18:29: in hours
            call("C2", "2024-03-04T18:30"),  # Monday 18:30: out of hours
            call("C3", "2024-03-05T07:59"),  # Tuesday 07:59: out of hours
            call("C4", "2024-03-05T08:00"),  # Tuesday 08:00: in hours
            call("C5", "2024-03-09T12:00", "ambulance_or_admission"),  # Saturday
            call("C6", "2024-03-10T12:00"),  # Sunday (no bank holiday that weekend)
            call("C7", "2024-03-06T12:00"),  # Wednesday noon: in hours
        ],
    )
    yield from computed_values(ics)


def pick(values, indicator, level="ics", code="QTT", breakdown="all", breakdown_value="all"):
    row = pick_row(values, indicator, level, code, breakdown, breakdown_value)
    assert row["period_end"] == dt.date(2024, 12, 31)
    return row


@pytest.mark.parametrize(
    "indicator, numerator, denominator",
    [
        ("SP03", 2, 3),  # F1, F2 of F1-F3 (F4 unseen, F5 referred before the period)
        ("SP04", 3, 4),  # p1 (3 days), p1 (1 day), p4 (3 days) of those plus p2 (5 days)
        ("SP05", 2, 3),  # p1 30 -> 20, p4 40 -> 35 improved; p2 25 -> 25 not; p3, p5 excluded
        ("SC01", 4, 7),  # C2, C3, C5, C6
        ("SC02", 5, 7),  # all but C1 and C5
        ("RG01", 2, 5700),  # R1, R4 (R2 died, R3 added after the period) of 3,800 + 1,900
    ],
)
def test_activity_indicator_values(values, indicator, numerator, denominator):
    row = pick(values, indicator)
    assert (row["numerator"], row["denominator"]) == (numerator, denominator)
    assert row["value"] == pytest.approx(100 * numerator / denominator, rel=1e-12)


def test_activity_links_to_a_practice_only_through_a_person(values):
    linked = pick(values, "SP03", level="practice", code="A81001")  # F1 is R1, on A81001's register
    assert (linked["numerator"], linked["denominator"]) == (1, 1)
    unlinked = pick(values, "SP03", level="practice", code="unknown")
    assert (unlinked["numerator"], unlinked["denominator"]) == (1, 2)  # F2, F3
    rg = pick(values, "RG01", level="practice", code="A81001")
    assert (rg["numerator"], rg["denominator"]) == (1, 3800)


def test_mortality_rate_is_directly_standardised(values):
    # Ten male deaths aged 80 (band 80-84, ESP2013 weight 2,500) at A81001.
    # ICS: band 80-84 has 100 + 100 (A81001) + 50 + 50 (A81002) = 300 patients, so
    # DSR = (10 / 300) * 2500 / 100000 * 100000 = 83.333...
    ics = pick(values, "MR01")
    assert (ics["numerator"], ics["denominator"]) == (10, 5700)
    assert ics["value"] == pytest.approx(10 / 300 * 2500, rel=1e-12)
    # Males only: band 80-84 has 100 + 50 = 150 men: 10 / 150 * 2500 = 166.666...
    male = pick(values, "MR01", breakdown="sex", breakdown_value="male")
    assert male["value"] == pytest.approx(10 / 150 * 2500, rel=1e-12)
    # Dobson limits with Byar's limits on 10 events: the interval is wide and asymmetric.
    assert ics["lower_95"] < ics["value"] < ics["upper_95"]
    assert ics["upper_95"] - ics["value"] > ics["value"] - ics["lower_95"]
    # Under 10 deaths gives no value: A81002 had none.
    assert pick(values, "MR01", level="practice", code="A81002")["value"] is None
