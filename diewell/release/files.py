"""Writing a release: the indicators (hive-partitioned Parquet, and flat Parquet and CSV), the
catalogue, the benchmarks and monthly SPC series (v3), the committed schemas and the
manifest, each file as docs/OUTPUTS.md describes it."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from diewell import __version__
from diewell.release.benchmarking import benchmark_rows, load_benchmarks
from diewell.release.control import PUBLICATION_TABLE, disclosure_settings, published_counts
from diewell.release.schema import (
    BENCHMARKS_SCHEMA,
    CATALOGUE_SCHEMA,
    FILE_SCHEMA,
    OUTPUT_SCHEMA,
    PARTITIONING,
    SPC_SCHEMA,
    schema_fingerprint,
)
from diewell.release.spc import spc_rows
from diewell.transforms.disclosure import (
    published_count,
)
from diewell.transforms.sender_text import csv_cell_expr
from diewell.warehouse.indicators.catalogue import catalogue_frame
from diewell.warehouse.indicators.compute import SORT_KEYS
from diewell.warehouse.indicators.monthly import monthly_values
from diewell.warehouse.indicators.schema import (
    PARTITION_COLUMNS,
    SCHEMA_PATHS,
    SCHEMA_VERSION,
)

if TYPE_CHECKING:
    from diewell.config import Config


# Fixed Parquet settings (docs/OUTPUTS.md). Snappy is read by every Parquet reader the
# dashboard team may use, Power BI's included; the files are small, so ratio hardly matters.
PARQUET_COMPRESSION = "snappy"


PARQUET_ROW_GROUP_SIZE = 100_000  # rows per row group at most


PARQUET_FORMAT_VERSION = "2.6"


PARQUET_DATA_PAGE_VERSION = "1.0"  # v1 data pages: the most widely readable


INDICATORS_DIR = "indicators"


CATALOGUE_FILE = "indicator_catalogue.parquet"


# v3: the benchmarks beside the ICS's rows, and the monthly SPC series (one file each)
BENCHMARKS_FILE = "benchmarks.parquet"


SPC_FILE = "spc.parquet"


MANIFEST_FILE = "manifest.json"


REPORT_FILE = "report.html"  # the "Die well" report for boards (diewell/report)


# The same rows in one file each, period_type and period_end as columns, for Power BI and
# Excel with no query code (the schema's "flat_files").
FLAT_PARQUET_FILE = "indicators.parquet"


FLAT_CSV_FILE = "indicators.csv"


CSV_ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark, so Excel opens it as UTF-8


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_options() -> dict:
    return {
        "compression": PARQUET_COMPRESSION,
        "version": PARQUET_FORMAT_VERSION,
        "data_page_version": PARQUET_DATA_PAGE_VERSION,
    }


class _RowGroupWriter:
    """A Parquet file written in row groups of PARQUET_ROW_GROUP_SIZE rows (the last one
    smaller), whatever the sizes of the tables it is given: the same rows give the same file."""

    def __init__(self, path: Path, schema: pa.Schema):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.writer = pq.ParquetWriter(path, schema, **_write_options())
        self.pending: list[pa.Table] = []
        self.held = 0

    def add(self, table: pa.Table) -> None:
        self.pending.append(table.select(self.schema.names).cast(self.schema))
        self.held += table.num_rows
        while self.held >= PARQUET_ROW_GROUP_SIZE:
            rows = pa.concat_tables(self.pending)
            self.writer.write_table(rows.slice(0, PARQUET_ROW_GROUP_SIZE))
            rest = rows.slice(PARQUET_ROW_GROUP_SIZE)
            self.pending, self.held = [rest], rest.num_rows

    def close(self) -> None:
        if self.held:
            self.writer.write_table(pa.concat_tables(self.pending))
        self.writer.close()


def _sorted_batches(
    con: duckdb.DuckDBPyConnection, table: str, first: tuple[str, ...] = ()
) -> Iterator[pa.Table]:
    """The table's rows ordered by `first` then SORT_KEYS (as Polars sorts: nulls first),
    in the schema's columns and types, a batch at a time: DuckDB sorts, spilling beside the
    warehouse when it must, and the whole table is never held here."""
    order = ", ".join([*first, *(f"{k} NULLS FIRST" for k in SORT_KEYS)])
    columns = ", ".join(OUTPUT_SCHEMA.names)
    reader = con.sql(f"SELECT {columns} FROM {table} ORDER BY {order}").to_arrow_reader(
        PARQUET_ROW_GROUP_SIZE
    )
    for batch in reader:
        yield pa.Table.from_batches([batch]).cast(OUTPUT_SCHEMA)


def _partition_runs(batch: pa.Table) -> Iterator[tuple[tuple, pa.Table]]:
    """A batch sorted by the partition columns, cut where their values change."""
    n = batch.num_rows
    if n == 0:
        return
    changed = None
    for c in PARTITION_COLUMNS:
        column = batch.column(c)
        step = pc.not_equal(column.slice(1), column.slice(0, n - 1))
        changed = step if changed is None else pc.or_(changed, step)
    starts = [0, *(i + 1 for i in pc.indices_nonzero(changed).to_pylist())] if n > 1 else [0]
    for start, stop in zip(starts, [*starts[1:], n], strict=True):
        key = tuple(batch.column(c)[start].as_py() for c in PARTITION_COLUMNS)
        yield key, batch.slice(start, stop - start)


def _partition_path(folder: Path, key: tuple) -> Path:
    parts = [
        f"{c}={v.isoformat() if hasattr(v, 'isoformat') else v}"
        for c, v in zip(PARTITION_COLUMNS, key, strict=True)
    ]
    return folder.joinpath(INDICATORS_DIR, *parts, "part-0.parquet")


def _write_partitions(folder: Path, con: duckdb.DuckDBPyConnection, table: str) -> None:
    """indicators/period_type=../period_end=../part-0.parquet, each in SORT_KEYS order."""
    current: tuple | None = None
    writer: _RowGroupWriter | None = None
    try:
        for batch in _sorted_batches(con, table, first=tuple(PARTITION_COLUMNS)):
            for key, rows in _partition_runs(batch):
                if key != current:
                    if writer is not None:
                        writer.close()
                    current, writer = (
                        key,
                        _RowGroupWriter(_partition_path(folder, key), FILE_SCHEMA),
                    )
                writer.add(rows)
    finally:
        if writer is not None:
            writer.close()


def _csv_cells(frame: pl.DataFrame) -> pl.DataFrame:
    """Every text cell as a spreadsheet may safely open it (`for_csv_cell`: a cell a
    spreadsheet would run as a formula gets a leading ')."""
    return frame.with_columns(
        csv_cell_expr(pl.col(name)) for name, dtype in frame.schema.items() if dtype == pl.String
    )


def _write_flat_files(folder: Path, con: duckdb.DuckDBPyConnection, table: str) -> int:
    """The same rows in one Parquet file and one CSV (RFC 4180, a header, UTF-8 with a BOM,
    dates as YYYY-MM-DD, empty for null), in SORT_KEYS order, a batch at a time; return how
    many rows they hold."""
    rows = 0
    parquet = _RowGroupWriter(folder / FLAT_PARQUET_FILE, OUTPUT_SCHEMA)
    try:
        with (folder / FLAT_CSV_FILE).open("wb") as csv:
            csv.write("".encode(CSV_ENCODING))  # the byte-order mark
            for batch in _sorted_batches(con, table):
                parquet.add(batch)
                _csv_cells(pl.from_arrow(batch)).write_csv(
                    csv,
                    include_header=rows == 0,
                    line_terminator="\r\n",
                    null_value="",
                    float_precision=None,
                )
                rows += batch.num_rows
            if rows == 0:  # the header alone
                pl.from_arrow(OUTPUT_SCHEMA.empty_table()).write_csv(
                    csv, line_terminator="\r\n", null_value=""
                )
    finally:
        parquet.close()
    return rows


def _write_table(path: Path, frame: pl.DataFrame, schema: pa.Schema) -> None:
    """One small table in one Parquet file, in the schema's columns and types."""
    pq.write_table(
        frame.select(schema.names).to_arrow().cast(schema),
        path,
        row_group_size=PARQUET_ROW_GROUP_SIZE,
        **_write_options(),
    )


def write_release_files(
    folder: Path,
    con: duckdb.DuckDBPyConnection,
    table: str = PUBLICATION_TABLE,
    *,
    benchmarks: pl.DataFrame | None = None,
    spc: pl.DataFrame | None = None,
) -> tuple[list[dict], int]:
    """Write a release's indicators (partitioned and flat) from `table` of `con`, its
    catalogue, benchmarks, SPC series and schemas into folder, the indicators a batch at a
    time. `benchmarks` and `spc` are the rows of benchmarks.parquet and spc.parquet (their
    schemas' columns); None writes them empty (a regional release has neither).

    Returns the manifest's `files` entries (path, rows, sha256) and the catalogue's rows.
    """
    folder.mkdir(parents=True)
    _write_partitions(folder, con, table)
    csv_rows = _write_flat_files(folder, con, table)
    catalogue = catalogue_frame().select(CATALOGUE_SCHEMA.names).sort("indicator_id")
    _write_table(folder / CATALOGUE_FILE, catalogue, CATALOGUE_SCHEMA)
    for path, rows, schema in (
        (BENCHMARKS_FILE, benchmarks, BENCHMARKS_SCHEMA),
        (SPC_FILE, spc, SPC_SCHEMA),
    ):
        empty = pl.from_arrow(schema.empty_table())
        _write_table(folder / path, empty if rows is None else rows, schema)
    for schema_file in SCHEMA_PATHS.values():
        shutil.copyfile(schema_file, folder / schema_file.name)

    files = []
    parquet = [
        *(folder / INDICATORS_DIR).rglob("*.parquet"),
        *(folder / name for name in (CATALOGUE_FILE, BENCHMARKS_FILE, SPC_FILE)),
    ]
    for path in sorted([*parquet, folder / FLAT_PARQUET_FILE], key=lambda p: p.as_posix()):
        files.append(
            {
                "path": path.relative_to(folder).as_posix(),
                "rows": pq.ParquetFile(path).metadata.num_rows,
                "sha256": _sha256(path),
            }
        )
    files.append(
        {"path": FLAT_CSV_FILE, "rows": csv_rows, "sha256": _sha256(folder / FLAT_CSV_FILE)}
    )
    return files, catalogue.height


def parquet_settings() -> dict:
    """The manifest's `parquet` entry."""
    return {
        "compression": PARQUET_COMPRESSION,
        "row_group_size": PARQUET_ROW_GROUP_SIZE,
        "format_version": PARQUET_FORMAT_VERSION,
        "data_page_version": PARQUET_DATA_PAGE_VERSION,
        "partitioning": {"style": "hive", "fields": PARTITION_COLUMNS},
    }


def schema_names() -> dict[str, str]:
    """The manifest's `schemas` entry: each table's committed schema file in the release."""
    return {table: path.name for table, path in SCHEMA_PATHS.items()}


def write_manifest(folder: Path, manifest: dict) -> None:
    """manifest.json, indented, with a final newline."""
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def published_ics_rows(con: duckdb.DuckDBPyConnection, table: str = PUBLICATION_TABLE):
    """The published ICS rows of breakdown `all` in `table` (those benchmarks stand beside)."""
    return con.sql(
        f"SELECT * FROM {table} WHERE geography_level = 'ics' AND breakdown = 'all'"
    ).pl()


def write_release(
    folder: Path, con: duckdb.DuckDBPyConnection, config: Config, run_id: str
) -> None:
    """Write the indicators (PUBLICATION_TABLE of `con`), catalogue, benchmarks (the ICS's
    file, checked), monthly SPC series (from the warehouse's cohort), schemas and manifest of
    one release into folder."""
    benchmarks = benchmark_rows(
        published_ics_rows(con), load_benchmarks(config), config.ics_code, run_id
    )
    spc = spc_rows(
        monthly_values(con, config),
        ics_code=config.ics_code,
        ics_name=config.ics_name,
        run_id=run_id,
        threshold=config.suppress_up_to,
        multiple=config.round_to,
    )
    files, catalogue_rows = write_release_files(folder, con, benchmarks=benchmarks, spc=spc)
    published = published_counts(con)
    inputs = con.execute(
        "SELECT file_name, extract, provider, period_end, sha256, rows_loaded FROM landing_files "
        "WHERE status = 'loaded' ORDER BY extract, provider, period_end, file_name"
    ).fetchall()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "schema_fingerprint": schema_fingerprint(),
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "diewell_version": __version__,
        "ics": {"code": config.ics_code, "name": config.ics_name},
        "row_counts": {
            "indicators": published.rows,
            "indicators_suppressed": published.suppressed,
            "indicator_catalogue": catalogue_rows,
        },
        "disclosure": disclosure_settings(config.suppress_up_to, config.round_to),
        "parquet": parquet_settings(),
        "schemas": schema_names(),
        "files": files,
        "inputs": [
            {
                "file_name": f,
                "extract": e,
                "provider": p,
                "period_end": d.isoformat(),
                "sha256": s,
                # rule 5: a file's rows are people or their events, so they are published
                # as counts are: null for 1 to the threshold, otherwise rounded
                "rows_loaded": published_count(n, config.suppress_up_to, config.round_to),
            }
            for f, e, p, d, s, n in inputs
        ],
    }
    write_manifest(folder, manifest)


def read_indicators(release: Path) -> pa.Table:
    """A release's indicator rows, partition columns included, in the schema's column order."""
    dataset = ds.dataset(release / INDICATORS_DIR, format="parquet", partitioning=PARTITIONING)
    return dataset.to_table().select(OUTPUT_SCHEMA.names)
