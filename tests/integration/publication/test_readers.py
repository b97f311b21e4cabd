"""The published Parquet reads the same with pyarrow, polars, DuckDB and pandas; its settings
are the documented ones; and the reading examples in docs/OUTPUTS.md run as written."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from diewell.release import files as release_files
from diewell.release import schema as release_schema
from diewell.warehouse.indicators import schema as output_schema
from tests.conftest import REPO

GUIDE = REPO / "docs" / "OUTPUTS.md"
COLUMNS = release_schema.OUTPUT_SCHEMA.names
KEY = output_schema.PRIMARY_KEY
POLARS_TYPES = {
    "period_start": pl.Date,
    "period_end": pl.Date,
    "numerator": pl.Int64,
    "denominator": pl.Int64,
    "value": pl.Float64,
    "lower_95": pl.Float64,
    "upper_95": pl.Float64,
    "lower_99_8": pl.Float64,
    "upper_99_8": pl.Float64,
    "comparator_value": pl.Float64,
    "suppressed": pl.Boolean,
    "data_complete": pl.Boolean,
}


def expected_polars_type(column: str):
    return POLARS_TYPES.get(column, pl.String)


@pytest.fixture(scope="module")
def folder(synthetic_run) -> Path:
    return synthetic_run.config.outputs / "current" / "indicators"


@pytest.fixture(scope="module")
def frames(folder) -> dict[str, pl.DataFrame]:
    """The current release read by each reader, as polars frames in the schema's order."""
    with_polars = pl.read_parquet(folder, hive_partitioning=True)
    with_arrow = pl.from_arrow(
        ds.dataset(folder, format="parquet", partitioning=release_schema.PARTITIONING).to_table()
    )
    with_duckdb = duckdb.sql(
        f"""SELECT * FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true,
            hive_types = {{'period_type': VARCHAR, 'period_end': DATE}})"""
    ).pl()
    with_pandas = pd.read_parquet(
        folder, dtype_backend="pyarrow", partitioning=release_schema.PARTITIONING
    )
    return {
        "polars": with_polars,
        "pyarrow": with_arrow,
        "duckdb": with_duckdb,
        "pandas": pl.from_pandas(with_pandas),
        "_pandas_native": with_pandas,
    }


@pytest.mark.parametrize("reader", ["polars", "pyarrow", "duckdb", "pandas"])
def test_each_reader_gets_every_column_with_its_type(frames, reader, synthetic_run):
    df = frames[reader]
    assert sorted(df.columns) == sorted(COLUMNS)
    assert df.height == synthetic_run.values.height
    for column in COLUMNS:
        assert df.schema[column] == expected_polars_type(column), (reader, column)


def test_all_readers_give_identical_rows_and_values(frames):
    base = frames["polars"].select(COLUMNS).sort(KEY)
    for reader in ("pyarrow", "duckdb", "pandas"):
        other = frames[reader].select(COLUMNS).sort(KEY)
        assert other.equals(base, null_equal=True), reader


def test_pandas_types_are_the_arrow_ones(frames):
    dtypes = {c: str(t) for c, t in frames["_pandas_native"].dtypes.items()}
    assert dtypes["period_end"] == dtypes["period_start"] == "date32[day][pyarrow]"
    assert dtypes["numerator"] == "int64[pyarrow]"
    assert dtypes["value"] == "double[pyarrow]"
    assert dtypes["suppressed"] == "bool[pyarrow]"


def test_duckdb_sees_sql_types(folder):
    described = duckdb.sql(
        f"""DESCRIBE SELECT * FROM read_parquet('{folder}/**/*.parquet', hive_partitioning = true,
            hive_types = {{'period_type': VARCHAR, 'period_end': DATE}})"""
    ).fetchall()
    types = {name: kind for name, kind, *_ in described}
    assert types["period_end"] == types["period_start"] == "DATE"
    assert types["numerator"] == types["denominator"] == "BIGINT"
    assert types["value"] == "DOUBLE"
    assert types["suppressed"] == types["data_complete"] == "BOOLEAN"
    assert types["period_type"] == types["indicator_id"] == "VARCHAR"


def test_the_parquet_settings_are_the_documented_ones(synthetic_run):
    release = synthetic_run.release
    files = sorted(release.rglob("*.parquet"))
    partitions = [p for p in files if p.parent != release]
    assert partitions and all(p.name == "part-0.parquet" for p in partitions)
    for path in files:
        meta = pq.ParquetFile(path).metadata
        assert meta.format_version == "2.6"
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            assert group.num_rows <= 100_000
            assert {group.column(c).compression for c in range(group.num_columns)} == {"SNAPPY"}
    for path in partitions:  # the partition columns live in the folder names only
        names = pq.read_schema(path).names
        assert "period_type" not in names and "period_end" not in names


# --------------------------------------------------------------------------------------------
# The guide


def guide_blocks(language: str) -> list[str]:
    text = GUIDE.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_the_guides_examples_run_on_a_release(synthetic_run, monkeypatch):
    monkeypatch.chdir(synthetic_run.root)
    assert (Path("outputs") / "current").is_symlink()
    names: dict = {}
    python = guide_blocks("python")
    assert len(python) >= 4
    for block in python:
        exec(compile(block, str(GUIDE), "exec"), names)
    height = synthetic_run.values.height
    assert names["indicators"].height == names["table"].num_rows == height
    assert len(names["frame"]) == names["rows"].height == height
    assert names["latest"].height > 0
    for block in guide_blocks("sql"):
        assert duckdb.sql(block).fetchall()


def test_the_guide_explains_every_published_column():
    text = GUIDE.read_text(encoding="utf-8")
    for schema in (output_schema.INDICATORS_TABLE_SCHEMA, output_schema.CATALOGUE_TABLE_SCHEMA):
        for field in schema["fields"]:
            assert f"`{field['name']}`" in text, field["name"]
    for key in ("schema_version", "run_id", "created_at", "row_counts", "inputs", "files"):
        assert f"`{key}`" in text


def test_the_guide_gives_the_settings_the_code_uses():
    text = GUIDE.read_text(encoding="utf-8")
    assert f"{release_files.PARQUET_COMPRESSION.capitalize()} compression" in text
    assert f"{release_files.PARQUET_ROW_GROUP_SIZE:,} rows" in text
    assert f"format {release_files.PARQUET_FORMAT_VERSION}" in text
    assert os.path.basename(output_schema.INDICATORS_SCHEMA_PATH) in text


def test_the_flat_files_hold_every_published_row_for_power_bi_and_excel(synthetic_run):
    """indicators.parquet and indicators.csv (UTF-8 with a BOM) beside the partitioned
    dataset: the same rows, period_type and period_end as ordinary columns."""
    release = synthetic_run.release
    partitioned = pl.from_arrow(release_files.read_indicators(release))
    raw = (release / "indicators.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    header = raw[3:].split(b"\r\n", 1)[0].decode("utf-8").split(",")
    assert header == partitioned.columns
    csv_rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(csv_rows) == partitioned.height
    first = partitioned.sort(output_schema.PRIMARY_KEY).row(0, named=True)
    match = [
        r
        for r in csv_rows
        if all(r[k] == str(first[k]) for k in output_schema.PRIMARY_KEY if first[k] is not None)
    ]
    assert len(match) == 1
    flat = pq.read_table(release / "indicators.parquet")
    assert flat.num_rows == partitioned.height
    assert {"period_type", "period_end"} <= set(flat.schema.names)
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    listed = {f["path"]: f["rows"] for f in manifest["files"]}
    assert listed["indicators.parquet"] == listed["indicators.csv"] == partitioned.height
