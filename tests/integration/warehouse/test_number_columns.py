"""A suite column of type `number` is DOUBLE in staging (extracts.md: education_sessions.hours,
"more than 0, at most 40"), and a warehouse made when it was text is retyped by migrate."""

from __future__ import annotations

import datetime as dt

from diewell import warehouse


def _type(con, table: str, column: str) -> str:
    return con.execute(
        "SELECT data_type FROM information_schema.columns WHERE table_name = ? AND column_name = ?",
        [table, column],
    ).fetchone()[0]


def test_a_number_column_is_double_and_an_old_text_column_is_retyped(tmp_path):
    con = warehouse.connect(tmp_path / "w.duckdb")
    try:
        warehouse.migrate(con)
        assert _type(con, "stg_education_sessions", "hours") == "DOUBLE"
        # a warehouse from before: the column as text, holding what loads then wrote
        con.execute("ALTER TABLE stg_education_sessions ALTER hours SET DATA TYPE VARCHAR")
        columns = [r[0] for r in con.execute("DESCRIBE stg_education_sessions").fetchall()]
        row = {c: None for c in columns}
        row.update(file_id=1, row_number=1, provider="QTT", period_end=dt.date(2025, 3, 31))
        row["hours"] = "1.5"
        marks = ", ".join("?" for _ in columns)
        con.execute(f"INSERT INTO stg_education_sessions VALUES ({marks})", list(row.values()))
        assert _type(con, "stg_education_sessions", "hours") == "VARCHAR"

        assert "stg_education_sessions.hours -> DOUBLE" in warehouse.migrate(con)
        assert _type(con, "stg_education_sessions", "hours") == "DOUBLE"
        assert con.execute("SELECT hours FROM stg_education_sessions").fetchall() == [(1.5,)]
        assert warehouse.migrate(con) == []  # once only
    finally:
        con.close()
