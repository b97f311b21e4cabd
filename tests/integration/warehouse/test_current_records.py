"""The current-record rules: core_<extract> built from staging by each suite's load and key.

Staging is written by hand here (no ingest), a few rows per load kind, and the core tables
the build gives are compared with the rows worked out by hand from extracts.md's semantics.
"""

from __future__ import annotations

import datetime as dt

import pytest

from diewell import warehouse
from diewell.expectations.contracts import LOADS, all_contracts, load_contract

D = dt.date.fromisoformat


@pytest.fixture
def con(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    warehouse.migrate(con)  # every staging table, empty
    yield con
    con.close()


def stage(con, extract: str, columns: str, rows: list[tuple]) -> None:
    """Insert rows into stg_<extract>: file_id, row_number, provider, period_end, then columns."""
    names = f"file_id, row_number, provider, period_end, {columns}"
    marks = ", ".join("?" for _ in names.split(","))
    for row in rows:
        con.execute(f"INSERT INTO stg_{extract} ({names}) VALUES ({marks})", list(row))


def core(con, extract: str, columns: str) -> list[tuple]:
    return con.execute(f"SELECT {columns} FROM core_{extract} ORDER BY ALL").fetchall()


def test_upsert_the_latest_period_wins_per_provider_and_key_and_a_tie_goes_to_the_later_file(con):
    stage(
        con,
        "apc_spells",
        "spell_id, admission_method",
        [
            (1, 1, "RD1", D("2024-01-31"), "S1", "21"),
            (2, 1, "RD1", D("2024-02-29"), "S1", "22"),  # a later period revises S1
            (6, 1, "RD1", D("2023-12-31"), "S1", "24"),  # arrives last, but an earlier period
            (3, 1, "RD1", D("2024-01-31"), "S2", "11"),
            (4, 1, "RD1", D("2024-01-31"), "S2", "12"),  # same period: the later file wins
            (5, 1, "RX1", D("2024-01-31"), "S1", "23"),  # another trust's S1 is another spell
        ],
    )
    warehouse.build_current_records(con)
    assert core(con, "apc_spells", "provider, spell_id, admission_method, file_id") == [
        ("RD1", "S1", "22", 2),
        ("RD1", "S2", "12", 4),
        ("RX1", "S1", "23", 5),
    ]


def test_cumulative_a_persons_record_is_their_latest_row_across_practices(con):
    stage(
        con,
        "palliative_register",
        "person_id, gp_practice_code, date_added",
        [
            (10, 1, "A81001", D("2024-01-31"), "P1", "A81001", D("2023-05-01")),
            (11, 1, "A81002", D("2024-02-29"), "P1", "A81002", D("2023-01-01")),  # later period
            (
                10,
                2,
                "A81001",
                D("2024-01-31"),
                "P4",
                "A81001",
                D("2023-06-01"),
            ),  # kept: absent later
            (12, 1, "A81001", D("2024-03-31"), "P2", "A81001", D("2024-01-01")),
            (13, 1, "A81002", D("2024-03-31"), "P2", "A81002", D("2024-02-01")),  # later date_added
            (14, 1, "A81002", D("2024-03-31"), "P3", "A81002", D("2024-01-01")),
            (15, 1, "A81001", D("2024-03-31"), "P3", "A81001", D("2024-01-01")),  # tie: provider
        ],
    )
    warehouse.build_current_records(con)
    assert core(con, "palliative_register", "person_id, provider, file_id") == [
        ("P1", "A81002", 11),
        ("P2", "A81002", 13),
        ("P3", "A81001", 15),
        ("P4", "A81001", 10),
    ]


def test_cumulative_the_dementia_register_orders_by_its_own_date(con):
    stage(
        con,
        "dementia_register",
        "person_id, date_diagnosed",
        [
            (1, 1, "A81001", D("2024-03-31"), "P1", D("2022-01-01")),
            (2, 1, "A81002", D("2024-03-31"), "P1", D("2023-01-01")),  # diagnosed later
        ],
    )
    warehouse.build_current_records(con)
    assert core(con, "dementia_register", "person_id, provider") == [("P1", "A81002")]


def test_snapshot_period_each_period_end_keeps_its_own_snapshot(con):
    stage(
        con,
        "gp_population",
        "gp_practice_code, sex, age_band, patients",
        [
            (20, 1, "QTT", D("2024-03-31"), "A81001", "1", "80-84", 100),
            (20, 2, "QTT", D("2024-03-31"), "A81001", "2", "80-84", 120),
            (21, 1, "QTT", D("2024-06-30"), "A81001", "1", "80-84", 105),
            (22, 1, "QTX", D("2024-03-31"), "A81001", "1", "80-84", 101),  # later file, same period
        ],
    )
    warehouse.build_current_records(con)
    assert core(con, "gp_population", "period_end, sex, patients, file_id") == [
        (D("2024-03-31"), "1", 101, 22),
        (D("2024-03-31"), "2", 120, 20),
        (D("2024-06-30"), "1", 105, 21),
    ]


def test_snapshot_table_the_latest_delivery_replaces_the_whole_table(con):
    stage(
        con,
        "ref_lsoa",
        "lsoa_code, imd_decile",
        [
            (30, 1, "QTT", D("2024-03-31"), "E01000001", 1),
            (30, 2, "QTT", D("2024-03-31"), "E01000002", 2),
            (31, 1, "QTT", D("2024-06-30"), "E01000001", 3),
            (31, 2, "QTT", D("2024-06-30"), "E01000003", 4),
            (32, 1, "QTT", D("2024-01-31"), "E01000009", 9),  # an older period, arriving later
        ],
    )
    warehouse.build_current_records(con)
    assert core(con, "ref_lsoa", "lsoa_code, imd_decile, file_id") == [
        ("E01000001", 3, 31),
        ("E01000003", 4, 31),
    ]
    stage(
        con, "ref_lsoa", "lsoa_code, imd_decile", [(33, 1, "QTX", D("2024-06-30"), "E01000001", 5)]
    )
    warehouse.build_current_records(con)  # a later file for the same period end replaces it
    assert core(con, "ref_lsoa", "lsoa_code, imd_decile, file_id") == [("E01000001", 5, 33)]


def test_one_per_person_every_staged_row_is_current(con):
    stage(
        con,
        "deaths",
        "person_id, date_of_death",
        [
            (40, 1, "QTT", D("2024-01-31"), "P1", D("2024-01-02")),
            (41, 3, "QTT", D("2024-02-29"), "P2", D("2024-02-03")),
        ],
    )
    warehouse.build_current_records(con)
    assert core(con, "deaths", "person_id, date_of_death, file_id") == [
        ("P1", D("2024-01-02"), 40),
        ("P2", D("2024-02-03"), 41),
    ]


def test_every_core_table_has_its_staging_columns_but_the_row_number(con):
    warehouse.build_current_records(con)
    for c in all_contracts():
        staged = warehouse.staging_columns(c)
        cols = [r[0] for r in con.execute(f"DESCRIBE core_{c.extract}").fetchall()]
        assert cols == [n for n in staged if n != "row_number"], c.extract


def test_every_load_kind_has_its_sql_and_the_suites_use_them_all():
    assert {c.load for c in all_contracts()} == set(LOADS)
    for load in LOADS:
        assert (warehouse.SQL_DIR / "core" / f"{load}.sql").is_file()
    # the key of a person-keyed extract is its pseudonym in the warehouse
    assert "PARTITION BY person_id ORDER BY period_end DESC, date_added DESC" in (
        warehouse.current_records_sql(load_contract("palliative_register"))
    )
