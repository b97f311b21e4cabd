"""The benchmarks of a release (indicators.md v3, "Benchmarks: England, region and peers"):
the ICS's benchmarks file, or the project's England figures, checked and put beside the
published ICS rows as `benchmarks.parquet`.

A bad file fails the run before anything is published, naming every problem
(`load_benchmarks`): the disclosure control step reads and checks it first of all
(release/control.control_release), and the publish step reads it again before it writes.
Benchmarks are public figures, so no disclosure rule applies to them; the comparison with
each is made from the ICS row's published 95% interval only (transforms/benchmarks.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diewell.transforms.benchmarks import attach_benchmarks, check_benchmarks
from diewell.warehouse.indicators.catalogue import catalogue
from diewell.warehouse.indicators.schema import (
    BENCHMARKS_TABLE_SCHEMA,
    SCHEMA_VERSION,
    table_dtypes,
)

if TYPE_CHECKING:
    from diewell.config import Config

# The project's public England figures, used when the configuration names no file.
DEFAULT_BENCHMARKS = Path(__file__).resolve().parent / "benchmarks" / "england.csv"
BENCHMARKS_DTYPES = table_dtypes(BENCHMARKS_TABLE_SCHEMA)
PROBLEMS_SHOWN = 20  # a message names this many problems, then says how many more


class BenchmarksInvalid(ValueError):
    """The benchmarks file cannot be used; the message names each problem by row and column."""


def benchmarks_path(config: Config) -> Path:
    """The ICS's benchmarks file (the configuration's `benchmarks:`), else the default."""
    return config.benchmarks or DEFAULT_BENCHMARKS


def read_benchmarks(path: Path) -> pl.DataFrame:
    """A benchmarks file read as text (every column a string) and checked; raise
    BenchmarksInvalid with its problems."""
    try:
        frame = pl.read_csv(path, infer_schema=False)
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise BenchmarksInvalid(
            f"the benchmarks file {path} cannot be read as CSV ({type(exc).__name__}), so "
            "nothing is published: fix it or remove `benchmarks:` from the configuration"
        ) from exc
    problems = check_benchmarks(frame, {i.id for i in catalogue()})
    if problems:
        shown = "; ".join(problems[:PROBLEMS_SHOWN])
        more = len(problems) - PROBLEMS_SHOWN
        raise BenchmarksInvalid(
            f"the benchmarks file {path} has {len(problems)} problem(s), so nothing is "
            f"published: {shown}" + (f"; and {more} more" if more > 0 else "")
        )
    return frame


def load_benchmarks(config: Config) -> pl.DataFrame:
    """The ICS's benchmarks (or the default England figures), checked."""
    return read_benchmarks(benchmarks_path(config))


def benchmark_rows(
    published: pl.DataFrame, source: pl.DataFrame | None, ics_code: str, run_id: str
) -> pl.DataFrame:
    """benchmarks.parquet's rows (its committed schema's columns, in its key order): each
    published ICS row of breakdown `all` in `published` beside the latest benchmark of each
    level and area in `source` (a checked benchmarks table; None: no benchmarks)."""
    if source is None or published.is_empty():
        return pl.DataFrame(schema=BENCHMARKS_DTYPES)
    polarity = {i.id: i.polarity for i in catalogue()}
    attached = attach_benchmarks(published, source, polarity)
    return (
        attached.with_columns(
            pl.lit("ics").alias("geography_level"),
            pl.lit(ics_code).alias("geography_code"),
            pl.lit(run_id).alias("run_id"),
            pl.lit(SCHEMA_VERSION).alias("schema_version"),
        )
        .select(list(BENCHMARKS_DTYPES))
        .cast(BENCHMARKS_DTYPES)
        .sort(BENCHMARKS_TABLE_SCHEMA["primaryKey"])
    )
