"""The warehouse: connection."""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa

SQL_DIR = Path(__file__).resolve().parent


# Analysts open the warehouse with the DuckDB their tools bundle (a DBeaver driver, an R
# package, last year's CLI), often older than ours: every warehouse file is written in the
# storage format of DuckDB 1.4 LTS, which 1.4 and every later DuckDB read.
ANALYST_STORAGE_VERSION = "v1.4.0"


def connect(
    path: Path, read_only: bool = False, memory_mib: int | None = None
) -> duckdb.DuckDBPyConnection:
    """Open a warehouse file; a new one is created in ANALYST_STORAGE_VERSION's format.

    `memory_mib` caps what DuckDB holds in memory (a run's `limits.warehouse_memory_mib`):
    past it, joins, sorts and aggregates spill to `<file>.tmp/` beside the warehouse.

    A writing connection turns on the background threads of DuckDB's allocator (jemalloc;
    off by default), which give back to the system what DuckDB has freed. Without them
    the freed memory stayed in the process: at 3M people the resident set after the
    publication steps was 1.5 GiB where DuckDB held 110 MiB, and the run's peak was the cap
    plus what earlier steps had left (benchmarks/README.md)."""
    if read_only:
        return duckdb.connect(str(path), read_only=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        "storage_compatibility_version": ANALYST_STORAGE_VERSION,
        "allocator_background_threads": True,  # a setting of the process, not the connection
    }
    if memory_mib is not None:
        settings["memory_limit"] = f"{memory_mib}MiB"
    return duckdb.connect(str(path), config=settings)


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.strip("v+").split("."))


def storage_version(path: Path) -> str:
    """The storage format a closed warehouse file is written in, e.g. 'v1.4.0'."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        (tags,) = fetch_one(
            con, "SELECT tags FROM duckdb_databases() WHERE database_name = current_database()"
        )
    finally:
        con.close()
    return tags["storage_version"].rstrip("+")


def keep_readable_by_analysts(path: Path) -> bool:
    """Rewrite a closed warehouse file in ANALYST_STORAGE_VERSION's format when it is written
    in a newer one (a warehouse made before this rule); True when it was rewritten.

    The copy is made beside the file (every table, view and comment; COPY FROM DATABASE),
    flushed, and renamed over it, so a crash leaves either the old file or the new one, and
    a rewrite that fails (a full disk, say) removes its copy.
    """
    duckdb.connect(str(path)).close()  # fold any write-ahead log into the file first
    if _version(storage_version(path)) <= _version(ANALYST_STORAGE_VERSION):
        return False
    tmp = path.with_name(f".{path.name}.{os.getpid()}.storage.tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH {quote_sql(str(path))} AS old_format (READ_ONLY)")
        con.execute(
            f"ATTACH {quote_sql(str(tmp))} AS analyst_format "
            f"(STORAGE_VERSION {quote_sql(ANALYST_STORAGE_VERSION)})"
        )
        con.execute("COPY FROM DATABASE old_format TO analyst_format")
        con.execute("DETACH analyst_format")
        con.close()
        with tmp.open("rb") as f:
            os.fsync(f.fileno())
    except BaseException:  # a disk that filled, say: no half-written copy is left behind
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, path)
    return True


def run_sql_file(con: duckdb.DuckDBPyConnection, relative: str) -> None:
    """Run one SQL file of warehouse/ (statements separated by ';')."""
    con.execute((SQL_DIR / relative).read_text(encoding="utf-8"))


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


GATHERED_ROWS = 250_000  # rows an INSERT of GatheredInserts gathers, at least (the last fewer)


class GatheredInserts:
    """Parts of one table's rows (Arrow tables, in order), gathered to about `rows` rows per
    INSERT: an INSERT costs DuckDB about the same whatever its size, and most parts (an
    indicator's rows) are far smaller than that (benchmarks/README.md).
    `rows` is GATHERED_ROWS unless given.
    `create`: the first INSERT is a CREATE OR REPLACE TABLE ... AS, typed by the parts.
    What is held besides DuckDB's table is at most `rows` rows and one part. `close` writes
    what is left; the rows are the parts' in the order they were added. Parts gathered into
    one INSERT have one Arrow schema (a part of another goes into the next)."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        *,
        create: bool = False,
        rows: int | None = None,
    ) -> None:
        self._con, self._table, self._create = con, table, create
        self._rows = GATHERED_ROWS if rows is None else rows
        self._waiting: list = []

    def add(self, part) -> None:
        if self._waiting and part.schema != self._waiting[0].schema:
            self._flush()  # a part typed otherwise goes in alone: DuckDB casts it, as before
        self._waiting.append(part)
        if sum(t.num_rows for t in self._waiting) >= self._rows:
            self._flush()

    def close(self) -> None:
        if self._waiting:
            self._flush()

    def _flush(self) -> None:
        self._con.register("gathered_rows", pa.concat_tables(self._waiting))
        try:
            if self._create:
                self._con.execute(
                    f"CREATE OR REPLACE TABLE {self._table} AS SELECT * FROM gathered_rows"
                )
                self._create = False
            else:
                self._con.execute(f"INSERT INTO {self._table} SELECT * FROM gathered_rows")
        finally:
            self._con.unregister("gathered_rows")
        self._waiting = []


def quote_sql(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
