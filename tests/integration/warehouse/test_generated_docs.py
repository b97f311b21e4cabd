"""The generated docs are current, and the catalogue and the SQL files agree one to one."""

from __future__ import annotations

from diewell.docs import pages, sql_header
from diewell.warehouse import SQL_DIR
from diewell.warehouse.indicators.catalogue import catalogue

REQUIRED_HEADER = {"Definition", "Cohort", "Numerator", "Denominator", "Exclusions", "Sources"}


def test_generated_pages_are_current():
    for path, text in pages().items():
        assert path.read_text(encoding="utf-8") == text, (
            f"{path.name} is out of date: run `.venv/bin/diewell docs` and commit the result"
        )


def test_every_indicator_has_one_sql_file_with_a_full_header():
    ids = [i.id for i in catalogue()]
    assert len(ids) == len(set(ids)) == 40  # 29 of v1, the nine of v2 and HU06, HU07 of v3
    files = sorted(p.stem for p in (SQL_DIR / "indicators").glob("*.sql"))
    assert files == sorted(ids)
    for indicator in catalogue():
        first = indicator.sql.splitlines()[0]
        assert first.startswith(f"-- {indicator.id}  "), indicator.id
        assert REQUIRED_HEADER <= {name for name, _ in sql_header(indicator.sql)}, indicator.id


def test_header_parser_joins_continuation_lines():
    sql = "-- X01  Name\n-- Definition:  one\n--   two\n-- Cohort: all\nSELECT 1"
    assert sql_header(sql) == [("Definition", "one two"), ("Cohort", "all")]
