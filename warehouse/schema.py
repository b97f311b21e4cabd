"""The warehouse: schema."""

from __future__ import annotations

import datetime as dt

import duckdb

from diewell.expectations.contracts import Contract, all_contracts
from diewell.warehouse.connection import SQL_DIR
from diewell.warehouse.describe import describe
from diewell.warehouse.staging import sql_type_of_contract, staging_ddl, staging_table


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
        done += _retype_staging(con, contract)
    describe(con)
    return done


def _retype_staging(con: duckdb.DuckDBPyConnection, contract: Contract) -> list[str]:
    """Give a staging table made before a contract type had its own DuckDB type (a `number`
    column kept as text until `number` became DOUBLE) the type its contract says now; the
    changes made, as `stg_x.column -> TYPE`. The values were validated as that type on load,
    so the cast cannot fail on a row that loaded."""
    table = staging_table(contract.extract)
    have = dict(
        con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?",
            [table],
        ).fetchall()
    )
    changed = []
    for c in contract.columns:
        want = sql_type_of_contract(c.type)
        if want != "VARCHAR" and have.get(c.name) == "VARCHAR":
            con.execute(f"ALTER TABLE {table} ALTER {c.name} SET DATA TYPE {want}")
            changed.append(f"{table}.{c.name} -> {want}")
    return changed
