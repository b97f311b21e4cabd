"""The audit of a release's v3 tables, read back from the staged files: benchmarks.parquet and
spc.parquet (indicators.md v3), each against its committed schema and its rules.

benchmarks.parquet: exactly the benchmarks of the published ICS rows (read back from the
staged indicator files) beside the benchmarks file, each comparison following from the ICS
row's published 95% interval alone. No disclosure rule applies: the figures are public.

spc.parquet: one row per SPC indicator and month of the exact monthly counts; rule 1 (no
month whose true count is 1 to the threshold is shown, and a suppressed month shows nothing),
rule 2 (counts are the true ones rounded, the value worked out from them), rule 3 (no month
of the place-of-death set with a single hidden cell) and rule 4 (the chart worked out from
the published values alone: the same limits, flags, icons and reading).
"""

from __future__ import annotations

import math

import polars as pl
import pyarrow as pa

from diewell.release.benchmarking import benchmark_rows
from diewell.release.schema import table_schema_problems
from diewell.transforms.spc_series import CHART_COLUMNS, chart_table
from diewell.transforms.suppression import round_to_multiple
from diewell.warehouse.indicators.catalogue import shared_denominators
from diewell.warehouse.indicators.schema import (
    BENCHMARKS_TABLE_SCHEMA,
    SCHEMA_VERSION,
    SPC_TABLE_SCHEMA,
)

REL = 1e-9  # a recomputed limit or value must agree to this (relative)
SPC_FLAGS = ("outside_limits", "shift", "trend", "two_in_three", "special_cause")


def _run_problems(df: pl.DataFrame, what: str, run_id: str) -> list[str]:
    problems = []
    if df.height and (df["schema_version"] != SCHEMA_VERSION).any():
        problems.append(f"{what}: schema_version is not {SCHEMA_VERSION} throughout")
    if df.height and (df["run_id"] != run_id).any():
        problems.append(f"{what}: run_id is not {run_id} throughout")
    return problems


def benchmark_problems(
    table: pa.Table,
    published_ics: pl.DataFrame,
    source: pl.DataFrame | None,
    ics_code: str | None,
    run_id: str,
) -> list[str]:
    """How the staged benchmarks.parquet breaks its schema or differs from the benchmarks of
    the published ICS rows `published_ics` (read back) beside `source` (None: none)."""
    problems = table_schema_problems(table, BENCHMARKS_TABLE_SCHEMA, "benchmarks")
    if problems:
        return problems
    found = pl.from_arrow(table)
    problems += _run_problems(found, "benchmarks", run_id)
    expected = benchmark_rows(published_ics, source, ics_code or "", run_id)
    if not _same_rows(found, expected):
        problems.append(
            f"benchmarks: the {found.height} rows are not the {expected.height} benchmarks of "
            "the published ICS rows (each comparison must follow from the published interval)"
        )
    return problems


def _same_rows(found: pl.DataFrame, expected: pl.DataFrame) -> bool:
    if found.columns != expected.columns or found.height != expected.height:
        return False
    key = list(expected.columns)
    return found.sort(key, nulls_last=True).equals(expected.sort(key, nulls_last=True))


def spc_problems(
    table: pa.Table,
    exact: pl.DataFrame | None,
    polarity: dict[str, str],
    threshold: int,
    multiple: int,
    run_id: str,
) -> list[str]:
    """How the staged spc.parquet breaks its schema or disclosure rules 1-4, against the
    exact monthly counts `exact` (warehouse.indicators.monthly; None: the release has no
    series, as a regional one)."""
    problems = table_schema_problems(table, SPC_TABLE_SCHEMA, "spc")
    if problems:
        return problems
    found = pl.from_arrow(table)
    problems += _run_problems(found, "spc", run_id)
    key = ["indicator_id", "period_end"]
    if exact is None or exact.is_empty():
        return problems + ([f"spc: {found.height} rows, but no series"] if found.height else [])
    joined = found.join(
        exact.select(*key, "numerator", "denominator"), on=key, how="full", suffix="_exact"
    )
    if joined.height != found.height or joined.height != exact.height:
        return [*problems, "spc: the months are not one row per SPC indicator and month"]
    problems += _disclosure(joined, threshold, multiple)
    problems += _chart(found, polarity)
    return problems


def _disclosure(rows: pl.DataFrame, threshold: int, multiple: int) -> list[str]:
    """Rules 1-3 on each month (rows: the published columns and the exact counts)."""
    problems = []
    hidden = rows["suppressed"]
    small = pl.lit(False)
    for column in ("numerator", "denominator"):
        small = small | pl.col(f"{column}_exact").is_between(1, threshold)
    if n := rows.filter(small & ~pl.col("suppressed")).height:
        problems.append(f"spc: {n} months shown whose true count is 1-{threshold} (rule 1)")
    shown = ("numerator", "denominator", "value", *SPC_FLAGS)
    if n := rows.filter(hidden & pl.any_horizontal(pl.col(c).is_not_null() for c in shown)).height:
        problems.append(f"spc: {n} suppressed months still carry counts, a value or flags")
    bad = 0
    for row in rows.filter(~hidden).iter_rows(named=True):
        counts = [row[c] for c in ("numerator", "denominator")]
        exact = [
            round_to_multiple(row[f"{c}_exact"], multiple) for c in ("numerator", "denominator")
        ]
        n, d = counts
        value = 100 * n / d if d else None
        bad += counts != exact or not _close(row["value"], value)
    if bad:
        problems.append(
            f"spc: {bad} months' counts are not the true ones rounded to {multiple}, or their "
            "value does not follow from them (rule 2)"
        )
    in_set = shared_denominators()
    sets = (
        rows.filter(pl.col("indicator_id").is_in(list(in_set)))
        .with_columns(pl.col("indicator_id").replace_strict(in_set).alias("_set"))
        .group_by("_set", "period_end")
        .agg(pl.col("suppressed").sum().alias("_hidden"))
    )
    if n := sets.filter(pl.col("_hidden") == 1).height:
        problems.append(f"spc: {n} months of a shared-denominator set hide a single cell (rule 3)")
    return problems


def _chart(found: pl.DataFrame, polarity: dict[str, str]) -> list[str]:
    """Rule 4: the chart columns are those of the published values (chart_table)."""
    targets = {
        r["indicator_id"]: r["target"]
        for r in found.filter(pl.col("target").is_not_null()).iter_rows(named=True)
    }
    missing = set(found["indicator_id"]) - set(polarity)
    if missing:
        return [f"spc: indicator(s) {', '.join(sorted(missing))} are not in the catalogue"]
    series = found.select("indicator_id", "period_end", "value")
    again = chart_table(series, polarity, targets=targets).sort("indicator_id", "period_end")
    found = found.sort("indicator_id", "period_end")
    differ = [
        name
        for name, dtype in CHART_COLUMNS.items()
        if not _columns_agree(found[name], again[name], dtype == pl.Float64)
    ]
    if differ:
        return [
            f"spc: {', '.join(differ)} do not follow from the published monthly values (rule 4)"
        ]
    return []


def _columns_agree(a: pl.Series, b: pl.Series, numbers: bool) -> bool:
    if not numbers:
        return a.to_list() == b.to_list()
    return all(_close(x, y) for x, y in zip(a.to_list(), b.to_list(), strict=True))


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-12)
