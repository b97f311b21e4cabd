"""The DuckDB warehouse: connecting, schema migrations, and running the SQL in warehouse/.

Layers, by table-name prefix: `meta_` and `landing_` (what arrived and what happened to it),
`stg_` (one row per delivered source record, typed and pseudonymised), `core_` (the current
version of every record after re-deliveries and upserts), `mart_` (the decedent cohort and
indicator values). `quarantine_rows` holds what was held back and why.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl

from transforms.contracts import Contract, all_contracts

SQL_DIR = Path(__file__).resolve().parent.parent / "warehouse"

DUCKDB_TYPES = {
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "integer": "BIGINT",
}


def connect(path: Path, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    return duckdb.connect(str(path), read_only=read_only)


def staging_table(extract: str) -> str:
    return f"stg_{extract}"


def staging_ddl(contract: Contract) -> str:
    """CREATE TABLE for an extract's staging table: the contract's columns, typed, NHS number pseudonymised."""
    cols = [
        "file_id BIGINT NOT NULL",
        "row_number BIGINT NOT NULL",
        "provider VARCHAR NOT NULL",
        "period_end DATE NOT NULL",
    ]
    for c in contract.columns:
        if c.type == "nhs_number":
            cols.append("person_id VARCHAR")
        else:
            cols.append(f"{c.name} {DUCKDB_TYPES.get(c.type, 'VARCHAR')}")
    body = ",\n    ".join(cols)
    return f"CREATE TABLE IF NOT EXISTS {staging_table(contract.extract)} (\n    {body}\n);"


def staging_columns(contract: Contract) -> list[str]:
    return ["file_id", "row_number", "provider", "period_end"] + [
        "person_id" if c.type == "nhs_number" else c.name for c in contract.columns
    ]


def migrate(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Apply every migration in warehouse/migrations not yet recorded; create missing staging tables."""
    con.execute(
        "CREATE TABLE IF NOT EXISTS meta_schema_migrations "
        "(version VARCHAR PRIMARY KEY, applied_at TIMESTAMP NOT NULL)"
    )
    applied = {r[0] for r in con.execute("SELECT version FROM meta_schema_migrations").fetchall()}
    done = []
    for path in sorted((SQL_DIR / "migrations").glob("*.sql")):
        if path.stem in applied:
            continue
        con.execute("BEGIN TRANSACTION")
        con.execute(path.read_text(encoding="utf-8"))
        con.execute(
            "INSERT INTO meta_schema_migrations VALUES (?, ?)",
            [path.stem, dt.datetime.now(dt.UTC).replace(tzinfo=None)],
        )
        con.execute("COMMIT")
        done.append(path.stem)
    for contract in all_contracts():
        con.execute(staging_ddl(contract))
    return done


def run_sql_file(con: duckdb.DuckDBPyConnection, relative: str) -> None:
    """Run one SQL file of warehouse/ (statements separated by ';')."""
    con.execute((SQL_DIR / relative).read_text(encoding="utf-8"))


def sql_text(relative: str) -> str:
    return (SQL_DIR / relative).read_text(encoding="utf-8")


def query_frame(
    con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None
) -> pl.DataFrame:
    """Run a query and return its result as a Polars DataFrame."""
    return con.sql(sql, params=params or None).pl()


def fetch_one(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> tuple | None:
    """The first row of a query's result, the result read to its end (DuckDB 2 requires it
    before the connection is used for anything else)."""
    rows = con.execute(sql, params or []).fetchall()
    return rows[0] if rows else None
