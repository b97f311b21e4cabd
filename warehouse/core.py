"""The warehouse: core."""

from __future__ import annotations

import duckdb

from diewell.expectations.contracts import Contract, all_contracts
from diewell.warehouse.connection import SQL_DIR
from diewell.warehouse.staging import staging_column


def current_records_sql(contract: Contract) -> str:
    """The statement that builds an extract's core table from its staging table: the template
    of its load (warehouse/core/<load>.sql) with its key (and, cumulative, its latest_by date)."""
    template = (SQL_DIR / "core" / f"{contract.load}.sql").read_text(encoding="utf-8")
    return template.format(
        extract=contract.extract,
        key=", ".join(staging_column(contract, k) for k in contract.key),
        latest_by=contract.latest_by,
    )


def build_current_records(con: duckdb.DuckDBPyConnection) -> None:
    """core_<extract> for every extract: the current version of every delivered record.

    Staging keeps one row per source record of every current delivery (a re-delivery for the
    same extract, provider and period end has already replaced the earlier one); each
    extract's load (its suite's meta.diewell.load) picks the version that counts, ties broken
    so the result is deterministic (warehouse/core/<load>.sql says how).
    """
    con.execute("\n".join(current_records_sql(c) for c in all_contracts()))
