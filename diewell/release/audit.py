"""The audit of a staged release: every file read back and checked against the committed
schemas, the disclosure rules, the exact figures it was made from, the privacy rules and the
manifest, before the release may become current (write -> audit -> publish)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow.parquet as pq

from diewell.release.audit_rules import ExactRows, disclosure_problems, summed_problems
from diewell.release.audit_tables import benchmark_problems, spc_problems
from diewell.release.benchmarking import load_benchmarks
from diewell.release.files import (
    BENCHMARKS_FILE,
    CATALOGUE_FILE,
    FLAT_CSV_FILE,
    FLAT_PARQUET_FILE,
    INDICATORS_DIR,
    MANIFEST_FILE,
    PARQUET_COMPRESSION,
    PARQUET_ROW_GROUP_SIZE,
    SPC_FILE,
    _sha256,
    published_ics_rows,
)
from diewell.release.schema import (
    FILE_SCHEMA,
    OUTPUT_SCHEMA,
    AuditFailed,
    TableSchemaCheck,
    _columns,
    table_schema_problems,
)
from diewell.transforms.disclosure import (
    COMPARATOR_LEVEL,
    smallest_published_count,
)
from diewell.warehouse import SQL_TYPES
from diewell.warehouse.indicators.catalogue import counts_not_people, release_parts
from diewell.warehouse.indicators.compute import geography_chunks, part_rows
from diewell.warehouse.indicators.monthly import monthly_values
from diewell.warehouse.indicators.schema import (
    CATALOGUE_TABLE_SCHEMA,
    INDICATORS_TABLE_SCHEMA,
    PARTITION_COLUMNS,
    SCHEMA_VERSION,
)

if TYPE_CHECKING:
    from diewell.config import Config


# Privacy: shapes that must never appear in anything published (audit and tests).
# (not inside a hex string, and not the digits of a decimal fraction such as 1.4736842105)
NHS_NUMBER_IN_TEXT = re.compile(r"(?<![0-9a-fA-F.])\d{3}[ -]?\d{3}[ -]?\d{4}(?![0-9a-fA-F]|\.\d)")


PSEUDONYM_SHAPE = re.compile(r"(?<![0-9a-fA-F])[0-9a-fA-F]{32}(?![0-9a-fA-F])")


PERSON_LEVEL_COLUMN = re.compile(r"nhs|person|patient|pseudo|birth|dob|postcode", re.IGNORECASE)


@dataclass(frozen=True)
class AuditSummary:
    rows: int
    suppressed: int
    files: int


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


@dataclass(frozen=True)
class IcsTables:
    """What an ICS's benchmarks.parquet and spc.parquet are audited against: its code, its
    checked benchmarks file and its exact monthly counts (a regional release has neither)."""

    code: str
    benchmarks: pl.DataFrame
    monthly: pl.DataFrame


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
        ics=IcsTables(config.ics_code, load_benchmarks(config), monthly_values(con, config)),
    )


AUDITED_TABLE = "audited_rows"  # the staged indicator files read back (a temporary table)


def _read_back(con: duckdb.DuckDBPyConnection, release: Path) -> list[str]:
    """The staged indicator files (each already checked against FILE_SCHEMA by
    _file_problems), partition columns included, into AUDITED_TABLE of `con`, where each part
    is then read from; return the indicators they hold."""
    files = (release / INDICATORS_DIR).as_posix() + "/**/*.parquet"
    hive_types = ", ".join(
        f"'{c}': {SQL_TYPES[OUTPUT_SCHEMA.field(c).type]}" for c in PARTITION_COLUMNS
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
    ics: IcsTables | None = None,
) -> AuditSummary:
    """The audit of a staged release against the exact rows it was made from (and, for an
    ICS's, its benchmarks and exact monthly counts: `ics`; None for a regional release, whose
    benchmarks.parquet and spc.parquet must be empty).

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
        return _audit_parts(release, run_id, exact, threshold, multiple, con, ics)
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
    ics: IcsTables | None,
) -> AuditSummary:
    try:
        published_ids = _read_back(con, release)
        catalogue_table = pq.read_table(release / CATALOGUE_FILE)
        benchmarks_table = pq.read_table(release / BENCHMARKS_FILE)
        spc_table = pq.read_table(release / SPC_FILE)
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
    problems += benchmark_problems(
        benchmarks_table,
        published_ics_rows(con, AUDITED_TABLE),
        ics.benchmarks if ics else None,
        ics.code if ics else None,
        run_id,
    )
    polarity = dict(catalogue.select("indicator_id", "polarity").iter_rows())
    problems += spc_problems(
        spc_table, ics.monthly if ics else None, polarity, threshold, multiple, run_id
    )
    privacy.add("benchmarks", pl.from_arrow(benchmarks_table))
    privacy.add("spc", pl.from_arrow(spc_table))
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
