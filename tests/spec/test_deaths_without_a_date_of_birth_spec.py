"""The cohort from deaths that give an age instead of a date of birth (extracts.md v3): a
national deaths feed (PCMD) may carry the age at death and a neonatal marker, not the date
of birth.

Six deaths in 2024, worked by hand:

    who  date of birth  age  neonatal  in the cohort?            age_years  age_band
    P    1944-06-01     80   -         yes (dob: 80 on 2024-06-30)  80       75-84
    Q    -              64   -         yes                          64       18-64
    R    -              0    Y         no: neonatal by the marker   -        -
    S    -              0    N         yes: an infant, not neonatal 0        0-17
    T    -              0    -         yes: no marker, kept         0        0-17
    U    2024-06-20     -    N         no: 10 days by the dob (the dob decides) -  -
"""

from __future__ import annotations

import pytest

from diewell import pipeline
from diewell.config import load_config
from diewell.transforms.pseudonymise import pseudonym
from tests.conftest import TEST_KEY, TinyIcs, nhs

COLUMNS = [
    "nhs_number",
    "date_of_birth",
    "age_at_death",
    "neonatal",
    "date_of_death",
    "sex",
    "underlying_cause_icd10",
    "place_of_death",
    "lsoa_code",
    "gp_practice_code",
]
ROWS = [  # (person, date of birth, age, neonatal)
    (0, "1944-06-01", "80", ""),
    (1, "", "64", ""),
    (2, "", "0", "Y"),
    (3, "", "0", "N"),
    (4, "", "0", ""),
    (5, "2024-06-20", "", "N"),
]
EXPECTED = {0: (80, "75-84"), 1: (64, "18-64"), 3: (0, "0-17"), 4: (0, "0-17")}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    import os

    os.environ["DIEWELL_PSEUDO_KEY"] = TEST_KEY
    ics = TinyIcs(
        tmp_path_factory.mktemp("ages"),
        providers=[{"code": "QTT", "name": "ICB", "extracts": ["deaths"]}],
    )
    ics.deliver(
        "deaths_QTT_20241231.csv",
        [
            dict(
                zip(
                    COLUMNS,
                    [nhs(i), dob, age, neo, "2024-06-30", "2", "C34.9", "home", "E01000001", ""],
                    strict=True,
                )
            )
            for i, dob, age, neo in ROWS
        ],
        COLUMNS,
    )
    config = load_config(ics.config_path)
    con = pipeline.open_warehouse(config)
    try:
        pipeline.start_run(con, config, "test-run")
        outcomes = pipeline.ingest(con, config, "test-run")
        assert [(o.status, o.rows_quarantined) for o in outcomes] == [("loaded", 0)]
        pipeline.build(con)
        rows = con.sql("SELECT person_id, age_years, age_band FROM mart_decedent_cohort").fetchall()
    finally:
        con.close()
    return {pid: (age, band) for pid, age, band in rows}


def test_the_age_comes_from_the_date_of_birth_else_from_the_age_given(cohort):
    expected = {pseudonym(nhs(i), TEST_KEY.encode()): v for i, v in EXPECTED.items()}
    assert cohort == expected  # R (neonatal by marker) and U (neonatal by dob) are not there
