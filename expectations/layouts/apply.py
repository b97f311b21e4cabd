"""Applying a layout: a delivered table in, contract-shaped rows and the accounting out.

The steps, in order: the required source columns must be present (else LayoutColumnMissing:
the file is rejected); values are trimmed (empty is null); the filters take their rows out
(the first filter that matches gives the reason; a filtered row takes no further part); the
row forms make the contract, marker and working columns, and quarantine the rows whose codes
the layout does not know; aggregation (when the target has one) forms one row per group.
Every source row ends in exactly one of: a contract row (`source_rows`), `filtered`,
`findings`.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from diewell.expectations.layouts.aggregate import ROW, aggregate, masked
from diewell.expectations.layouts.conditions import condition_expr
from diewell.expectations.layouts.forms import FormBuilder, Formed, src
from diewell.expectations.layouts.model import (
    FILTERED_SCHEMA,
    FINDINGS_SCHEMA,
    SOURCE_ROWS_SCHEMA,
    WARNINGS_SCHEMA,
    Layout,
    LayoutColumnMissing,
    LayoutOutcome,
    Target,
)


def _source_frame(raw: pl.DataFrame, layout: Layout) -> pl.DataFrame:
    """The delivered table's layout columns (lower-cased names), trimmed, empty as null, with
    `__row` (1-based data row of the file); absent optional columns as nulls."""
    present = {c.strip().lower(): c for c in raw.columns}
    missing = tuple(c for c in layout.required if c.lower() not in present)
    if missing:
        raise LayoutColumnMissing(layout.name, missing)
    columns = []
    for name in layout.source_columns:
        if name.lower() in present:
            value = pl.col(present[name.lower()]).cast(pl.String).str.strip_chars()
            columns.append(pl.when(value != "").then(value).alias(name.lower()))
        else:
            columns.append(pl.lit(None, dtype=pl.String).alias(name.lower()))
    return raw.select(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW), *columns)


def _filter_reason(target: Target, layout: Layout) -> pl.Expr:
    reason = pl.lit(None, dtype=pl.String)
    for f in reversed(target.filters):  # the first filter that matches gives the reason
        matched = condition_expr(f["when"], src, layout.codelists)
        reason = pl.when(matched).then(pl.lit(f["reason"])).otherwise(reason)
    return reason


def _check_frames(formed_frame: pl.DataFrame, checks: list) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(findings, per-row warnings) of the row forms' checks (flag columns `__check<i>`)."""
    findings = [pl.DataFrame(schema=FINDINGS_SCHEMA)]
    warnings = [
        pl.DataFrame(
            schema={
                "source_row": pl.Int64,
                "rule": pl.String,
                "column": pl.String,
                "code": pl.String,
            }
        )
    ]
    for i, check in enumerate(checks):
        flag = pl.col(f"__check{i}")
        hit = formed_frame.filter(flag.is_not_null())
        if not hit.height:
            continue
        if check.kind == "finding":
            before, after = check.message
            findings.append(
                hit.select(
                    pl.col(ROW).alias("source_row"),
                    pl.lit(check.rule).alias("rule"),
                    pl.lit(check.column).alias("column"),
                    masked(flag).alias("value"),
                    pl.concat_str([pl.lit(before), masked(flag), pl.lit(after)]).alias("message"),
                ).cast(FINDINGS_SCHEMA)
            )
        else:
            warnings.append(
                hit.select(
                    pl.col(ROW).alias("source_row"),
                    pl.lit(check.rule).alias("rule"),
                    pl.lit(check.column).alias("column"),
                    flag.alias("code"),
                )
            )
    return pl.concat(findings), pl.concat(warnings)


def _column_sources(target: Target, formed: Mapping[str, Formed]) -> dict[str, str]:
    sources = {name: ", ".join(f.sources) for name, f in formed.items() if f.sources}
    if target.aggregate:
        for name, pick in target.aggregate["columns"].items():
            used = [pick.get(k) for k in ("column", "date", "code")] + list(pick.get("where", {}))
            names: list[str] = []
            for column in used:
                for s in formed[column].sources if column in formed else ():
                    if s not in names:
                        names.append(s)
            if names:
                sources[name] = ", ".join(names)
    return {c: sources[c] for c in target.output_columns if c in sources}


def apply_layout(
    raw: pl.DataFrame,
    layout: Layout,
    *,
    lookups: Mapping[str, Mapping[str, str]] | None = None,
    target_extract: str,
) -> LayoutOutcome:
    """Map a delivered table (every column text, names normalised) through a layout's target.

    `lookups` supplies the values of the layout's supplied lookups (ref_lsoa_2011: LSOA 2011
    code -> 2021 code); a code a lookup does not list passes through as it came.
    """
    target = layout.target(target_extract)
    frame = _source_frame(raw, layout)
    frame = frame.with_columns(_filter_reason(target, layout).alias("__filter"))
    filtered = frame.filter(pl.col("__filter").is_not_null()).select(
        pl.col(ROW).alias("source_row"), pl.col("__filter").alias("reason")
    )
    kept = frame.filter(pl.col("__filter").is_null())

    builder = FormBuilder(layout, lookups)
    formed = {name: builder.build(name, spec) for name, spec in target.formed.items()}
    checks = [check for f in formed.values() for check in f.checks]
    formed_frame = kept.select(
        ROW,
        *(f.value.alias(name) for name, f in formed.items()),
        *(check.flag.alias(f"__check{i}") for i, check in enumerate(checks)),
    )
    findings, row_warnings = _check_frames(formed_frame, checks)
    quarantined = findings["source_row"].unique()

    if target.aggregate:
        sources = {name: ", ".join(f.sources) for name, f in formed.items() if f.sources}
        formed_frame, group_findings, group_filtered = aggregate(
            formed_frame.select(ROW, *formed), target.aggregate, layout, sources, quarantined
        )
        findings = pl.concat([findings, group_findings])
        filtered = pl.concat([filtered.cast(FILTERED_SCHEMA), group_filtered])
    else:  # one contract row per kept source row
        formed_frame = formed_frame.filter(~pl.col(ROW).is_in(quarantined.implode()))
        formed_frame = formed_frame.with_columns(pl.col(ROW).alias("__rows"))
    numbered = formed_frame.with_columns(
        pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias("row_number")
    )
    rows = numbered.select(
        "row_number", *(pl.col(c).cast(pl.String) for c in target.output_columns)
    )
    source_rows = numbered.select("row_number", pl.col("__rows").alias("source_row"))
    source_rows = source_rows.explode("source_row") if target.aggregate else source_rows

    source_rows = source_rows.cast(SOURCE_ROWS_SCHEMA).sort("row_number", "source_row")
    warnings = (
        row_warnings.filter(pl.col("source_row").is_in(source_rows["source_row"].implode()))
        .group_by("rule", "column", "code")
        .agg(pl.len().cast(pl.Int64).alias("rows"))
        .with_columns(masked(pl.col("code")).alias("code"))
        .sort("rule", "column", "code")
        .cast(WARNINGS_SCHEMA)
    )
    return LayoutOutcome(
        rows=rows,
        source_rows=source_rows,
        filtered=filtered.cast(FILTERED_SCHEMA).sort("source_row"),
        findings=findings.cast(FINDINGS_SCHEMA).sort("source_row", "rule", maintain_order=True),
        warnings=warnings,
        column_sources=_column_sources(target, formed),
        rows_read=raw.height,
    )
