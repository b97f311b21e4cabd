"""Staging: the writes of a window of files (one transaction), the NHS number pseudonymised as
it is written (no table ever holds it)."""

from __future__ import annotations

import datetime as dt
from collections import deque

import duckdb
import polars as pl
import pyarrow as pa

from diewell.expectations.contracts import POLARS_TYPES, Contract
from diewell.transforms.pseudonymise import PSEUDONYM_SQL


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class WindowWrites:
    """A window's inserts, held and written a table at a time (one INSERT into landing_files,
    into each staging table and into quarantine_rows, instead of three a file: an INSERT
    costs about the same whatever its size), all inside the window's transaction.

    Rows are held with their NHS number (NUMBER_TO_PSEUDONYMISE) and the INSERT turns it
    into person_id (transforms.pseudonymise.PSEUDONYM_SQL, the key's blocks as parameters):
    one query over a window's rows of an extract, where a file at a time cost a few
    milliseconds a file, whatever its size. No table ever holds the number.

    `flushed()` writes what is held and returns the connection. What reads or changes rows
    that a held insert adds asks for it first: the duplicate deaths (staging and
    landing_files) and a re-delivery's supersession; so does the commit. File ids come from
    the sequence as before, reserved a window at a time (ids no file takes are left unused).
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, files: int, key_blocks: tuple[bytes, bytes]
    ) -> None:
        self.con = con
        self.key_blocks = key_blocks  # the parameters of PSEUDONYM_SQL
        self._reserve = max(1, files)
        self._ids: deque[int] = deque()
        self._files: list[dict] = []
        self._staged: dict[str, list[pl.DataFrame]] = {}
        self._quarantined: list[pl.DataFrame] = []

    def record_file(self, **values) -> int:
        """Hold one landing_files row, received now, under the next file id (the columns not
        given are null); return the file id."""
        if not self._ids:
            reserved = self.con.execute(
                "SELECT nextval('landing_file_id') AS id FROM range(?) ORDER BY id",
                [self._reserve],
            ).fetchall()
            self._ids.extend(r[0] for r in reserved)
        file_id = self._ids.popleft()
        self._files.append({**values, "file_id": file_id, "received_at": _now()})
        return file_id

    @staticmethod
    def pseudonym_of(column: str) -> str:
        """The SQL that turns `column`'s NHS numbers into person_ids, with `key_blocks` as
        its parameters (the duplicate deaths match by it; the INSERT writes it)."""
        return PSEUDONYM_SQL.format(column=column)

    def stage(self, table: str, rows: pl.DataFrame) -> None:
        self._staged.setdefault(table, []).append(rows)

    def quarantine(self, findings: pl.DataFrame) -> None:
        self._quarantined.append(findings)

    def flushed(self) -> duckdb.DuckDBPyConnection:
        """Write every held row (landing_files, staging, quarantine_rows); the connection."""
        if self._files:
            # Types as given (every row read); a column no row gives is left to the table's
            # default, and one the table lacks fails the INSERT, as a single row's would.
            files = pl.from_dicts(self._files, infer_schema_length=None)
            _insert(self.con, "landing_files", files)
        for table, frames in self._staged.items():
            held = pl.concat(frames, how="vertical_relaxed")
            if NUMBER_TO_PSEUDONYMISE in held.columns:  # the NHS number becomes person_id
                person_id = self.pseudonym_of(NUMBER_TO_PSEUDONYMISE)
                select = f"* EXCLUDE ({NUMBER_TO_PSEUDONYMISE}), {person_id} AS person_id"
                _insert(self.con, table, held, select, list(self.key_blocks))
            else:
                _insert(self.con, table, held)
        if self._quarantined:
            _insert(self.con, "quarantine_rows", pl.concat(self._quarantined, how="vertical"))
        self._files, self._staged, self._quarantined = [], {}, []
        return self.con


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: pl.DataFrame,
    select: str = "*",
    params: list | None = None,
) -> None:
    """Append a frame to a table (`select` of it), its columns matched by name."""
    con.register("held_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT {select} FROM held_rows", params or [])
    finally:
        con.unregister("held_rows")


# A held row's NHS number, until the INSERT that writes the row turns it into person_id.
NUMBER_TO_PSEUDONYMISE = "nhs_number_to_pseudonymise"


def number_column(contract) -> str | None:
    """The contract's NHS number column, if it has one (staging holds one person_id)."""
    columns = [c.name for c in contract.columns if c.type == "nhs_number"]
    if len(columns) > 1:
        raise ValueError(f"{contract.extract}: a contract has at most one NHS number column")
    return columns[0] if columns else None


def held_columns(contract) -> list[str]:
    """A held row's columns: staging's, with the NHS number in place of person_id."""
    return [NUMBER_TO_PSEUDONYMISE if c == "person_id" else c for c in staging_columns(contract)]


# The DuckDB type of each Arrow type diewell stores (staging from the contract's types, the
# publication tables from the output schema): one map.
SQL_TYPES = {
    pa.string(): "VARCHAR",
    pa.large_string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
    pa.timestamp("us"): "TIMESTAMP",
}


def sql_type_of_contract(column_type: str) -> str:
    """The DuckDB type a contract column is staged as (its Polars type's Arrow type's)."""
    arrow = pl.Series([], dtype=POLARS_TYPES[column_type]).to_arrow().type
    return SQL_TYPES[arrow]


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
            cols.append(f"{c.name} {sql_type_of_contract(c.type)}")
    body = ",\n    ".join(cols)
    return f"CREATE TABLE IF NOT EXISTS {staging_table(contract.extract)} (\n    {body}\n);"


def staging_columns(contract: Contract) -> list[str]:
    return ["file_id", "row_number", "provider", "period_end"] + [
        "person_id" if c.type == "nhs_number" else c.name for c in contract.columns
    ]


def staging_column(contract: Contract, column: str) -> str:
    """A contract column's name in staging and core: an NHS number becomes person_id."""
    return "person_id" if contract.column(column).type == "nhs_number" else column
