"""The DuckDB warehouse: connecting, schema migrations, and running the SQL in warehouse/.

Layers, by table-name prefix: `meta_` and `landing_` (what arrived and what happened to it),
`stg_` (one row per delivered source record, typed and pseudonymised), `core_` (the current
version of every record after re-deliveries and upserts), `mart_` (the decedent cohort and
indicator values). `quarantine_rows` holds what was held back and why.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from functools import cache
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import yaml

from diewell.expectations.contracts import Contract, all_contracts

SQL_DIR = Path(__file__).resolve().parent

# Analysts open the warehouse with the DuckDB their tools bundle (a DBeaver driver, an R
# package, last year's CLI), often older than ours: every warehouse file is written in the
# storage format of DuckDB 1.4 LTS, which 1.4 and every later DuckDB read.
ANALYST_STORAGE_VERSION = "v1.4.0"

DUCKDB_TYPES = {
    "date": "DATE",
    "datetime": "TIMESTAMP",
    "integer": "BIGINT",
    "number": "DOUBLE",
}


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
        con.execute(f"ATTACH {_quote(str(path))} AS old_format (READ_ONLY)")
        con.execute(
            f"ATTACH {_quote(str(tmp))} AS analyst_format "
            f"(STORAGE_VERSION {_quote(ANALYST_STORAGE_VERSION)})"
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


def staging_column(contract: Contract, column: str) -> str:
    """A contract column's name in staging and core: an NHS number becomes person_id."""
    return "person_id" if contract.column(column).type == "nhs_number" else column


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
        want = DUCKDB_TYPES.get(c.type)
        if want and have.get(c.name) == "VARCHAR":
            con.execute(f"ALTER TABLE {table} ALTER {c.name} SET DATA TYPE {want}")
            changed.append(f"{table}.{c.name} -> {want}")
    return changed


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
    INSERT: an INSERT costs DuckDB some 30 ms whatever its size (13,000 rows: 36 ms; 260,000:
    79 ms), and most parts at benchmark size S (an indicator's rows) are 10,000-40,000 rows.
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


# --------------------------------------------------------------------------------------------
# Descriptions: COMMENT ON for every table, view and column, from warehouse/dictionary.yaml


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


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


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
            statements.append(f"COMMENT ON {kind} {name} IS {_quote(text)}")
    for table, column in columns:
        text = column_description(table, column)
        if text:
            statements.append(f'COMMENT ON COLUMN {table}."{column}" IS {_quote(text)}')
    con.execute(";\n".join(statements))


# --------------------------------------------------------------------------------------------
# The analysts' copy: built by the refresh, swapped in whole

REFRESH_DIR = ".refresh"


def working_path(analyst_path: Path) -> Path:
    """The refresh's private warehouse file; analysts read the published copy at analyst_path.

    DuckDB lets only one process hold a file read-write, and while it does no other process
    can open it at all. So the refresh works on its own file and, when a run has finished
    and checkpointed, copies it beside the analysts' file and renames it over that file
    (atomic on POSIX). Readers that already had the old file open keep a consistent old
    snapshot; new connections see the new one; nobody ever sees a half-refreshed state.
    """
    return analyst_path.parent / REFRESH_DIR / analyst_path.name


MIB = 1024 * 1024
# Free disk a swap-in leaves beside the analysts' file at least, for the logs and the next run.
SWAP_IN_SPARE_MIB = 64


class SwapInFailed(RuntimeError):
    """The analysts' copy could not be written; theirs is unchanged, the next run swaps in."""

    def __init__(self, analyst_path: Path, reason: str):
        super().__init__(
            f"{analyst_path.name} was not swapped in: {reason}; the analysts' warehouse is "
            f"unchanged, this run's is kept in {REFRESH_DIR}/ beside it, and the next run "
            "swaps it in"
        )


def publish_snapshot(working: Path, analyst_path: Path) -> None:
    """Copy a closed, checkpointed working file over the analysts' file, atomically.

    The copy is written beside the analysts' file and renamed over it. A disk without room
    for it stops the swap-in before it starts; a copy that fails part-way is removed. Either
    way SwapInFailed says why, and the analysts' file is left as it was.
    """
    wal = working.with_name(working.name + ".wal")
    if wal.exists():  # the writer did not close cleanly: fold the WAL in first
        duckdb.connect(str(working)).close()
    if wal.exists():
        raise RuntimeError(f"{wal} remains after a checkpoint; not publishing a partial warehouse")
    size_mib = working.stat().st_size // MIB
    free_mib = shutil.disk_usage(analyst_path.parent).free // MIB
    if free_mib < size_mib + SWAP_IN_SPARE_MIB:
        raise SwapInFailed(
            analyst_path,
            f"the copy needs {size_mib:,} MiB beside it and {SWAP_IN_SPARE_MIB} MiB to spare, "
            f"and {free_mib:,} MiB is free",
        )
    tmp = analyst_path.with_name(f".{analyst_path.name}.{os.getpid()}.tmp")
    try:
        with working.open("rb") as src, tmp.open("wb") as dst:
            shutil.copyfileobj(src, dst, length=16 * MIB)
            dst.flush()
            os.fsync(dst.fileno())
    except OSError as exc:  # the disk filled, or would not take the file
        tmp.unlink(missing_ok=True)
        raise SwapInFailed(analyst_path, exc.strerror or str(exc)) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, analyst_path)
    dir_fd = os.open(analyst_path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def clean_stale_snapshots(analyst_path: Path) -> None:
    """Remove temporary copies left by a refresh that crashed while publishing."""
    for stale in analyst_path.parent.glob(f".{analyst_path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
