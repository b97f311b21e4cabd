"""The DuckDB warehouse: its SQL (migrations, core, marts, indicators) and the code that runs it.

Layers, by table-name prefix: `meta_` and `landing_` (what arrived and what happened to it),
`stg_` (one row per delivered source record, typed and pseudonymised), `core_` (the current
version of every record after re-deliveries and upserts), `mart_` (the decedent cohort and
indicator values). `quarantine_rows` holds what was held back and why.

The modules, each one job: `connection` (opening the file in the analysts' storage format,
queries, gathered inserts), `schema` (migrations and staging tables), `staging` (the writes
of a window of files), `landing_files` (what is loaded), `core` (current records),
`describe` (every table's and column's description), `swap_in` (the analysts' copy),
`key_check` (the key's fingerprint) and `indicators/` (one SQL file per indicator and the
computation of their exact values). This file only re-exports the names used most.
"""

from diewell.warehouse.connection import (
    ANALYST_STORAGE_VERSION,
    SQL_DIR,
    GatheredInserts,
    connect,
    fetch_one,
    keep_readable_by_analysts,
    query_frame,
    run_sql_file,
    storage_version,
)
from diewell.warehouse.core import build_current_records, current_records_sql
from diewell.warehouse.describe import (
    column_description,
    describe,
    dictionary,
    table_description,
    user_relations,
)
from diewell.warehouse.schema import migrate
from diewell.warehouse.staging import (
    SQL_TYPES,
    sql_type_of_contract,
    staging_column,
    staging_columns,
    staging_ddl,
    staging_table,
)
from diewell.warehouse.swap_in import (
    REFRESH_DIR,
    SwapInFailed,
    clean_stale_snapshots,
    publish_snapshot,
    working_path,
)

__all__ = [
    "ANALYST_STORAGE_VERSION",
    "REFRESH_DIR",
    "SQL_DIR",
    "SQL_TYPES",
    "GatheredInserts",
    "SwapInFailed",
    "build_current_records",
    "clean_stale_snapshots",
    "column_description",
    "connect",
    "current_records_sql",
    "describe",
    "dictionary",
    "fetch_one",
    "keep_readable_by_analysts",
    "migrate",
    "publish_snapshot",
    "query_frame",
    "run_sql_file",
    "sql_type_of_contract",
    "staging_column",
    "staging_columns",
    "staging_ddl",
    "staging_table",
    "storage_version",
    "table_description",
    "user_relations",
    "working_path",
]
