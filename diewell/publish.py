"""Publication for the dashboard team: disclosure control, Parquet, catalogue and manifest.

Layout under paths.outputs:
    releases/<run_id>/indicators/period_type=<..>/period_end=<YYYY-MM-DD>/part-0.parquet
    releases/<run_id>/indicator_catalogue.parquet
    releases/<run_id>/manifest.json
    current -> releases/<run_id>        (a symlink switched atomically after the audit)

A release is written to a staging folder, audited, and only then renamed into releases/ and
pointed at by `current`; a failed audit leaves the previous publication in place.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from diewell.config import Config
from diewell.indicators import OUTPUT_COLUMNS, SORT_KEYS, catalogue_frame
from transforms.disclosure import apply_disclosure_control

SCHEMA_VERSION = "1.0.0"
PARQUET_COMPRESSION = "zstd"
PARQUET_ROW_GROUP_SIZE = 100_000

OUTPUT_SCHEMA = pa.schema(
    [
        ("indicator_id", pa.string()),
        ("indicator_name", pa.string()),
        ("period_type", pa.string()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("geography_level", pa.string()),
        ("geography_code", pa.string()),
        ("geography_name", pa.string()),
        ("breakdown", pa.string()),
        ("breakdown_value", pa.string()),
        ("numerator", pa.int64()),
        ("denominator", pa.int64()),
        ("value", pa.float64()),
        ("lower_95", pa.float64()),
        ("upper_95", pa.float64()),
        ("lower_99_8", pa.float64()),
        ("upper_99_8", pa.float64()),
        ("unit", pa.string()),
        ("statistic", pa.string()),
        ("polarity", pa.string()),
        ("comparator_value", pa.float64()),
        ("comparison", pa.string()),
        ("suppressed", pa.bool_()),
        ("data_complete", pa.bool_()),
        ("run_id", pa.string()),
        ("schema_version", pa.string()),
    ]
)
assert OUTPUT_SCHEMA.names == OUTPUT_COLUMNS


class AuditFailed(RuntimeError):
    """The staged publication broke a publication rule; the previous one stays in place."""


def disclosure_controlled(values: pl.DataFrame, config: Config) -> pl.DataFrame:
    published = apply_disclosure_control(
        values, threshold=config.suppress_up_to, multiple=config.round_to
    ).with_columns(pl.lit(SCHEMA_VERSION).alias("schema_version"))
    return published.select(OUTPUT_COLUMNS).sort(SORT_KEYS)


def audit(published: pl.DataFrame, exact: pl.DataFrame, config: Config) -> None:
    """Check the staged rows against the publication rules before they are promoted."""
    if published.height != exact.height:
        raise AuditFailed(f"{published.height} rows staged but the warehouse holds {exact.height}")
    for col in ("numerator", "denominator"):
        counts = published[col].drop_nulls()
        small = counts.filter((counts >= 1) & (counts <= config.suppress_up_to))
        if small.len():
            raise AuditFailed(f"{small.len()} published {col}s lie in 1-{config.suppress_up_to}")
        if (counts % config.round_to != 0).any():
            raise AuditFailed(f"published {col}s are not all multiples of {config.round_to}")
    leaked = published.filter(
        pl.col("suppressed")
        & pl.any_horizontal(pl.col(c).is_not_null() for c in ("value", "lower_95", "upper_95"))
    )
    if leaked.height:
        raise AuditFailed(f"{leaked.height} suppressed rows still carry values")


def publish(
    con: duckdb.DuckDBPyConnection, values: pl.DataFrame, config: Config, run_id: str
) -> Path:
    """Write, audit and promote a release; return its folder."""
    published = disclosure_controlled(values, config)
    audit(published, values, config)

    releases = config.outputs / "releases"
    staging = config.outputs / ".staging" / run_id
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    table = pa.Table.from_pandas(published.to_pandas(), schema=OUTPUT_SCHEMA, preserve_index=False)
    ds.write_dataset(
        table,
        staging / "indicators",
        format="parquet",
        partitioning=ds.partitioning(
            pa.schema([("period_type", pa.string()), ("period_end", pa.date32())]), flavor="hive"
        ),
        basename_template="part-{i}.parquet",
        file_options=ds.ParquetFileFormat().make_write_options(compression=PARQUET_COMPRESSION),
        max_rows_per_group=PARQUET_ROW_GROUP_SIZE,
        existing_data_behavior="error",
    )
    pq.write_table(
        catalogue_frame().to_arrow(),
        staging / "indicator_catalogue.parquet",
        compression=PARQUET_COMPRESSION,
    )
    inputs = con.execute(
        "SELECT file_name, extract, provider, period_end, sha256, rows_loaded FROM landing_files "
        "WHERE status = 'loaded' ORDER BY extract, provider, period_end"
    ).fetchall()
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "ics": {"code": config.ics_code, "name": config.ics_name},
        "row_counts": {
            "indicators": published.height,
            "indicator_catalogue": len(catalogue_frame()),
        },
        "disclosure": {"suppress_up_to": config.suppress_up_to, "round_to": config.round_to},
        "parquet": {
            "compression": PARQUET_COMPRESSION,
            "max_rows_per_group": PARQUET_ROW_GROUP_SIZE,
        },
        "inputs": [
            {
                "file_name": f,
                "extract": e,
                "provider": p,
                "period_end": d.isoformat(),
                "sha256": s,
                "rows_loaded": n,
            }
            for f, e, p, d, s, n in inputs
        ],
    }
    (staging / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")

    releases.mkdir(parents=True, exist_ok=True)
    release = releases / run_id
    os.replace(staging, release)
    link_tmp = config.outputs / f".current-{run_id}"
    link_tmp.unlink(missing_ok=True)
    link_tmp.symlink_to(Path("releases") / run_id)
    os.replace(link_tmp, config.outputs / "current")
    return release
