"""warehouse.GatheredInserts: parts gathered into fewer INSERTs keep every row, in order,
typed as they would be one INSERT a part."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest

from diewell.warehouse import GatheredInserts


def part(start: int, n: int) -> pa.Table:
    return pa.table({"k": list(range(start, start + n)), "label": [f"r{i}" for i in range(n)]})


@pytest.mark.parametrize("rows", [1, 4, 7, 1000])
def test_every_row_in_the_order_added_whatever_the_gathering(rows):
    con = duckdb.connect()
    table = GatheredInserts(con, "t", create=True, rows=rows)
    for start, n in ((0, 3), (3, 1), (4, 5), (9, 2)):
        table.add(part(start, n))
    table.close()
    assert [r[0] for r in con.execute("SELECT k FROM t").fetchall()] == list(range(11))
    assert con.execute("SELECT label FROM t WHERE k = 4").fetchone() == ("r0",)


def test_the_first_insert_creates_and_replaces_the_table():
    con = duckdb.connect()
    con.execute("CREATE TABLE t AS SELECT 'old' AS k")
    table = GatheredInserts(con, "t", create=True, rows=2)
    table.add(part(0, 3))
    table.add(part(3, 3))
    table.close()
    assert con.execute("SELECT count(*), min(k), max(k) FROM t").fetchone() == (6, 0, 5)
    assert con.execute(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_name = 't' AND column_name = 'k'"
    ).fetchone() == ("BIGINT",)


def test_a_part_typed_otherwise_goes_in_on_its_own_and_duckdb_casts_it():
    con = duckdb.connect()
    con.execute("CREATE TABLE t (k DOUBLE, label VARCHAR)")
    table = GatheredInserts(con, "t", rows=1000)
    table.add(part(0, 2))
    table.add(pa.table({"k": [2.5], "label": ["x"]}))  # k a double: not one Arrow schema
    table.add(part(3, 1))
    table.close()
    assert con.execute("SELECT k FROM t").fetchall() == [(0.0,), (1.0,), (2.5,), (3.0,)]


def test_nothing_added_writes_nothing():
    con = duckdb.connect()
    table = GatheredInserts(con, "t", create=True)
    table.close()
    assert con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 't'"
    ).fetchone() == (0,)


def test_a_second_gathering_for_the_same_table_replaces_it_again():
    """Each refresh's compute gathers the mart anew on its connection: a second gathering
    with the same arguments is a new one, whose first INSERT replaces the table again."""
    con = duckdb.connect()
    for start in (0, 100):
        table = GatheredInserts(con, "t", create=True, rows=1000)
        table.add(part(start, 3))
        table.close()
    assert [r[0] for r in con.execute("SELECT k FROM t").fetchall()] == [100, 101, 102]
