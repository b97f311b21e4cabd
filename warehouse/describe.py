"""The warehouse: describe."""

from __future__ import annotations

from functools import cache

import duckdb
import yaml

from diewell.expectations.contracts import Contract, all_contracts
from diewell.warehouse.connection import SQL_DIR, quote_sql
from diewell.warehouse.staging import staging_column


@cache
def dictionary() -> dict:
    return yaml.safe_load((SQL_DIR / "dictionary.yaml").read_text(encoding="utf-8"))


def table_description(name: str) -> str | None:
    tables = dictionary()["tables"]
    if name in tables:
        return tables[name]["description"]
    layer, _, extract = name.partition("_")
    contracts = {c.extract: c for c in all_contracts()}
    if layer in ("stg", "core") and extract in contracts:
        c = contracts[extract]
        if layer == "stg":
            return (
                f"Staging: every row of every current {extract} delivery, typed, with the NHS "
                f"number replaced by person_id. {c.description}"
            )
        return (
            f"Core: the current version of each {extract} record ({c.load} semantics of "
            f"extracts.md applied across deliveries). {c.description}"
        )
    return None


def _suite_descriptions(contract: Contract) -> dict[str, str]:
    """The descriptions an extract's suite gives its columns, by staging column name."""
    return {
        staging_column(contract, c.name): c.description
        for c in contract.columns
        if c.description is not None
    }


def column_description(table: str, column: str) -> str | None:
    """A column's description: the dictionary's for the table, else the suite's for a staging
    or core table's column (so a new extract needs no dictionary entry), else the dictionary's
    for the column name, else any table's or suite's (a column name means the same thing
    everywhere)."""
    d = dictionary()
    own = (d["tables"].get(table) or {}).get("columns") or {}
    if column in own:
        return own[column]
    contracts = {c.extract: c for c in all_contracts()}
    layer, _, extract = table.partition("_")
    if layer in ("stg", "core") and extract in contracts:
        from_suite = _suite_descriptions(contracts[extract])
        if column in from_suite:
            return from_suite[column]
    if column in d["columns"]:
        return d["columns"][column]
    for entry in d["tables"].values():
        if column in (entry.get("columns") or {}):
            return entry["columns"][column]
    for contract in contracts.values():
        from_suite = _suite_descriptions(contract)
        if column in from_suite:
            return from_suite[column]
    return None


def user_relations(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    """(name, 'TABLE' | 'VIEW') for every table and view of the warehouse."""
    return con.execute(
        "SELECT table_name, 'TABLE' FROM duckdb_tables() WHERE NOT internal AND schema_name = 'main' "
        "UNION ALL SELECT view_name, 'VIEW' FROM duckdb_views() "
        "WHERE NOT internal AND schema_name = 'main' ORDER BY 1"
    ).fetchall()


def describe(con: duckdb.DuckDBPyConnection) -> None:
    """Write the data dictionary into the database (COMMENT ON) for everything present."""
    columns = con.execute(
        "SELECT table_name, column_name FROM duckdb_columns() "
        "WHERE NOT internal AND schema_name = 'main' ORDER BY table_name, column_index"
    ).fetchall()
    statements = []
    for name, kind in user_relations(con):
        text = table_description(name)
        if text:
            statements.append(f"COMMENT ON {kind} {name} IS {quote_sql(text)}")
    for table, column in columns:
        text = column_description(table, column)
        if text:
            statements.append(f'COMMENT ON COLUMN {table}."{column}" IS {quote_sql(text)}')
    con.execute(";\n".join(statements))
