"""Spec tests for HU06 and HU07 (indicators.md v3): the last 90 days and the last six months
of life, worked by hand on four decedents; only these two indicators are computed.

Deaths are delivered for January-December 2024, so the only period is the rolling 12 months
2024-01-01 .. 2024-12-31. Everyone is 80, lives in E01000001 (place P1) and is registered at
A81001 (PCN1).

    who  died        window_182d               window_90d
    A    2024-07-01  2024-01-01 .. 2024-07-01  2024-04-02 .. 2024-07-01
    B    2024-10-15  2024-04-16 .. 2024-10-15  2024-07-17 .. 2024-10-15
    C    2024-05-10  (no hospital activity)
    D    2024-12-01  2024-06-02 .. 2024-12-01  2024-09-02 .. 2024-12-01

Hospital spells (every admission method counts towards bed_days_182d):
    A  S1 emergency 2023-12-20 .. 2024-01-11  began before the window: 01-01..01-11 = 10 days
       S2 elective  2024-03-01 .. 2024-03-06  5 days
       S3 emergency 2024-06-25 .. (open)      still open at death: to 07-01 = 6 days
       S4 elective  2023-12-01 .. 2023-12-31  ended the day before the window: 0
       S5 emergency 2024-07-02 .. 2024-07-04  after death: never counts
       bed_days_182d = 21
    D  S6 elective  2024-11-01 .. 2024-12-10  discharged after death: to 12-01 = 30 days
       bed_days_182d = 30
A&E attendances:
    A  2024-04-01 10:00  day 91 before death: outside window_90d
    B  2024-07-17 09:00  day 90 before death: inside
    D  2024-12-01 23:30  the day of death: inside; 2024-12-02 00:10: after death, never

HU06 = 2 of 4 (B, D) = 50%. HU07 = 100 - 100 x (21 + 30) / (4 x 182.5) = 93.0137%.
"""

from __future__ import annotations

import datetime as dt
import os

import pytest

from diewell.transforms.disclosure import apply_disclosure_control
from tests.conftest import DEATHS_COLUMNS, TEST_KEY, TinyIcs, nhs
from tests.spec.tiny_values import computed_tables
from tests.spec.tiny_values import pick as pick_row

A, B, C, D = nhs(0), nhs(1), nhs(2), nhs(3)
DIED = {
    A: dt.date(2024, 7, 1),
    B: dt.date(2024, 10, 15),
    C: dt.date(2024, 5, 10),
    D: dt.date(2024, 12, 1),
}
SPELL_COLUMNS = ["spell_id", "nhs_number", "admission_date", "admission_method", "discharge_date"]


def death(number: str) -> dict:
    died = DIED[number]
    return {
        "nhs_number": number,
        "date_of_birth": died.replace(year=died.year - 80).isoformat(),
        "date_of_death": died.isoformat(),
        "sex": "2",
        "underlying_cause_icd10": "C34",
        "place_of_death": "home",
        "lsoa_code": "E01000001",
        "gp_practice_code": "A81001",
    }


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    os.environ["DIEWELL_PSEUDO_KEY"] = TEST_KEY
    ics = TinyIcs(
        tmp_path_factory.mktemp("last_months"),
        providers=[
            {"code": "QTT", "name": "ICB", "extracts": ["deaths", "ref_lsoa", "ref_practice"]},
            {"code": "RX1", "name": "Trust", "extracts": ["apc_spells", "ae_attendances"]},
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
                "gp_practice_code": "A81001",
                "practice_name": "Surgery 1",
                "pcn_code": "PCN1",
                "pcn_name": "PCN One",
                "place_code": "P1",
                "place_name": "One",
            }
        ],
    )
    ics.deliver("deaths_QTT_20240131.csv", [], DEATHS_COLUMNS)  # coverage from January
    ics.deliver("deaths_QTT_20241231.csv", [death(n) for n in DIED], DEATHS_COLUMNS)
    spells = [
        ("S1", A, "2023-12-20", "21", "2024-01-11"),
        ("S2", A, "2024-03-01", "11", "2024-03-06"),
        ("S3", A, "2024-06-25", "22", ""),
        ("S4", A, "2023-12-01", "12", "2023-12-31"),
        ("S5", A, "2024-07-02", "21", "2024-07-04"),
        ("S6", D, "2024-11-01", "11", "2024-12-10"),
    ]
    ics.deliver(
        "apc_spells_RX1_20241231.csv",
        [dict(zip(SPELL_COLUMNS, spell, strict=True)) for spell in spells],
    )
    ics.deliver(
        "ae_attendances_RX1_20241231.csv",
        [
            {"attendance_id": "E1", "nhs_number": A, "arrival_datetime": "2024-04-01T10:00"},
            {"attendance_id": "E2", "nhs_number": B, "arrival_datetime": "2024-07-17T09:00"},
            {"attendance_id": "E3", "nhs_number": D, "arrival_datetime": "2024-12-01T23:30"},
            {"attendance_id": "E4", "nhs_number": D, "arrival_datetime": "2024-12-02T00:10"},
        ],
    )
    tables = computed_tables(ics, only=("HU06", "HU07"))
    yield next(tables)
    tables.close()


@pytest.fixture(scope="module")
def values(computed):
    return computed[0]


def facts(computed, number: str) -> dict:
    """The cohort row of the decedent who died on that person's day (one death a day)."""
    cohort = computed[1]
    rows = cohort.filter(cohort["date_of_death"] == DIED[number]).to_dicts()
    assert len(rows) == 1
    return rows[0]


def pick(values, indicator, **where):
    return pick_row(values, indicator, period_type="rolling_12m", **where)


def test_only_the_indicators_checked_are_computed(values):
    assert set(values["indicator_id"]) == {"HU06", "HU07"}


@pytest.mark.parametrize(
    "person, bed_days",
    [
        (A, 10 + 5 + 6),  # S1 clipped to the window, S2, S3 open at death; not S4, S5
        (B, 0),
        (C, 0),
        (D, 30),  # S6 discharged after death: counted to death
    ],
)
def test_bed_days_in_the_last_six_months(computed, person, bed_days):
    assert facts(computed, person)["bed_days_182d"] == bed_days


def test_the_six_month_window_holds_183_days(computed):
    # S4 ended on 2023-12-31, the day before A's window opened on day 182 before death
    assert DIED[A] - dt.timedelta(days=182) == dt.date(2024, 1, 1)
    assert facts(computed, A)["bed_days_90d"] == 6  # only S3 reaches window_90d


@pytest.mark.parametrize(
    "person, attendances",
    [
        (A, 0),  # day 91 before death: outside
        (B, 1),  # day 90 before death: inside
        (C, 0),
        (D, 1),  # the day of death counts; the day after never does
    ],
)
def test_ae_attendances_in_the_last_90_days(computed, person, attendances):
    assert facts(computed, person)["ae_attendances_90d"] == attendances


def test_hu06_any_ae_attendance_in_the_last_90_days(values):
    row = pick(values, "HU06")
    assert (row["numerator"], row["denominator"]) == (2, 4)
    assert row["value"] == pytest.approx(50.0, rel=1e-12)
    assert row["lower_95"] < 50 < row["upper_95"]  # a proportion: Wilson interval
    assert (row["statistic"], row["polarity"], row["unit"]) == (
        "proportion",
        "lower_is_better",
        "%",
    )


def test_hu07_time_at_home_in_the_last_six_months(values):
    row = pick(values, "HU07")
    assert (row["numerator"], row["denominator"]) == (21 + 30, 4)
    assert row["value"] == pytest.approx(100 - 100 * 51 / (4 * 182.5), rel=1e-12)
    assert row["value"] == pytest.approx(93.0137, abs=1e-4)
    # a percentage of time: no interval, so no comparison and no trend
    assert row["lower_95"] is None and row["upper_99_8"] is None
    assert row["comparison"] == "not_compared" and row["trend"] is None
    assert (row["statistic"], row["polarity"], row["unit"]) == (
        "percentage_of_time",
        "higher_is_better",
        "%",
    )


def test_hu07_at_every_level_and_breakdown(values):
    practice = pick(values, "HU07", geography_level="practice", geography_code="A81001")
    assert (practice["numerator"], practice["denominator"]) == (51, 4)
    female = pick(values, "HU07", breakdown="sex", breakdown_value="female")
    assert female["value"] == pytest.approx(100 - 100 * 51 / 730, rel=1e-12)


def test_hu07_is_published_from_the_rounded_day_total_and_people():
    """Disclosure rule 2 for HU07: the value from the rounded bed days and decedents; rule 1:
    a day total of 1-7 suppresses the row as 1-7 decedents do (as HU04's bed days)."""
    import polars as pl

    def row(value_key: str, bed_days: int, people: int) -> dict:
        return {
            "indicator_id": "HU07",
            "period_type": "rolling_12m",
            "period_end": dt.date(2024, 12, 31),
            "geography_level": "ics",
            "geography_code": "QTT",
            "breakdown": "age_band",
            "breakdown_value": value_key,
            "numerator": bed_days,
            "denominator": people,
            "statistic": "percentage_of_time",
            "value": 100 - 100 * bed_days / (people * 182.5),
            "lower_95": None,
            "upper_95": None,
            "lower_99_8": None,
            "upper_99_8": None,
        }

    rows = pl.DataFrame(
        [
            row("65-74", 1234, 57),  # published: 1235 over 55
            row("75-84", 2184, 12),  # 2185 over 10: 100 - 119.7, shown as 0 (clipped)
            row("85+", 5, 40),  # a day total of 5: suppressed
            row("18-64", 300, 9),  # the smallest other cell: the complement of 85+ (rule 3)
        ]
    )
    published = apply_disclosure_control(rows).to_dicts()
    assert published[0]["numerator"] == 1235 and published[0]["denominator"] == 55
    assert published[0]["value"] == pytest.approx(100 - 100 * 1235 / (55 * 182.5), rel=1e-12)
    assert published[1]["value"] == 0.0
    assert published[2]["suppressed"] and published[2]["value"] is None
    assert published[3]["suppressed"]
