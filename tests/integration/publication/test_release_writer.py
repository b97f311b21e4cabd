"""The release is written a batch at a time from DuckDB: each partition file, the flat
Parquet and the CSV hold exactly their rows, in SORT_KEYS order, in row groups of the fixed
size whatever the batches were."""

from __future__ import annotations

import datetime as dt
import random

import polars as pl
import pyarrow.parquet as pq
import pytest

from diewell.release import control
from diewell.release import files as release_files
from diewell.release import schema as release_schema
from diewell.warehouse import connection
from diewell.warehouse.indicators import schema as output_schema
from diewell.warehouse.indicators.compute import SORT_KEYS
from diewell.warehouse.indicators.schema import OUTPUT_DTYPES

ENDS = [dt.date(2024, 3, 31), dt.date(2025, 3, 31)]


def rows(n: int) -> pl.DataFrame:
    """n published rows over three partitions, shuffled, with nulls in a sort key."""
    shuffle = random.Random(7)
    names = release_schema.OUTPUT_SCHEMA.names
    out = []
    for i in range(n):
        period_type = "financial_year" if i % 3 == 0 else "rolling_12m"
        row = dict.fromkeys(names)
        row.update(
            indicator_id=f"A{i % 4}",
            period_type=period_type,
            period_end=ENDS[0] if period_type == "financial_year" else ENDS[i % 2],
            geography_level="practice",
            geography_code=f"P{i:03d}",
            breakdown="all",
            breakdown_value=None if i % 5 == 0 else "all",
            numerator=5 * i,
            denominator=10 * i,
            suppressed=False,
            run_id="r1",
            schema_version=output_schema.SCHEMA_VERSION,
        )
        out.append(row)
    shuffle.shuffle(out)
    return pl.DataFrame(out, schema={c: OUTPUT_DTYPES[c] for c in names})


@pytest.mark.parametrize("n", [1, 7, 23])
def test_every_file_holds_its_rows_in_order_in_fixed_row_groups(tmp_path, monkeypatch, n):
    monkeypatch.setattr(release_files, "PARQUET_ROW_GROUP_SIZE", 3)
    published = rows(n)
    with control.rows_in_duckdb(published) as con:
        release_files.write_release_files(tmp_path / "release", con)
    release = tmp_path / "release"
    expected = published.sort(SORT_KEYS)  # Polars' order: nulls first

    def groups(path) -> list[int]:
        meta = pq.ParquetFile(path).metadata
        return [meta.row_group(g).num_rows for g in range(meta.num_row_groups)]

    def fixed(k: int) -> list[int]:
        return [3] * (k // 3) + ([k % 3] if k % 3 else [])

    files = sorted((release / release_files.INDICATORS_DIR).rglob("*.parquet"))
    partitions = expected.partition_by(["period_type", "period_end"], maintain_order=True)
    assert len(files) == len(partitions)
    for part in partitions:
        period_type, period_end = part["period_type"][0], part["period_end"][0]
        path = (
            release
            / release_files.INDICATORS_DIR
            / f"period_type={period_type}"
            / f"period_end={period_end.isoformat()}"
            / "part-0.parquet"
        )
        written = pl.read_parquet(path)
        assert written.equals(part.drop(["period_type", "period_end"]))
        assert groups(path) == fixed(part.height)

    flat = pl.read_parquet(release / release_files.FLAT_PARQUET_FILE)
    assert flat.equals(expected)
    assert groups(release / release_files.FLAT_PARQUET_FILE) == fixed(n)
    text = (release / release_files.FLAT_CSV_FILE).read_bytes()
    assert text.startswith(b"\xef\xbb\xbf")
    assert text.count(b"\r\n") == n + 1  # the header and one line a row
    csv = pl.read_csv(release / release_files.FLAT_CSV_FILE, schema=expected.schema)
    assert csv.equals(expected)


def test_no_rows_write_a_header_alone(tmp_path):
    empty = rows(1).clear()
    with control.rows_in_duckdb(empty) as con:
        assert release_files._write_flat_files(tmp_path, con, control.PUBLICATION_TABLE) == 0
    text = (tmp_path / release_files.FLAT_CSV_FILE).read_bytes().decode("utf-8-sig")
    assert text == ",".join(release_schema.OUTPUT_SCHEMA.names) + "\r\n"
    assert pq.ParquetFile(tmp_path / release_files.FLAT_PARQUET_FILE).metadata.num_rows == 0


@pytest.mark.parametrize("append_rows", [1, 10, 1_000_000])
def test_parts_gathered_into_the_table_keep_every_row_in_order(monkeypatch, append_rows):
    """control_in_parts gathers controlled parts up to GATHERED_ROWS rows before an INSERT:
    whatever the gathering, the table holds every part's rows, parts in release order, rows
    in each part's order, and the counts are the rows'."""
    import duckdb

    monkeypatch.setattr(connection, "GATHERED_ROWS", append_rows)
    monkeypatch.setattr(control, "controlled_rows", lambda exact, *settings: exact)
    published = rows(23).with_columns(
        pl.when(pl.col("numerator") % 3 == 0).then(True).otherwise(False).alias("suppressed")
    )
    by_part = {i: published.filter(pl.col("indicator_id") == i) for i in ("A0", "A1", "A2", "A3")}
    con = duckdb.connect()
    counts = control.control_in_parts(
        con, lambda part: [pl.concat([by_part[i] for i in part])], by_part, 10, 5, "r1"
    )
    table = pl.from_arrow(con.sql(f"SELECT * FROM {control.PUBLICATION_TABLE}").to_arrow_table())
    expected = pl.concat([by_part[i] for i in ("A0", "A1", "A2", "A3")])
    assert table.select(expected.columns).equals(
        expected.cast(table.select(expected.columns).schema)
    )
    assert counts.rows == 23
    assert counts.suppressed == sum(1 for n in published["numerator"] if n % 3 == 0)
