"""An ICS's own layout (config.md v3 `layouts_folder`, sources.md v3): a YAML file in a folder
of the ICS, named by a provider's registration, loads a delivery through a real run with no
Python change.

The layout is for the identifiable deaths file NHS England's DARS sends (DEC_NHS_NUMBER, dates
as yyyyMMdd, sex as a word, the place of death as a local code list it ships beside the
layout). Two rows load, one is filtered (a cancelled registration), one is quarantined with
the reason naming the source column the sender wrote (the layout leaves a date it cannot read as
it came; the contract's rules hold the row back), worked by hand:

    row  DEC_NHS_NUMBER  DATE_OF_DEATH  DATE_OF_BIRTH  SEX     PLACE   CANCELLED  outcome
    1    nhs(0)          20240305       19400302       Female  H       N          loads: home, 84
    2    nhs(1)          20240410       19300101       Male    HOSP    (empty)    loads: hospital, 94, I21X as I21
    3    nhs(2)          20240411       19500101       Male    H       Y          filtered
    4    nhs(3)          20240231       19500101       Male    H       N          quarantined (no such date)
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
import yaml

from diewell import pipeline, warehouse
from diewell.config import load_config
from diewell.transforms.pseudonymise import pseudonym
from tests.conftest import TEST_KEY, TinyIcs, nhs

LAYOUT = """\
layout: dars_deaths
description: Identifiable civil registration deaths as DARS sends them (a test of the ICS's own layouts).
source:
  required: [DEC_NHS_NUMBER, DATE_OF_DEATH, DATE_OF_BIRTH, SEX, PLACE, CAUSE, LSOA]
  optional: [CANCELLED]
targets:
  deaths:
    filters:
      - reason: cancelled_registration
        when: {CANCELLED: ["Y"]}
    columns:
      nhs_number: {from: DEC_NHS_NUMBER}
      date_of_death: {form: date, from: DATE_OF_DEATH, formats: [YYYYMMDD]}
      date_of_birth: {form: date, from: DATE_OF_BIRTH, formats: [YYYYMMDD]}
      sex:
        form: map
        from: SEX
        codes: {Male: "1", Female: "2"}
      underlying_cause_icd10: {form: icd10, from: CAUSE}
      place_of_death:
        form: map
        from: PLACE
        codes: {H: home, HOSP: hospital}
      lsoa_code: {from: LSOA}
"""
COLUMNS = [
    "DEC_NHS_NUMBER",
    "DATE_OF_DEATH",
    "DATE_OF_BIRTH",
    "SEX",
    "PLACE",
    "CAUSE",
    "LSOA",
    "CANCELLED",
]
ROWS = [
    (nhs(0), "20240305", "19400302", "Female", "H", "C349", "E01000001", "N"),
    (nhs(1), "20240410", "19300101", "Male", "HOSP", "I21X", "E01000001", ""),
    (nhs(2), "20240411", "19500101", "Male", "H", "C20X", "E01000001", "Y"),
    (nhs(3), "20240231", "19500101", "Male", "H", "C20X", "E01000001", "N"),
]


@pytest.fixture
def ics(tmp_path, monkeypatch):
    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", TEST_KEY)
    ics = TinyIcs(tmp_path / "ics", [{"code": "QTT", "name": "ICB", "extracts": ["deaths"]}])
    raw = yaml.safe_load(ics.config_path.read_text(encoding="utf-8"))
    raw["providers"][0]["layouts"] = {"deaths": "dars_deaths"}
    raw["layouts_folder"] = "layouts"
    ics.config_path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    (ics.root / "layouts").mkdir()
    (ics.root / "layouts" / "dars_deaths.yaml").write_text(LAYOUT, encoding="utf-8")
    ics.deliver(
        "deaths_QTT_20240430.csv", [dict(zip(COLUMNS, r, strict=True)) for r in ROWS], COLUMNS
    )
    return ics


def test_a_layout_file_in_the_icss_folder_loads_a_delivery_with_no_code_change(ics):
    config = load_config(ics.config_path)
    con = pipeline.open_warehouse(config)
    try:
        pipeline.start_run(con, config, "run-1")
        [outcome] = pipeline.ingest(con, config, "run-1")
    finally:
        pipeline.close_warehouse(con)
    assert (outcome.status, outcome.layout) == ("loaded", "dars_deaths")
    assert (outcome.rows_read, outcome.rows_loaded, outcome.rows_quarantined) == (4, 2, 1)
    assert (outcome.rows_filtered, outcome.filtered_by_reason) == (1, {"cancelled_registration": 1})

    con = duckdb.connect(str(warehouse.working_path(config.warehouse)), read_only=True)
    try:
        deaths = con.execute(
            "SELECT person_id, date_of_birth, date_of_death, sex, underlying_cause_icd10, "
            "place_of_death FROM stg_deaths ORDER BY date_of_death"
        ).fetchall()
        held = con.execute("SELECT row_number, rule, column_name FROM quarantine_rows").fetchall()
        recorded = con.execute(
            "SELECT layout, rows_read, rows_loaded, rows_quarantined, rows_filtered, "
            "filtered_by_reason, rows_formed FROM landing_files"
        ).fetchall()
    finally:
        con.close()
    key = TEST_KEY.encode()
    assert deaths == [
        (pseudonym(nhs(0), key), dt.date(1940, 3, 2), dt.date(2024, 3, 5), "2", "C349", "home"),
        (pseudonym(nhs(1), key), dt.date(1930, 1, 1), dt.date(2024, 4, 10), "1", "I21", "hospital"),
    ]
    [(row, rule, column)] = held
    assert (row, rule, column) == (4, "unparseable_date", "DATE_OF_DEATH")  # the file's own
    # three rows formed (the filtered one forms none); the contract's rules held one back
    assert recorded == [("dars_deaths", 4, 2, 1, 1, '{"cancelled_registration": 1}', 3)]


def test_diewell_check_applies_the_icss_own_layout_as_a_run_does(ics):
    from diewell.expectations.check import LOADS, check_file

    config = load_config(ics.config_path)
    check = check_file(ics.root / "landing" / "deaths_QTT_20240430.csv", config)
    assert (check.verdict, check.layout) == (LOADS, "dars_deaths")
    assert (check.rows_read, check.rows_held_back, check.rows_filtered) == (4, 1, 1)
    [finding] = check.findings.select("row_number", "rule", "column").rows()
    assert finding == (4, "unparseable_date", "DATE_OF_DEATH")
