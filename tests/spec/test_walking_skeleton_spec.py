"""Spec tests on a tiny hand-built ICS: cohort facts and PD01-PD06, ND01 worked out by hand.

The ICS: two LSOAs (E01000001 IMD decile 1 in place P1; E01000002 decile 10 in place P2), two
practices (A81001 in PCN1/P1, A81002 in PCN2/P2), one acute trust RX1, one hospice HSP1.
Eight deaths in 2024, one of them neonatal (excluded), so seven decedents:

    who  place of death      cause   age sex LSOA (quintile)  practice   external  need
    A    home                C34.9    80  F   1 (1)            A81001     no        yes (cancer)
    B    10 -> hospital      I21      70  M   2 (5)            A81002     no        yes (heart)
    C    40 -> care_home     F03      90  F   1 (1)            A81001     no        yes (dementia)
    D    30 -> hospice       C50      60  F   2 (5)            A81002     no        yes (cancer)
    E    other               W19      85  M   1 (1)            A81001     yes       no
    F    20 -> home          R54      95  M   2 (5)            (none)     no        yes (frailty)
    G    hospital            P07      0   M   1                A81001     -- neonatal: excluded --
    H    hospital            J44      75  F   1 (1)            A81001     no        yes (respiratory)
"""

from __future__ import annotations

import datetime as dt

import pytest

from diewell import pipeline
from diewell.config import load_config
from diewell.warehouse.indicators import compute as indicators
from tests.conftest import DEATHS_COLUMNS, TinyIcs, nhs
from tests.spec.tiny_values import pick as pick_row

A_DOD = dt.date(2024, 6, 30)


def years_before(d: dt.date, years: int) -> str:
    return d.replace(year=d.year - years).isoformat()


def death(i, dod, age, sex, cause, place, lsoa, practice):
    return {
        "nhs_number": nhs(i),
        "date_of_birth": years_before(dod, age)
        if age
        else (dod - dt.timedelta(days=10)).isoformat(),
        "date_of_death": dod.isoformat(),
        "sex": sex,
        "underlying_cause_icd10": cause,
        "place_of_death": place,
        "lsoa_code": lsoa,
        "gp_practice_code": practice,
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import os

    from tests.conftest import TEST_KEY

    os.environ["DIEWELL_PSEUDO_KEY"] = TEST_KEY
    ics = TinyIcs(
        tmp_path_factory.mktemp("tiny"),
        providers=[
            {
                "code": "QTT",
                "name": "ICB",
                "extracts": ["deaths", "gp_population", "ref_lsoa", "ref_practice"],
            },
            {"code": "RX1", "name": "Trust", "extracts": ["apc_spells", "ae_attendances"]},
            {"code": "A81001", "name": "Surgery 1", "extracts": ["palliative_register"]},
            {"code": "A81002", "name": "Surgery 2", "extracts": ["palliative_register"]},
            {"code": "HSP1", "name": "Hospice", "extracts": ["hospice_contacts"]},
        ],
    )
    ics.deliver(
        "ref_lsoa_QTT_20241231.csv",
        [
            {
                "lsoa_code": "E01000001",
                "imd_decile": "1",
                "place_code": "P1",
                "place_name": "Place One",
            },
            {
                "lsoa_code": "E01000002",
                "imd_decile": "10",
                "place_code": "P2",
                "place_name": "Place Two",
            },
        ],
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
                "place_name": "Place One",
            },
            {
                "gp_practice_code": "A81002",
                "practice_name": "Surgery 2",
                "pcn_code": "PCN2",
                "pcn_name": "PCN Two",
                "place_code": "P2",
                "place_name": "Place Two",
            },
        ],
    )
    ics.deliver("deaths_QTT_20240131.csv", [], DEATHS_COLUMNS)  # header only: nothing this month
    deaths = [
        death(0, A_DOD, 80, "2", "C34.9", "home", "E01000001", "A81001"),
        death(1, dt.date(2024, 3, 3), 70, "1", "I21", "10", "E01000002", "A81002"),
        death(2, dt.date(2024, 5, 5), 90, "2", "F03", "40", "E01000001", "A81001"),
        death(3, dt.date(2024, 7, 7), 60, "2", "C50", "30", "E01000002", "A81002"),
        death(4, dt.date(2024, 8, 8), 85, "1", "W19", "other", "E01000001", "A81001"),
        death(5, dt.date(2024, 9, 9), 95, "1", "R54", "20", "E01000002", ""),
        death(6, dt.date(2024, 10, 10), 0, "1", "P07", "hospital", "E01000001", "A81001"),
        death(7, dt.date(2024, 11, 11), 75, "2", "J44", "hospital", "E01000001", "A81001"),
    ]
    bad = dict(deaths[7], nhs_number="9990000001", date_of_death="2024-11-12")  # wrong check digit
    ics.deliver("deaths_QTT_20241231.csv", [*deaths, bad], DEATHS_COLUMNS)

    # Person A's hospital activity around the 90-day window [2024-04-01, 2024-06-30].
    a = nhs(0)
    spells = [
        (
            "S1",
            "2024-03-31",
            "22",
            "2024-04-05",
        ),  # emergency, admitted day -91: not counted; 4 bed days
        ("S2", "2024-04-01", "21", "2024-04-03"),  # emergency on day -90: counted; 2 bed days
        ("S3", "2024-06-20", "11", "2024-06-22"),  # elective: not an emergency; 2 bed days
        ("S4", "2024-06-30", "2A", ""),  # emergency on the day of death: counted; 0 bed days
    ]
    ics.deliver(
        "apc_spells_RX1_20240630.csv",
        [
            {
                "spell_id": s,
                "nhs_number": a,
                "admission_date": adm,
                "admission_method": m,
                "discharge_date": dis,
            }
            for s, adm, m, dis in spells
        ],
    )
    ics.deliver(  # admitted the day after death: never counts
        "apc_spells_RX1_20240731.csv",
        [
            {
                "spell_id": "S5",
                "nhs_number": a,
                "admission_date": "2024-07-01",
                "admission_method": "21",
                "discharge_date": "2024-07-02",
            }
        ],
    )
    ics.deliver(
        "ae_attendances_RX1_20240731.csv",
        [
            {"attendance_id": "E1", "nhs_number": a, "arrival_datetime": "2024-03-31T23:59"},
            {"attendance_id": "E2", "nhs_number": a, "arrival_datetime": "2024-04-01T00:05"},
            {"attendance_id": "E3", "nhs_number": a, "arrival_datetime": "2024-06-30 23:00:00"},
            {"attendance_id": "E4", "nhs_number": a, "arrival_datetime": "2024-07-01T00:01"},
        ],
    )
    register_columns = [
        "nhs_number",
        "gp_practice_code",
        "date_added",
        "preferred_place_of_death",
        "preferred_place_recorded_date",
        "care_plan_date",
        "ethnic_category",
    ]
    ics.deliver(
        "palliative_register_A81001_20241231.csv",
        [
            {
                "nhs_number": a,
                "gp_practice_code": "A81001",
                "date_added": "15/01/2024",
                "preferred_place_of_death": "20",
                "preferred_place_recorded_date": "2024-02-01",
                "care_plan_date": "2024-02-01",
                "ethnic_category": "A",
            },
            {
                "nhs_number": nhs(2),
                "gp_practice_code": "A81001",
                "date_added": "2024-05-05",  # day of death
                "preferred_place_of_death": "",
                "preferred_place_recorded_date": "",
                "care_plan_date": "2024-05-05",
                "ethnic_category": "",
            },
            {
                "nhs_number": nhs(7),
                "gp_practice_code": "A81001",
                "date_added": "2024-01-01",
                "preferred_place_of_death": "not_stated",
                "preferred_place_recorded_date": "2024-01-01",
                "care_plan_date": "",
                "ethnic_category": "B",
            },
        ],
        register_columns,
    )
    ics.deliver(
        "hospice_contacts_HSP1_20231231.csv",
        [
            {
                "contact_id": "H1",
                "nhs_number": a,
                "contact_date": "2023-06-30",
                "setting": "home",
            },  # day -366
            {
                "contact_id": "H2",
                "nhs_number": a,
                "contact_date": "2023-07-01",
                "setting": "home",
            },  # day -365
        ],
    )
    ics.deliver(  # a sender not registered in the ICS: rejected whole
        "deaths_ZZZ99_20241231.csv",
        [death(8, A_DOD, 50, "1", "C20", "home", "E01000001", "A81001")],
    )
    config = load_config(ics.config_path)
    con = pipeline.open_warehouse(config)
    run_id = "test-run"
    pipeline.start_run(con, config, run_id)
    outcomes = pipeline.ingest(con, config, run_id)
    pipeline.build(con)
    yield {"config": config, "con": con, "outcomes": outcomes, "a": a}
    con.close()


def cohort_row(con, person_index: int, key: bytes = b"") -> dict:
    from diewell.transforms.pseudonymise import pseudonym
    from tests.conftest import TEST_KEY

    pid = pseudonym(nhs(person_index), TEST_KEY.encode())
    cur = con.execute("SELECT * FROM mart_decedent_cohort WHERE person_id = ?", [pid])
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()  # fetch to the end: DuckDB 2 keeps a half-read result open
    return dict(zip(names, rows[0], strict=True)) if rows else {}


def test_rejected_and_quarantined_files_are_accounted(tiny):
    by_name = {o.file_name: o for o in tiny["outcomes"]}
    assert by_name["deaths_ZZZ99_20241231.csv"].status == "rejected"
    assert by_name["deaths_ZZZ99_20241231.csv"].rule == "provider_not_registered"
    deaths = by_name["deaths_QTT_20241231.csv"]
    assert (deaths.rows_read, deaths.rows_loaded, deaths.rows_quarantined) == (9, 8, 1)
    rule, value = (
        tiny["con"]
        .execute(
            "SELECT rule, value FROM quarantine_rows WHERE file_name = 'deaths_QTT_20241231.csv'"
        )
        .fetchall()[0]
    )
    assert rule == "invalid_nhs_number"
    assert value == "********01"  # masked
    rejected = tiny["config"].rejected
    assert (rejected / "deaths_ZZZ99_20241231.csv").exists()
    assert (
        "not a registered provider"
        in (rejected / "deaths_ZZZ99_20241231.csv.reason.txt").read_text()
    )
    assert by_name["deaths_QTT_20240131.csv"].status == "loaded"  # header-only is valid


def test_no_raw_nhs_number_in_the_warehouse(tiny):
    con = tiny["con"]
    numbers = {nhs(i) for i in range(9)}
    tables = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
    for table in tables:
        for row in con.execute(f"SELECT * FROM {table}").fetchall():
            for cell in row:
                assert str(cell).replace(" ", "") not in numbers, f"raw NHS number in {table}"


def test_neonatal_death_is_excluded(tiny):
    assert tiny["con"].execute("SELECT count(*) FROM mart_decedent_cohort").fetchall()[0][0] == 7
    assert cohort_row(tiny["con"], 6) == {}


def test_window_edges_for_person_a(tiny):
    a = cohort_row(tiny["con"], 0)
    assert (
        a["emergency_admissions_90d"] == 2
    )  # S2 (day -90) and S4 (day 0); not S1 (day -91), not S5
    assert a["bed_days_90d"] == 4 + 2 + 2 + 0
    assert a["ae_attendances_90d"] == 2  # E2 (day -90, 00:05) and E3 (day 0, 23:00)
    assert a["spc_contact_12m"] is True
    assert a["first_spc_contact_date"] == dt.date(2023, 7, 1)  # day -365 counts; day -366 does not


def test_register_facts(tiny):
    a = cohort_row(tiny["con"], 0)
    assert a["on_register"] is True
    assert a["days_on_register"] == (A_DOD - dt.date(2024, 1, 15)).days == 167
    assert a["care_plan_before_death"] is True
    assert a["preferred_place_of_death"] == "home"  # code 20 means home
    assert a["died_in_preferred_place"] is True
    assert a["ethnicity"] == "A"
    c = cohort_row(tiny["con"], 2)  # added on the day of death: not before death
    assert c["on_register"] is False and c["days_on_register"] is None
    assert c["care_plan_before_death"] is False
    h = cohort_row(tiny["con"], 7)  # preferred place 'not_stated' does not count
    assert h["on_register"] is True
    assert h["preferred_place_recorded"] is False and h["died_in_preferred_place"] is False


def test_derived_groups(tiny):
    con = tiny["con"]
    expected = {
        0: ("75-84", "female", "1", "P1", "PCN1", "A81001", "cancer", True, False, "home"),
        1: ("65-74", "male", "5", "P2", "PCN2", "A81002", "organ_failure", True, False, "hospital"),
        2: (
            "85+",
            "female",
            "1",
            "P1",
            "PCN1",
            "A81001",
            "dementia_frailty",
            True,
            False,
            "care_home",
        ),
        3: ("18-64", "female", "5", "P2", "PCN2", "A81002", "cancer", True, False, "hospice"),
        4: ("85+", "male", "1", "P1", "PCN1", "A81001", "other", False, True, "other"),
        5: (
            "85+",
            "male",
            "5",
            "P2",
            "unknown",
            "unknown",
            "dementia_frailty",
            True,
            False,
            "home",
        ),
        7: (
            "75-84",
            "female",
            "1",
            "P1",
            "PCN1",
            "A81001",
            "organ_failure",
            True,
            False,
            "hospital",
        ),
    }
    for i, want in expected.items():
        r = cohort_row(con, i)
        got = (
            r["age_band"],
            r["sex"],
            r["imd_quintile"],
            r["place_code"],
            r["pcn_code"],
            r["practice_code"],
            r["condition_group"],
            r["palliative_need"],
            r["external_cause"],
            r["place_of_death"],
        )
        assert got == want, f"person {i}"


@pytest.fixture(scope="module")
def values(tiny):
    pipeline.compute(tiny["con"], tiny["config"], "test-run")
    return indicators.read_values(tiny["con"])


def pick(values, indicator, level="ics", code="QTT", breakdown="all", breakdown_value="all"):
    return pick_row(
        values, indicator, level, code, breakdown, breakdown_value, period_type="rolling_12m"
    )


@pytest.mark.parametrize(
    "indicator, numerator, denominator",
    [
        ("PD01", 2, 7),  # A, F at home
        ("PD02", 1, 7),  # C
        ("PD03", 2, 7),  # B, H
        ("PD04", 1, 7),  # D
        ("PD05", 1, 7),  # E
        ("PD06", 3, 6),  # A, C, F of the six without an external cause (E excluded)
        ("ND01", 6, 7),  # everyone but E
    ],
)
def test_ics_values(values, indicator, numerator, denominator):
    row = pick(values, indicator)
    assert (row["numerator"], row["denominator"]) == (numerator, denominator)
    assert row["value"] == pytest.approx(100 * numerator / denominator, rel=1e-12)
    assert row["lower_95"] < row["value"] < row["upper_95"]
    assert row["period_start"] == dt.date(2024, 1, 1) and row["period_end"] == dt.date(2024, 12, 31)
    assert row["data_complete"] is True


def test_breakdowns_and_geographies(values):
    assert (
        pick(values, "PD03", breakdown="imd_quintile", breakdown_value="1")["numerator"],
        pick(values, "PD03", breakdown="imd_quintile", breakdown_value="1")["denominator"],
    ) == (1, 4)
    q5 = pick(values, "PD03", breakdown="imd_quintile", breakdown_value="5")
    assert (q5["numerator"], q5["denominator"]) == (1, 3)
    p1 = pick(values, "PD01", level="place", code="P1")
    assert (p1["numerator"], p1["denominator"], p1["geography_name"]) == (1, 4, "Place One")
    unknown = pick(values, "PD01", level="practice", code="unknown")
    assert (unknown["numerator"], unknown["denominator"]) == (1, 1)  # F has no practice
    pcn2 = pick(values, "ND01", level="pcn", code="PCN2")
    assert (pcn2["numerator"], pcn2["denominator"]) == (2, 2)  # B, D
    male = pick(values, "PD06", breakdown="sex", breakdown_value="male")
    assert (male["numerator"], male["denominator"]) == (1, 2)  # B, F without E


def test_no_financial_year_without_full_coverage(values):
    # deaths cover January-December 2024 only: no April-March year is complete
    assert values.filter(values["period_type"] == "financial_year").height == 0


# Decedent indicators of the full catalogue, worked by hand on the same seven decedents.
# Need cohort (palliative_need): A, B, C, D, F, H = 6. Register: A added 2024-01-15 (167 days
# before death on 2024-06-30), C added on the day of death (does not count), H added
# 2024-01-01 (315 days before 2024-11-11). A's preferred place '20' (home) recorded
# 2024-02-01 and A died at home; H's preferred place is 'not_stated'. A's care plan is dated
# 2024-02-01, C's on the day of death. Nobody has ReSPECT or "what matters" dates.
# A's emergency admissions in [2024-04-01, 2024-06-30]: S2 (day -90) and S4 (day of death) = 2;
# bed days inside the window: S1 4 (04-01..04-05), S2 2, S3 2, S4 0 = 8; A&E: E2 and E3 = 2.
# A's hospice contacts: H1 on day -366 (outside), H2 on day -365 (inside): first SPC 2023-07-01.
@pytest.mark.parametrize(
    "indicator, numerator, denominator, value",
    [
        ("ID01", 2, 6, 100 * 2 / 6),  # A, H
        ("ID02", 2, 6, 100 * 2 / 6),  # A (167 days), H (315 days) both >= 91
        ("ID03", None, 2, (167 + 315) / 2),  # median of A and H
        ("CP01", 1, 6, 100 * 1 / 6),  # A (C's plan is on the day of death)
        ("CP02", 0, 6, 0.0),
        ("CP03", 1, 6, 100 * 1 / 6),  # A (H's is not_stated)
        ("CP04", 1, 1, 100.0),  # A wished for home and died at home
        ("CP05", 0, 6, 0.0),
        ("HU01", 0, 7, 0.0),  # A has 2, nobody has 3
        ("HU02", 1, 7, 100 * 1 / 7),
        ("HU03", 2, 7, 100 * 2 / 7),  # 2 admissions per 7 decedents, per 100
        ("HU04", 8, 7, 8 / 7),  # mean bed days
        ("HU05", 2, 7, 100 * 2 / 7),
        ("SP01", 1, 6, 100 * 1 / 6),  # A, through H2 on day -365
        ("SP02", 0, 1, 0.0),  # A's first contact was a year before death
    ],
)
def test_decedent_indicator_values(values, indicator, numerator, denominator, value):
    row = pick(values, indicator)
    assert (row["numerator"], row["denominator"]) == (numerator, denominator)
    assert row["value"] == pytest.approx(value, rel=1e-12)


def test_intervals_follow_the_statistic(values):
    hu03 = pick(values, "HU03")  # 2 events: exact Poisson limits (chi-squared), per 100
    # qchisq(0.025, 4)/2 = 0.24220928 and qchisq(0.975, 6)/2 = 7.22468767 (R), over 7 decedents
    assert hu03["lower_95"] == pytest.approx(100 * 0.2422092768 / 7, rel=1e-8)
    assert hu03["upper_95"] == pytest.approx(100 * 7.2246876731 / 7, rel=1e-8)
    for indicator in ("ID03", "HU04"):  # medians and means carry no interval
        row = pick(values, indicator)
        assert row["lower_95"] is None and row["comparison"] == "not_compared"


def test_ethnicity_only_for_register_cohorts(values):
    a = pick(values, "CP04", breakdown="ethnicity", breakdown_value="A")
    assert (a["numerator"], a["denominator"]) == (1, 1)
    assert (
        values.filter(
            (values["indicator_id"] == "PD01") & (values["breakdown"] == "ethnicity")
        ).height
        == 0
    )


def test_no_deprivation_gap_without_all_five_quintiles(values):
    # the tiny ICS has LSOAs in quintiles 1 and 5 only: the SII cannot be calculated
    sii = values.filter(values["breakdown"] == "imd_sii")
    assert sii.height == 0 or sii["value"].is_null().all()
