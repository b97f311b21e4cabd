"""Publication for the dashboard team: disclosure control, Parquet, catalogue and manifest.

Write -> audit -> publish. A release is written to a staging folder, read back and audited,
and only then renamed into releases/ and pointed at by `current`; a failed audit deletes the
staging folder, leaves the previous publication in place and fails the run (AuditFailed,
with every reason found). Layout under paths.outputs:

    releases/<run_id>/indicators/period_type=<..>/period_end=<YYYY-MM-DD>/part-0.parquet
    releases/<run_id>/indicator_catalogue.parquet
    releases/<run_id>/indicators.schema.json, indicator_catalogue.schema.json
    releases/<run_id>/manifest.json
    releases/<run_id>/report.html            (the board report, rendered from the files above)
    current -> releases/<run_id>        (a symlink, switched atomically after the audit)

`run_id` is the identifier the pipeline publishes under (its release id, derived from the
inputs); it names the folder, fills every row's `run_id` column and heads the manifest.

The output schema is data: warehouse/publication/*.schema.json (Frictionless Table Schema),
which also carries `schema_version`; docs/OUTPUTS.md explains it to the dashboard team and
CHANGELOG.md lists every version. Disclosure control (transforms/disclosure.py) is applied
here, to the published copy only; the warehouse keeps the exact figures.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from diewell import __version__
from diewell.release.report import render_report
from diewell.transforms.disclosure import (
    ALL_BREAKDOWN,
    COMPARATOR_COLUMN,
    COMPARATOR_KEYS,
    COMPARATOR_LEVEL,
    COUNT_COLUMNS,
    DERIVED_COLUMNS,
    GROUP_COLUMNS,
    MINIMUM_COUNTS,
    NOT_COMPARED,
    QUINTILE_BREAKDOWN,
    QUINTILES,
    SHARED_DENOMINATOR_KEYS,
    SII_BREAKDOWN,
    STATISTIC_COLUMNS,
    TREND_KEYS,
    apply_disclosure_control,
    published_count,
    restate_from_rounded_counts,
    smallest_published_count,
)
from diewell.transforms.sender_text import csv_cell_expr, sender_logger
from diewell.transforms.trend import add_trend
from diewell.warehouse import GatheredInserts, fetch_one
from diewell.warehouse.indicators.compute import (
    SORT_KEYS,
    catalogue_frame,
    counts_not_people,
    geography_chunks,
    indicator_ids,
    part_rows,
    read_values,
    release_parts,
    shared_denominators,
)

if TYPE_CHECKING:
    from diewell.config import Config

log = sender_logger("diewell.release.publish")

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
INDICATORS_SCHEMA_PATH = SCHEMA_DIR / "indicators.schema.json"
CATALOGUE_SCHEMA_PATH = SCHEMA_DIR / "indicator_catalogue.schema.json"

# Fixed Parquet settings (docs/OUTPUTS.md). Snappy is read by every Parquet reader the
# dashboard team may use, Power BI's included; the files are small, so ratio hardly matters.
PARQUET_COMPRESSION = "snappy"
PARQUET_ROW_GROUP_SIZE = 100_000  # rows per row group at most
PARQUET_FORMAT_VERSION = "2.6"
PARQUET_DATA_PAGE_VERSION = "1.0"  # v1 data pages: the most widely readable

STAGING = ".staging"
RELEASES = "releases"
CURRENT = "current"
INDICATORS_DIR = "indicators"
CATALOGUE_FILE = "indicator_catalogue.parquet"
MANIFEST_FILE = "manifest.json"
REPORT_FILE = "report.html"  # the "Die well" report for boards (diewell/report)
# The same rows in one file each, period_type and period_end as columns, for Power BI and
# Excel with no query code (the schema's "flat_files").
FLAT_PARQUET_FILE = "indicators.parquet"
FLAT_CSV_FILE = "indicators.csv"
CSV_ENCODING = "utf-8-sig"  # UTF-8 with a byte-order mark, so Excel opens it as UTF-8
# Disclosure control's rows, a temporary table of the run's connection, which the writer
# reads a batch at a time (control_in_parts, write_release_files).
PUBLICATION_TABLE = "publication_rows"
# Columns the warehouse may not carry yet: published as nulls until it does.
OPTIONAL_INPUT_COLUMNS = ("trend",)
SET_ON_PUBLISHING = ("run_id", "schema_version")

# Table Schema field types and the Arrow (Parquet) types they are written as.
ARROW_TYPES = {
    "string": pa.string(),
    "integer": pa.int64(),
    "number": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
}

# The DuckDB types of those Arrow types (PUBLICATION_TABLE, the audit's read-back).
DUCKDB_TYPES = {
    pa.string(): "VARCHAR",
    pa.int64(): "BIGINT",
    pa.float64(): "DOUBLE",
    pa.bool_(): "BOOLEAN",
    pa.date32(): "DATE",
}

# Privacy: shapes that must never appear in anything published (audit and tests).
# (not inside a hex string, and not the digits of a decimal fraction such as 1.4736842105)
NHS_NUMBER_IN_TEXT = re.compile(r"(?<![0-9a-fA-F.])\d{3}[ -]?\d{3}[ -]?\d{4}(?![0-9a-fA-F]|\.\d)")
PSEUDONYM_SHAPE = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])")
PERSON_LEVEL_COLUMN = re.compile(r"nhs|person|patient|pseudo|birth|dob|postcode", re.IGNORECASE)


def load_table_schema(path: Path) -> dict:
    """A committed Table Schema (JSON)."""
    return json.loads(path.read_text(encoding="utf-8"))


def arrow_schema(table_schema: dict) -> pa.Schema:
    """The Arrow schema the Table Schema's fields are written with, in the same order.

    Every column is written nullable (Parquet OPTIONAL): `required` is checked by the audit,
    which can then say which column broke it rather than failing the write.
    """
    return pa.schema([(f["name"], ARROW_TYPES[f["type"]]) for f in table_schema["fields"]])


INDICATORS_TABLE_SCHEMA = load_table_schema(INDICATORS_SCHEMA_PATH)
CATALOGUE_TABLE_SCHEMA = load_table_schema(CATALOGUE_SCHEMA_PATH)
SCHEMA_VERSION: str = INDICATORS_TABLE_SCHEMA["schema_version"]
OUTPUT_SCHEMA = arrow_schema(INDICATORS_TABLE_SCHEMA)
CATALOGUE_SCHEMA = arrow_schema(CATALOGUE_TABLE_SCHEMA)
PRIMARY_KEY: list[str] = INDICATORS_TABLE_SCHEMA["primaryKey"]
PARTITION_COLUMNS: list[str] = INDICATORS_TABLE_SCHEMA["partitioning"]["fields"]
PARTITIONING = ds.partitioning(
    pa.schema([OUTPUT_SCHEMA.field(c) for c in PARTITION_COLUMNS]), flavor="hive"
)
FILE_SCHEMA = pa.schema([f for f in OUTPUT_SCHEMA if f.name not in PARTITION_COLUMNS])
if CATALOGUE_TABLE_SCHEMA["schema_version"] != SCHEMA_VERSION:
    raise RuntimeError(f"{CATALOGUE_SCHEMA_PATH.name} and {INDICATORS_SCHEMA_PATH.name} differ")


class AuditFailed(RuntimeError):
    """The staged publication broke a publication rule; the previous one stays in place."""


@dataclass(frozen=True)
class AuditSummary:
    rows: int
    suppressed: int
    files: int


def schema_fingerprint() -> str:
    """A short hash of everything a reader depends on: names, order, types, constraints.

    Descriptions are left out, so rewording them is not a schema change. CHANGELOG.md records
    the fingerprint of each schema_version; a test fails when they drift apart.
    """

    def structure(table_schema: dict) -> dict:
        return {
            "fields": [
                {k: f.get(k) for k in ("name", "type", "format", "constraints")}
                for f in table_schema["fields"]
            ],
            "primaryKey": table_schema.get("primaryKey"),
            "partitioning": table_schema.get("partitioning"),
        }

    canonical = json.dumps(
        {
            "indicators": structure(INDICATORS_TABLE_SCHEMA),
            "indicator_catalogue": structure(CATALOGUE_TABLE_SCHEMA),
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------------------------
# Disclosure control and writing


def disclosure_controlled(values: pl.DataFrame, config: Config, run_id: str) -> pl.DataFrame:
    """The rows to publish: the schema's columns, disclosure-controlled, in SORT_KEYS order.

    `run_id` and `schema_version` are set here, so every row names the release it is in.
    """
    return controlled_rows(values, config.suppress_up_to, config.round_to, run_id)


def controlled_rows(
    values: pl.DataFrame,
    threshold: int,
    multiple: int,
    run_id: str,
    comparators: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """disclosure_controlled with the settings given: an ICS's, or a region's.

    `comparators`: for a chunk of geographies without the ICS's rows, the ICS rows as
    published, which the comparison quotes (apply_disclosure_control)."""
    columns = OUTPUT_SCHEMA.names
    unexpected = [c for c in values.columns if c not in columns]
    if unexpected:
        raise AuditFailed(
            f"the indicator values carry column(s) {', '.join(unexpected)} that the published "
            f"schema {SCHEMA_VERSION} lacks: add them to {INDICATORS_SCHEMA_PATH.name}, bump "
            "schema_version and list the change in CHANGELOG.md"
        )
    values = values.with_columns(
        pl.lit(None, dtype=pl.String).alias(c)
        for c in OPTIONAL_INPUT_COLUMNS
        if c not in values.columns
    )
    missing = [c for c in columns if c not in values.columns and c not in SET_ON_PUBLISHING]
    if missing:
        raise AuditFailed(f"the indicator values lack the published column(s) {', '.join(missing)}")
    published = apply_disclosure_control(
        values,
        threshold=threshold,
        multiple=multiple,
        shared_denominators=shared_denominators(),
        not_people=counts_not_people(),
        comparators=comparators,
    ).with_columns(pl.lit(run_id).alias("run_id"), pl.lit(SCHEMA_VERSION).alias("schema_version"))
    return published.select(columns).sort(SORT_KEYS)


@dataclass(frozen=True)
class Controlled:
    """What disclosure control left in PUBLICATION_TABLE of the run's connection."""

    rows: int
    suppressed: int


def _create_publication_table(con: duckdb.DuckDBPyConnection) -> None:
    columns = ", ".join(f"{f.name} {DUCKDB_TYPES[f.type]}" for f in OUTPUT_SCHEMA)
    con.execute(f"CREATE OR REPLACE TEMP TABLE {PUBLICATION_TABLE} ({columns})")


def control_in_parts(
    con: duckdb.DuckDBPyConnection,
    exact_part: Callable[[tuple[str, ...]], Iterable[pl.DataFrame]],
    ids: Iterable[str],
    threshold: int,
    multiple: int,
    run_id: str,
) -> Controlled:
    """Disclosure control of the indicators `ids`, one part of the release at a time
    (indicators.release_parts: an indicator, or a shared-denominator set), into
    PUBLICATION_TABLE, a temporary table of `con` (DuckDB holds it, under the connection's
    memory limit).

    `exact_part` gives a part's exact rows in one or more chunks by geography
    (indicators.geography_chunks, the ICS rows in the first chunk only): each chunk is
    controlled alone, the later ones quoting the first chunk's published ICS rows for their
    comparison with the ICS (the only rule that reads across geographies; the SII rows are
    the ICS's). Held at once: one chunk's rows and their working copies, the part's ICS
    rows, and the rows gathered for the next INSERT (warehouse.GatheredInserts)."""
    _create_publication_table(con)
    rows = suppressed = 0
    table = GatheredInserts(con, PUBLICATION_TABLE)
    for part in release_parts(ids):
        ics_rows = None  # the part's ICS rows as its first chunk published them
        for exact in exact_part(part):
            published = controlled_rows(exact, threshold, multiple, run_id, ics_rows)
            del exact
            if ics_rows is None:
                ics_rows = published.filter(pl.col("geography_level") == COMPARATOR_LEVEL)
            rows += published.height
            suppressed += int(published["suppressed"].sum())
            table.add(published.to_arrow().cast(OUTPUT_SCHEMA))
            del published
    table.close()
    return Controlled(rows=rows, suppressed=suppressed)


def control_release(con: duckdb.DuckDBPyConnection, config: Config, run_id: str) -> Controlled:
    """The disclosure control step: mart_indicator_values, a part (and a chunk of
    geographies) at a time, controlled into PUBLICATION_TABLE with the ICS's settings."""

    def exact_chunks(part: tuple[str, ...]) -> Iterator[pl.DataFrame]:
        rows = part_rows(con, "mart_indicator_values", part)
        for where in geography_chunks(rows):
            yield read_values(con, part, where=where)

    return control_in_parts(
        con, exact_chunks, indicator_ids(con), config.suppress_up_to, config.round_to, run_id
    )


@contextmanager
def rows_in_duckdb(published: pl.DataFrame) -> Iterator[duckdb.DuckDBPyConnection]:
    """A DuckDB connection of its own (in memory) whose PUBLICATION_TABLE holds `published`:
    for rows already in memory (a regional release), written as a run's are."""
    con = duckdb.connect()
    try:
        _create_publication_table(con)
        table = GatheredInserts(con, PUBLICATION_TABLE)
        table.add(published.select(OUTPUT_SCHEMA.names).to_arrow().cast(OUTPUT_SCHEMA))
        table.close()
        yield con
    finally:
        con.close()


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


def write_release_files(
    folder: Path, con: duckdb.DuckDBPyConnection, table: str = PUBLICATION_TABLE
) -> tuple[list[dict], int]:
    """Write a release's indicators (partitioned and flat) from `table` of `con`, its
    catalogue and schemas into folder, the indicators a batch at a time.

    Returns the manifest's `files` entries (path, rows, sha256) and the catalogue's rows.
    """
    folder.mkdir(parents=True)
    _write_partitions(folder, con, table)
    csv_rows = _write_flat_files(folder, con, table)
    catalogue = catalogue_frame().select(CATALOGUE_SCHEMA.names).sort("indicator_id")
    pq.write_table(
        catalogue.to_arrow().cast(CATALOGUE_SCHEMA),
        folder / CATALOGUE_FILE,
        row_group_size=PARQUET_ROW_GROUP_SIZE,
        **_write_options(),
    )
    for schema_file in (INDICATORS_SCHEMA_PATH, CATALOGUE_SCHEMA_PATH):
        shutil.copyfile(schema_file, folder / schema_file.name)

    files = []
    parquet = [*(folder / INDICATORS_DIR).rglob("*.parquet"), folder / CATALOGUE_FILE]
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


def published_counts(con: duckdb.DuckDBPyConnection, table: str = PUBLICATION_TABLE) -> Controlled:
    """How many rows `table` holds, and how many of them are suppressed."""
    rows, suppressed = fetch_one(
        con, f"SELECT count(*), count(*) FILTER (WHERE suppressed) FROM {table}"
    )
    return Controlled(rows=rows, suppressed=suppressed)


def disclosure_settings(threshold: int, multiple: int) -> dict:
    """The manifest's `disclosure` entry."""
    return {
        "suppress_up_to": threshold,
        "round_to": multiple,
        "smallest_published_count": smallest_published_count(threshold, multiple),
    }


def parquet_settings() -> dict:
    """The manifest's `parquet` entry."""
    return {
        "compression": PARQUET_COMPRESSION,
        "row_group_size": PARQUET_ROW_GROUP_SIZE,
        "format_version": PARQUET_FORMAT_VERSION,
        "data_page_version": PARQUET_DATA_PAGE_VERSION,
        "partitioning": {"style": "hive", "fields": PARTITION_COLUMNS},
    }


def write_manifest(folder: Path, manifest: dict) -> None:
    """manifest.json, indented, with a final newline."""
    (folder / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def write_release(
    folder: Path, con: duckdb.DuckDBPyConnection, config: Config, run_id: str
) -> None:
    """Write the indicators (PUBLICATION_TABLE of `con`), catalogue, schemas and manifest of
    one release into folder."""
    files, catalogue_rows = write_release_files(folder, con)
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
        "schemas": {
            "indicators": INDICATORS_SCHEMA_PATH.name,
            "indicator_catalogue": CATALOGUE_SCHEMA_PATH.name,
        },
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


# --------------------------------------------------------------------------------------------
# The audit: every check reads the staged files back, never the frame that was written


def read_indicators(release: Path) -> pa.Table:
    """A release's indicator rows, partition columns included, in the schema's column order."""
    dataset = ds.dataset(release / INDICATORS_DIR, format="parquet", partitioning=PARTITIONING)
    return dataset.to_table().select(OUTPUT_SCHEMA.names)


def _file_problems(release: Path) -> list[str]:
    problems = []
    folder = release / INDICATORS_DIR
    layout = re.compile(
        r"^period_type=(?P<period_type>[a-z0-9_]+)/period_end=(?P<period_end>\d{4}-\d{2}-\d{2})"
        r"/part-\d+\.parquet$"
    )
    files = sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []
    if not files:
        return [f"no indicator files under {INDICATORS_DIR}/"]
    for path in files:
        name = path.relative_to(folder).as_posix()
        if not layout.match(name):
            problems.append(f"{INDICATORS_DIR}/{name} is not a hive partition file")
            continue
        meta = pq.ParquetFile(path).metadata
        if _columns(meta.schema.to_arrow_schema()) != _columns(FILE_SCHEMA):
            problems.append(f"{INDICATORS_DIR}/{name} does not have the committed column schema")
        codecs = {
            meta.row_group(g).column(c).compression
            for g in range(meta.num_row_groups)
            for c in range(meta.num_columns)
        }
        if codecs - {PARQUET_COMPRESSION.upper()}:
            problems.append(f"{INDICATORS_DIR}/{name} is compressed with {sorted(codecs)}")
        if any(
            meta.row_group(g).num_rows > PARQUET_ROW_GROUP_SIZE for g in range(meta.num_row_groups)
        ):
            problems.append(
                f"{INDICATORS_DIR}/{name} has a row group over {PARQUET_ROW_GROUP_SIZE}"
            )
    return problems


def _columns(schema: pa.Schema) -> list[tuple[str, str]]:
    return [(f.name, str(f.type)) for f in schema]


class TableSchemaCheck:
    """How a table read back breaks its Table Schema (names, order, types, constraints),
    the table given a part at a time: the problems are those of the whole table, as
    table_schema_problems gives them. The parts must not share a primary key (a release's
    parts are whole indicators, and indicator_id is in its key)."""

    def __init__(self, table_schema: dict, what: str):
        self.table_schema, self.what = table_schema, what
        self.want = _columns(arrow_schema(table_schema))
        self.columns_differ: list[tuple[str, str]] | None = None
        self.nulls: dict[str, int] = {}
        self.distinct: dict[str, set] = {}  # the values of columns with an enum or pattern
        self.below: set[str] = set()
        self.seen: dict[str, set] = {}  # the values of unique columns
        self.duplicated: set[str] = set()
        self.key_repeats = False

    def add(self, table: pa.Table) -> None:
        got = _columns(table.schema)
        if got != self.want:
            self.columns_differ = self.columns_differ or got
            return
        df = pl.from_arrow(table)
        for field in self.table_schema["fields"]:
            name, rules = field["name"], field.get("constraints", {})
            col = df[name]
            if rules.get("required") and col.null_count():
                self.nulls[name] = self.nulls.get(name, 0) + col.null_count()
            present = col.drop_nulls()
            if "enum" in rules or "pattern" in rules:
                self.distinct.setdefault(name, set()).update(present.unique().to_list())
            if "minimum" in rules and (present < rules["minimum"]).any():
                self.below.add(name)
            if rules.get("unique"):
                values = set(present.to_list())
                seen = self.seen.setdefault(name, set())
                if present.is_duplicated().any() or values & seen:
                    self.duplicated.add(name)
                seen |= values
        key = self.table_schema.get("primaryKey")
        if key and df.select(key).is_duplicated().any():
            self.key_repeats = True

    def problems(self) -> list[str]:
        what = self.what
        if self.columns_differ is not None:
            return [
                f"{what}: columns {self.columns_differ} differ from the committed schema "
                f"{self.want}"
            ]
        problems = []
        for field in self.table_schema["fields"]:
            name, rules = field["name"], field.get("constraints", {})
            if n := self.nulls.get(name):
                problems.append(f"{what}.{name}: {n} nulls in a required column")
            present = self.distinct.get(name, set())
            if "enum" in rules and (bad := present - set(rules["enum"])):
                problems.append(f"{what}.{name}: {len(bad)} value(s) outside {rules['enum']}")
            if "pattern" in rules:
                pattern = re.compile(rules["pattern"])
                if bad := [v for v in present if not pattern.fullmatch(v)]:
                    problems.append(f"{what}.{name}: {len(bad)} value(s) not matching the pattern")
            if name in self.below:
                problems.append(f"{what}.{name}: values below {rules['minimum']}")
            if name in self.duplicated:
                problems.append(f"{what}.{name}: duplicate values in a unique column")
        if self.key_repeats:
            key = self.table_schema["primaryKey"]
            problems.append(f"{what}: rows repeat the primary key ({', '.join(key)})")
        return problems


def table_schema_problems(table: pa.Table, table_schema: dict, what: str) -> list[str]:
    """How a table read back breaks its Table Schema: names, order, types and constraints."""
    check = TableSchemaCheck(table_schema, what)
    check.add(table)
    return check.problems()


@dataclass(frozen=True)
class ExactRows:
    """The exact rows a release was made from, for its audit, a part at a time: the primary
    key, counts and statistics of each row before disclosure control."""

    source: str  # what holds them, as the audit's messages name it
    rows: int
    indicator_ids: tuple[str, ...]
    # the rows of some indicators that meet an SQL condition (one of geography_chunks)
    part: Callable[[tuple[str, ...], str], pl.DataFrame]

    @classmethod
    def of_mart(cls, con: duckdb.DuckDBPyConnection) -> ExactRows:
        """mart_indicator_values, each part read when it is audited."""
        columns = [*PRIMARY_KEY, *COUNT_COLUMNS, *STATISTIC_COLUMNS]
        return cls(
            source="mart_indicator_values",
            rows=fetch_one(con, "SELECT count(*) FROM mart_indicator_values")[0],
            indicator_ids=tuple(indicator_ids(con)),
            part=lambda ids, where: read_values(con, ids, columns, where),
        )

    @classmethod
    def of_frame(cls, frame: pl.DataFrame, source: str) -> ExactRows:
        """Exact rows held in memory (a regional release's sums)."""
        exact = frame.select(*PRIMARY_KEY, *COUNT_COLUMNS, *STATISTIC_COLUMNS)

        def part(ids: tuple[str, ...], where: str) -> pl.DataFrame:
            rows = exact.filter(pl.col("indicator_id").is_in(list(ids)))
            if where == "TRUE":
                return rows
            chunk = duckdb.connect()  # DuckDB's hash, as the staged rows were cut with
            try:
                chunk.register("exact_rows", rows)
                return chunk.sql(f"SELECT * FROM exact_rows WHERE {where}").pl()
            finally:
                chunk.close()

        return cls(
            source=source,
            rows=exact.height,
            indicator_ids=tuple(sorted(exact["indicator_id"].unique().to_list())),
            part=part,
        )


def disclosure_problems(
    published: pl.DataFrame,
    exact: pl.DataFrame,
    threshold: int,
    multiple: int,
    not_people: Collection[str] = (),
    comparators: pl.DataFrame | None = None,
) -> list[str]:
    """How the published rows break disclosure control v2, judged against the exact rows.

    The rows of `not_people` indicators (counts of staff or organisations) may show a count
    of 1 to threshold, rounded: rules 1 and 3 do not apply to them, rule 2 does.

    `comparators`: the published ICS rows that comparator values quote, when `published` is
    a chunk of geographies without them (indicators.geography_chunks); else its own.
    """
    problems = []
    compared = [*COUNT_COLUMNS, *STATISTIC_COLUMNS]
    rows = published.join(
        exact.rename({c: f"exact_{c}" for c in compared}).with_columns(pl.lit(True).alias("_in")),
        on=PRIMARY_KEY,
        how="left",
        nulls_equal=True,
    )
    if (n := rows["_in"].null_count()) > 0:
        problems.append(f"{n} published rows have no row in the warehouse")
        rows = rows.filter(pl.col("_in").is_not_null())
    shown = rows.filter(~pl.col("suppressed"))
    hidden = rows.filter(pl.col("suppressed"))
    smallest = smallest_published_count(threshold, multiple)

    def count(frame: pl.DataFrame, condition: pl.Expr) -> int:
        return frame.filter(condition.fill_null(False)).height

    # Rules 1 and 2: counts.
    of_people = shown.filter(~pl.col("indicator_id").is_in(list(not_people)))
    for c in COUNT_COLUMNS:
        exact_c = pl.col(f"exact_{c}")
        if n := count(of_people, exact_c.is_between(1, threshold)):
            problems.append(f"{n} published rows show a {c} whose true count is 1-{threshold}")
        rounded = (exact_c + multiple // 2) // multiple * multiple
        if n := count(shown, pl.col(c).ne_missing(rounded)):
            problems.append(
                f"{n} published {c}s are not the true count rounded to the nearest {multiple}"
            )
        if n := count(shown, pl.col(c) % multiple != 0):
            problems.append(f"{n} published {c}s are not multiples of {multiple}")
        if n := count(of_people, pl.col(c).is_between(1, smallest - 1)):
            problems.append(f"{n} published {c}s lie in 1-{smallest - 1}")
    for statistic, (c, minimum) in MINIMUM_COUNTS.items():
        below = (pl.col("statistic") == statistic) & pl.col(f"exact_{c}").is_between(1, minimum - 1)
        if n := count(shown, below):
            problems.append(f"{n} published {statistic} rows have a {c} under {minimum}")

    # Rule 2: every value and interval follows from the published counts (a median and a
    # DSR from the exact value, rounded as published).
    expected = restate_from_rounded_counts(
        shown.with_columns(
            pl.when(pl.col("statistic").is_in(list(MINIMUM_COUNTS)))
            .then(pl.col("exact_value"))
            .otherwise(pl.col("value"))
            .alias("value")
        )
    )
    differs = pl.any_horizontal(
        ((pl.col(c) - expected[c]).abs() > 1e-9 * (1 + expected[c].abs())).fill_null(False)
        | (pl.col(c).is_null() != expected[c].is_null())
        for c in STATISTIC_COLUMNS
    )
    if n := count(shown, differs):
        problems.append(
            f"{n} published values or intervals do not follow from the published counts"
        )

    withheld = [*compared, *(c for c in DERIVED_COLUMNS if c in rows.columns)]
    if n := count(hidden, pl.any_horizontal(pl.col(c).is_not_null() for c in withheld)):
        problems.append(f"{n} suppressed rows still carry counts, a value, an interval or a trend")
    if n := count(hidden, pl.col("comparison") != NOT_COMPARED):
        problems.append(f"{n} suppressed rows are still compared with the ICS")

    # Rule 4: comparator_value is the published value of the ICS row (null where hidden), and
    # the trend follows from the published counts.
    ics = (
        (rows if comparators is None else comparators)
        .filter(pl.col("geography_level") == COMPARATOR_LEVEL)
        .select(*COMPARATOR_KEYS, pl.col("value").alias("_ics_value"))
    )
    quoted = rows.filter(pl.col("breakdown") != SII_BREAKDOWN).join(
        ics, on=list(COMPARATOR_KEYS), how="left", nulls_equal=True
    )
    if n := count(quoted, pl.col(COMPARATOR_COLUMN).ne_missing(pl.col("_ics_value"))):
        problems.append(f"{n} rows quote a {COMPARATOR_COLUMN} that is not the published ICS value")
    trend = add_trend(published, keys=TREND_KEYS).with_columns(
        pl.when(pl.col("suppressed")).then(None).otherwise(pl.col("trend")).alias("trend")
    )
    if n := int(published["trend"].ne_missing(trend["trend"]).sum()):
        problems.append(f"{n} trend markers do not follow from the published counts")

    # Rule 3: no partition hides exactly one cell - the categories of a breakdown (nor one
    # non-empty category beside empty ones while the `all` row is published), and the
    # indicators sharing a denominator.
    area = [c for c in GROUP_COLUMNS if c != "breakdown"]
    totals = rows.filter(pl.col("breakdown") == ALL_BREAKDOWN).select(
        *area, pl.col("suppressed").alias("_total_hidden")
    )
    groups = (
        rows.filter(~pl.col("breakdown").is_in([ALL_BREAKDOWN, SII_BREAKDOWN]))
        .group_by(list(GROUP_COLUMNS))
        .agg(
            pl.len().alias("categories"),
            pl.col("suppressed").sum().alias("hidden"),
            (pl.col("suppressed") & (pl.col("exact_denominator").fill_null(0) > 0))
            .sum()
            .alias("hidden_non_empty"),
        )
        .join(totals, on=area, how="left", nulls_equal=True)
        .filter(pl.col("categories") >= 2)
    )
    if n := count(groups, pl.col("hidden") == 1):
        problems.append(f"{n} breakdown groups hide exactly one category")
    if n := count(
        groups,
        (pl.col("hidden") > 1)
        & (pl.col("hidden_non_empty") == 1)
        & ~pl.col("_total_hidden").fill_null(True),
    ):
        problems.append(f"{n} breakdown groups hide one non-empty category beside empty ones")
    sets = shared_denominators()
    shared = (
        rows.filter(pl.col("indicator_id").is_in(list(sets)))
        .with_columns(pl.col("indicator_id").replace_strict(sets).alias("_set"))
        .group_by(["_set", *SHARED_DENOMINATOR_KEYS])
        .agg(pl.len().alias("cells"), pl.col("suppressed").sum().alias("hidden"))
    )
    if n := count(shared, (pl.col("cells") >= 2) & (pl.col("hidden") == 1)):
        problems.append(f"{n} shared-denominator sets (such as PD01-PD05) hide exactly one cell")

    # The SII is derived from published quintiles only: all five must be published.
    hidden_quintile = (
        rows.filter(
            (pl.col("breakdown") == QUINTILE_BREAKDOWN)
            & pl.col("breakdown_value").is_in(QUINTILES)
            & pl.col("suppressed")
        )
        .select(area)
        .unique()
    )
    sii = rows.filter(pl.col("breakdown") == SII_BREAKDOWN).join(
        hidden_quintile, on=area, how="semi", nulls_equal=True
    )
    if n := count(sii, ~pl.col("suppressed")):
        problems.append(f"{n} SII rows are published beside a suppressed IMD quintile")
    return problems


_COUNTED = re.compile(r"^(\d+) (.*)$", re.S)


def disclosure_problems_in_parts(
    published: pl.DataFrame,
    exact: pl.DataFrame,
    threshold: int,
    multiple: int,
    not_people: Collection[str] = (),
) -> list[str]:
    """disclosure_problems, one part of the release at a time (indicators.release_parts):
    every rule looks only within an indicator or a shared-denominator set, so the problems
    are the same, each count summed over the parts."""
    ids = {*published["indicator_id"].unique(), *exact["indicator_id"].unique()}
    return summed_problems(
        disclosure_problems(
            published.filter(pl.col("indicator_id").is_in(part)),
            exact.filter(pl.col("indicator_id").is_in(part)),
            threshold,
            multiple,
            not_people=not_people,
        )
        for part in release_parts(ids)
    )


def summed_problems(parts: Iterable[list[str]]) -> list[str]:
    """The disclosure problems of several parts as one list: each text once, its counts
    summed."""
    totals: dict[str, int] = {}
    for problems in parts:
        for problem in problems:
            counted = _COUNTED.match(problem)
            if counted is None:  # every disclosure problem starts with its count
                raise ValueError(f"a disclosure problem without its count: {problem}")
            totals[counted[2]] = totals.get(counted[2], 0) + int(counted[1])
    return [f"{n} {text}" for text, n in totals.items()]


def _text_problems(text: str, where: str) -> list[str]:
    problems = []
    if n := len(NHS_NUMBER_IN_TEXT.findall(text)):
        problems.append(f"{where}: {n} strings shaped like an NHS number")
    if n := len(PSEUDONYM_SHAPE.findall(text)):
        problems.append(f"{where}: {n} strings shaped like a pseudonym (32 hex characters)")
    return problems


class PrivacyCheck:
    """Person-level columns, NHS-number or pseudonym-shaped strings anywhere in a release,
    its tables given a part at a time (each column's distinct strings are kept: names and
    codes, a few thousand, never a row)."""

    def __init__(self) -> None:
        self.person: dict[str, list[str]] = {}  # table -> its person-level columns
        self.strings: dict[str, dict[str, set[str]]] = {}  # table -> column -> values

    def add(self, what: str, df: pl.DataFrame) -> None:
        if what not in self.person:
            self.person[what] = [c for c in df.columns if PERSON_LEVEL_COLUMN.search(c)]
            self.strings[what] = {}
        for name, dtype in df.schema.items():
            if dtype == pl.String:
                values = self.strings[what].setdefault(name, set())
                values.update(df[name].drop_nulls().unique().to_list())

    def problems(self, release: Path) -> list[str]:
        problems = []
        for what, person in self.person.items():
            if person:
                problems.append(f"{what}: person-level column(s) {', '.join(person)}")
            for name, values in self.strings[what].items():
                problems += _text_problems("\n".join(sorted(values)), f"{what}.{name}")
        for path in sorted(release.rglob("*.json")):
            problems += _text_problems(path.read_text(encoding="utf-8"), path.name)
        return problems


def privacy_problems(release: Path, tables: dict[str, pl.DataFrame]) -> list[str]:
    """Person-level columns, NHS-number or pseudonym-shaped strings anywhere in the release."""
    check = PrivacyCheck()
    for what, df in tables.items():
        check.add(what, df)
    return check.problems(release)


_HALF = 2**32  # a row's 64-bit hash is summed in 32-bit halves


def _row_fingerprints(frame: pl.LazyFrame | pl.DataFrame) -> tuple[int, int, int]:
    """An order-independent fingerprint of the rows of the schema's columns: their number and
    the sums of the two 32-bit halves of each row's 64-bit hash (exact in UInt64 up to 2**32
    rows). Two tables hold the same rows, each as many times, in any order, when these are
    equal; rows changed, missing or repeated leave both sums as they were with odds of about
    2**-64, as two rows' 64-bit hashes colliding would. Fingerprints of parts add up
    (`_added`); nothing is held per row, and a lazy frame (a flat file scanned) is hashed as
    it streams."""
    half = pl.lit(_HALF, pl.UInt64)
    hashed = frame.lazy().select(pl.struct(OUTPUT_SCHEMA.names).hash().alias("row"))
    found = hashed.select(
        pl.len().alias("rows"),
        (pl.col("row") % half).sum().alias("low"),
        (pl.col("row") // half).sum().alias("high"),
    ).collect(engine="streaming")
    return tuple(int(v or 0) for v in found.row(0))


def _added(fingerprints: Iterable[tuple[int, ...]]) -> tuple[int, ...]:
    """The fingerprint of the parts' rows together."""
    return tuple(map(sum, zip(*fingerprints, strict=True))) or (0, 0, 0)


def _flat_problems(release: Path, expected: tuple[int, ...], schema: pl.Schema) -> list[str]:
    """The flat Parquet and CSV files must hold exactly the partitioned rows, whose
    fingerprint is `expected` (`schema`: their Polars types, which the CSV is read with)."""
    scans = {
        FLAT_PARQUET_FILE: lambda: pl.scan_parquet(release / FLAT_PARQUET_FILE),
        # the byte-order mark is skipped by the reader; the text must be UTF-8 throughout
        FLAT_CSV_FILE: lambda: pl.scan_csv(release / FLAT_CSV_FILE, schema=schema),
    }
    problems = []
    for name, scan in scans.items():
        try:
            found = _row_fingerprints(scan())
        except Exception as exc:  # a missing or unreadable file
            return [f"the flat files cannot be read back: {type(exc).__name__}"]
        if found != expected:
            problems.append(f"{name} does not hold exactly the rows of {INDICATORS_DIR}/")
    return problems


def _manifest_problems(
    release: Path,
    run_id: str,
    rows: int,
    catalogue: pl.DataFrame,
    threshold: int,
    multiple: int,
) -> list[str]:
    try:
        manifest = json.loads((release / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        return [f"{MANIFEST_FILE} is missing or not JSON ({type(exc).__name__})"]
    problems = []
    expected = {"schema_version": SCHEMA_VERSION, "run_id": run_id}
    for key, value in expected.items():
        if manifest.get(key) != value:
            problems.append(f"{MANIFEST_FILE}: {key} is not {value}")
    counts = manifest.get("row_counts", {})
    if counts.get("indicators") != rows:
        problems.append(f"{MANIFEST_FILE}: row_counts.indicators is not {rows}")
    if counts.get("indicator_catalogue") != catalogue.height:
        problems.append(f"{MANIFEST_FILE}: row_counts.indicator_catalogue is wrong")
    for entry in manifest.get("files", []):
        path = release / entry["path"]
        if not path.is_file() or _sha256(path) != entry["sha256"]:
            problems.append(f"{MANIFEST_FILE}: {entry['path']} is missing or its checksum differs")
    smallest = smallest_published_count(threshold, multiple)
    unsafe = [
        e
        for e in manifest.get("inputs", [])
        if e.get("rows_loaded") is not None
        and (e["rows_loaded"] % multiple or 0 < e["rows_loaded"] < smallest)
    ]
    if unsafe:
        problems.append(
            f"{MANIFEST_FILE}: {len(unsafe)} inputs show rows_loaded that are not published "
            f"counts (null for 1-{threshold}, else a multiple of {multiple})"
        )
    listed = {e["path"] for e in manifest.get("files", [])}
    written = {p.relative_to(release).as_posix() for p in release.rglob("*.parquet")}
    written.add(FLAT_CSV_FILE)
    if listed != written:
        problems.append(f"{MANIFEST_FILE}: files does not list exactly the Parquet files written")
    return problems


def audit(
    release: Path, con: duckdb.DuckDBPyConnection, config: Config, run_id: str
) -> AuditSummary:
    """Read a staged release back and check every publication rule; raise AuditFailed if any fails."""
    return audit_release(
        release,
        run_id,
        exact=ExactRows.of_mart(con),
        threshold=config.suppress_up_to,
        multiple=config.round_to,
        con=con,
    )


AUDITED_TABLE = "audited_rows"  # the staged indicator files read back (a temporary table)


def _read_back(con: duckdb.DuckDBPyConnection, release: Path) -> list[str]:
    """The staged indicator files (each already checked against FILE_SCHEMA by
    _file_problems), partition columns included, into AUDITED_TABLE of `con`, where each part
    is then read from; return the indicators they hold."""
    files = (release / INDICATORS_DIR).as_posix() + "/**/*.parquet"
    hive_types = ", ".join(
        f"'{c}': {DUCKDB_TYPES[OUTPUT_SCHEMA.field(c).type]}" for c in PARTITION_COLUMNS
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {AUDITED_TABLE} AS "
        f"SELECT {', '.join(OUTPUT_SCHEMA.names)} FROM read_parquet(?, hive_partitioning = true, "
        f"hive_types = {{{hive_types}}}, hive_types_autocast = false)",
        [files],
    )
    rows = con.execute(f"SELECT DISTINCT indicator_id FROM {AUDITED_TABLE}").fetchall()
    return sorted(r[0] for r in rows if r[0] is not None)


def audit_release(
    release: Path,
    run_id: str,
    *,
    exact: ExactRows,
    threshold: int,
    multiple: int,
    con: duckdb.DuckDBPyConnection | None = None,
) -> AuditSummary:
    """The audit of a staged release against the exact rows it was made from.

    The staged files are read back into a temporary table of `con` (the run's connection,
    under its memory limit; an in-memory one of its own when None) and checked one part of
    the release at a time (indicators.release_parts), each rule summed over the parts: what
    is held at once is one part's rows, never the release's.
    """
    problems = _file_problems(release)
    if problems:
        raise AuditFailed("; ".join(problems))
    own = con is None
    con = duckdb.connect() if con is None else con
    try:
        return _audit_parts(release, run_id, exact, threshold, multiple, con)
    finally:
        con.execute(f"DROP TABLE IF EXISTS {AUDITED_TABLE}")
        if own:
            con.close()


def _audit_parts(
    release: Path,
    run_id: str,
    exact: ExactRows,
    threshold: int,
    multiple: int,
    con: duckdb.DuckDBPyConnection,
) -> AuditSummary:
    try:
        published_ids = _read_back(con, release)
        catalogue_table = pq.read_table(release / CATALOGUE_FILE)
    except Exception as exc:  # any unreadable file fails the audit
        raise AuditFailed(f"the staged files cannot be read back: {exc}") from exc

    schema = TableSchemaCheck(INDICATORS_TABLE_SCHEMA, "indicators")
    privacy = PrivacyCheck()
    disclosure: list[list[str]] = []
    fingerprints: list[tuple[int, ...]] = []
    rows = suppressed = 0
    other_version = other_run = False
    for part in release_parts({*published_ids, *exact.indicator_ids}):
        selected = f"SELECT * FROM {AUDITED_TABLE} WHERE list_contains(?, indicator_id)"
        chunks = geography_chunks(part_rows(con, AUDITED_TABLE, part))
        comparators = None  # a part in chunks: its ICS rows, for the comparator values
        if len(chunks) > 1:
            comparators = pl.from_arrow(
                con.sql(
                    f"{selected} AND geography_level = '{COMPARATOR_LEVEL}'", params=[list(part)]
                ).to_arrow_table()
            )
        for where in chunks:
            table = con.sql(f"{selected} AND {where}", params=[list(part)]).to_arrow_table()
            schema.add(table)
            if schema.columns_differ is not None:
                continue  # the checks below rely on the columns
            indicators = pl.from_arrow(table)
            del table
            rows += indicators.height
            suppressed += int(indicators["suppressed"].sum())
            other_version |= bool((indicators["schema_version"] != SCHEMA_VERSION).any())
            other_run |= bool((indicators["run_id"] != run_id).any())
            disclosure.append(
                disclosure_problems(
                    indicators,
                    exact.part(part, where),
                    threshold,
                    multiple,
                    not_people=counts_not_people(),
                    comparators=comparators,
                )
            )
            privacy.add("indicators", indicators)
            fingerprints.append(_row_fingerprints(indicators))
            del indicators

    problems = schema.problems()
    problems += table_schema_problems(
        catalogue_table, CATALOGUE_TABLE_SCHEMA, "indicator_catalogue"
    )
    if problems:  # the checks below rely on the schema
        raise AuditFailed("; ".join(problems))
    catalogue = pl.from_arrow(catalogue_table)
    if other_version:
        problems.append(f"indicators: schema_version is not {SCHEMA_VERSION} throughout")
    if other_run:
        problems.append(f"indicators: run_id is not {run_id} throughout")
    if rows != exact.rows:
        problems.append(f"{rows} rows staged but {exact.source} holds {exact.rows}")
    uncatalogued = set(published_ids) - set(catalogue["indicator_id"])
    if uncatalogued:
        problems.append(f"indicator(s) {', '.join(sorted(uncatalogued))} are not in the catalogue")
    problems += summed_problems(disclosure)
    privacy.add("indicator_catalogue", catalogue)
    problems += privacy.problems(release)
    expected = _added(fingerprints)
    # the committed columns' Polars types: a part with other columns raised above
    problems += _flat_problems(release, expected, pl.from_arrow(OUTPUT_SCHEMA.empty_table()).schema)
    problems += _manifest_problems(release, run_id, rows, catalogue, threshold, multiple)
    if problems:
        raise AuditFailed("; ".join(problems))
    return AuditSummary(
        rows=rows,
        suppressed=suppressed,
        files=len(list((release / INDICATORS_DIR).rglob("*.parquet"))),
    )


# --------------------------------------------------------------------------------------------
# Write -> audit -> publish


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's contents (a folder: its entries) to the disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Every file and folder under folder, and folder itself, flushed: the deepest first."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        _fsync(path)
    _fsync(folder)


def point_current_at(outputs: Path, run_id: str) -> None:
    """Switch `current` to releases/<run_id> in one step, durably (the folder flushed after)."""
    link_tmp = outputs / f".{CURRENT}-{run_id}"
    link_tmp.unlink(missing_ok=True)
    link_tmp.symlink_to(Path(RELEASES) / run_id)
    os.replace(link_tmp, outputs / CURRENT)  # replaces the old symlink in one step
    _fsync(outputs)


def promote(staging: Path, outputs: Path, run_id: str) -> Path:
    """Move an audited staging folder into releases/ and switch `current` to it atomically.

    Everything is flushed to the disk before each rename that makes it visible, so after a
    power cut `current` points at the old release or at the whole new one, never at files
    whose contents were still in memory.
    """
    releases = outputs / RELEASES
    releases.mkdir(parents=True, exist_ok=True)
    release = releases / run_id
    _fsync_tree(staging)
    os.replace(staging, release)  # a rename within outputs/: atomic
    _fsync(staging.parent)
    _fsync(releases)
    point_current_at(outputs, run_id)
    return release


def _warn_about_weak_settings(config: Config) -> None:
    threshold, multiple = config.suppress_up_to, config.round_to
    if threshold == 0:
        log.warning("disclosure.suppress_up_to is 0: no small count will be suppressed")
    elif (smallest := smallest_published_count(threshold, multiple)) <= threshold:
        log.warning(
            "with disclosure.suppress_up_to %d and round_to %d a count of %d is published as "
            "%d: published counts of 1-%d appear although no true count of 1-%d is published",
            threshold,
            multiple,
            threshold + 1,
            smallest,
            threshold,
            threshold,
        )


def publish(
    con: duckdb.DuckDBPyConnection, values: pl.DataFrame, config: Config, run_id: str
) -> Path:
    """Disclosure-control these exact values (a part at a time), then write, audit (against
    mart_indicator_values) and promote; return the release."""
    if (config.outputs / RELEASES / run_id).exists():
        raise AuditFailed(f"a release {run_id} already exists; a run publishes once")
    controlled = control_in_parts(
        con,
        lambda part: [values.filter(pl.col("indicator_id").is_in(part))],
        values["indicator_id"].unique().to_list(),
        config.suppress_up_to,
        config.round_to,
        run_id,
    )
    return publish_controlled(con, controlled, config, run_id)


def publish_controlled(
    con: duckdb.DuckDBPyConnection, controlled: Controlled, config: Config, run_id: str
) -> Path:
    """Write the disclosure-controlled rows (PUBLICATION_TABLE of `con`, as disclosure
    control left them: `controlled`) to staging, audit them, and only then promote."""
    _warn_about_weak_settings(config)
    if published_counts(con) != controlled:
        raise AuditFailed(
            f"{PUBLICATION_TABLE} no longer holds the {controlled.rows} rows disclosure control "
            "left: run disclosure control again on this connection"
        )

    def checked(staging: Path) -> AuditSummary:
        summary = audit(staging, con, config, run_id)
        # The board report, from the audited files only; it goes live with them.
        report = render_report(staging, staging / REPORT_FILE)
        problems = _text_problems(report.read_text(encoding="utf-8"), REPORT_FILE)
        if problems:
            raise AuditFailed("; ".join(problems))
        return summary

    try:
        return publish_staged(
            config.outputs,
            run_id,
            write=lambda staging: write_release(staging, con, config, run_id),
            check=checked,
        )
    finally:  # written or failed, the rows are done with: DuckDB frees their memory
        con.execute(f"DROP TABLE IF EXISTS {PUBLICATION_TABLE}")


def publish_staged(
    outputs: Path,
    run_id: str,
    *,
    write: Callable[[Path], None],
    check: Callable[[Path], AuditSummary],
) -> Path:
    """Write -> audit -> publish: `write` fills a staging folder, `check` audits it (raising
    AuditFailed), and only then is it promoted to releases/<run_id> and `current`. A failure
    deletes the staging folder and leaves the previous release current."""
    if (outputs / RELEASES / run_id).exists():
        raise AuditFailed(f"a release {run_id} already exists; a run publishes once")
    staging = outputs / STAGING / run_id
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write(staging)
        summary = check(staging)
    except AuditFailed as exc:
        shutil.rmtree(staging, ignore_errors=True)
        log.error("publication audit failed; the previous release stays current: %s", exc)
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    release = promote(staging, outputs, run_id)
    log.info(
        "publication audit passed: %d rows in %d files, %d suppressed",
        summary.rows,
        summary.files,
        summary.suppressed,
    )
    return release
