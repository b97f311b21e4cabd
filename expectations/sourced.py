"""A delivery in a national layout (sources.md v3): read in its own columns, mapped by its layout,
checked by the contract's rules, and accounted for in its own rows and columns.

The provider registration names the layout of each extract it sends (config.md v3); a file of
an extract with no layout is read as the contract says (expectations/reading). For a file in a
layout:

1. its source columns are read as text (`reading.Wanted.of_layout`: a missing required one
   rejects the file, `required_column_missing`, naming it as the layout spells it);
2. the layout forms the contract rows (`layouts.apply_layout`): filters first (a filtered row
   takes no further part), then each contract column, then any aggregation (episodes into a
   spell, events into a register row); it quarantines what it owns (an unknown code, episodes
   that disagree) and counts codes it sent to a default (warnings);
3. the contract's rules check the formed rows (rules.validate_batch, as for any file);
4. the result is given back in source terms (`in_source_terms`): a contract row's findings
   become findings of every source row that formed it, naming the source column; a loaded
   contract row counts its source rows. So rows read (the file's) = rows loaded + rows
   quarantined + rows filtered, per file, as the warehouse's CHECK requires.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diewell.expectations.files import Delivery, FileRejected
from diewell.expectations.layouts import (
    Layout,
    LayoutColumnMissing,
    LayoutOutcome,
    apply_layout,
    load_layout,
)
from diewell.expectations.reading import Read
from diewell.expectations.rules import FINDINGS_SCHEMA, ValidationResult

if TYPE_CHECKING:
    from diewell.config import Config

SOURCE_ROWS = "_source_rows"  # a formed row's count of source rows (1 for the contract layout)


@cache
def _layout(name: str, folder: Path | None) -> Layout:
    return load_layout(name, [folder] if folder else [])


def layout_of(delivery: Delivery, config: Config | None) -> Layout | None:
    """The layout the delivery's provider sends its extract in; None for the contract's (or
    when there is no configuration to say)."""
    if config is None:
        return None
    name = config.layout_of(delivery.provider, delivery.extract)
    return None if name is None else _layout(name, config.layouts_folder)


def formed(
    delivery: Delivery, read: Read, layout: Layout, lookups: dict[str, dict[str, str]] | None
) -> LayoutOutcome:
    """The contract rows a layout forms from a delivered file's source rows."""
    try:
        return apply_layout(read.rows, layout, lookups=lookups, target_extract=delivery.extract)
    except LayoutColumnMissing as missing:
        raise FileRejected(
            "required_column_missing",
            f"required column(s) of layout {layout.name} {', '.join(missing.columns)} missing; "
            f"the header has: {', '.join(read.columns)}",
        ) from None


def contract_rows(outcome: LayoutOutcome) -> pl.DataFrame:
    """The formed rows as the contract's rules take them: text, in row order (they number the
    rows 1..n themselves, as `outcome.rows` does)."""
    return outcome.rows.drop("row_number")


def in_source_terms(
    outcome: LayoutOutcome, result: ValidationResult, layout: str
) -> ValidationResult:
    """The contract rules' result over a layout's formed rows, in the delivered file's terms."""
    sources = outcome.source_rows  # row_number (formed row) -> source_row
    counts = sources.group_by("row_number").agg(
        pl.len().cast(pl.Int64).alias(SOURCE_ROWS),
        pl.col("source_row").min().alias("first_source_row"),
    )
    rows = (
        result.rows.join(counts, on="row_number", how="left")
        .with_columns(pl.col("first_source_row").alias("row_number"))
        .drop("first_source_row")
    )
    named = pl.col("column").replace_strict(
        outcome.column_sources, default=pl.col("column"), return_dtype=pl.String
    )
    contract_findings = (
        result.findings.join(sources, on="row_number", how="inner")
        .with_columns(
            pl.format("{} (forming {}): {}", named, pl.col("column"), pl.col("message")).alias(
                "message"
            ),
            named.alias("column"),
            pl.col("source_row").alias("row_number"),
        )
        .select(list(FINDINGS_SCHEMA))
    )
    layout_findings = outcome.findings.rename({"source_row": "row_number"}).select(
        list(FINDINGS_SCHEMA)
    )
    findings = (
        pl.concat([layout_findings.cast(FINDINGS_SCHEMA), contract_findings.cast(FINDINGS_SCHEMA)])
        .unique(maintain_order=True)
        .sort("row_number", "rule", "column")
    )
    return ValidationResult(
        rows=rows,
        findings=findings,
        rows_read=outcome.rows_read,
        rows_filtered=outcome.rows_filtered,
        filtered_by_reason=outcome.filtered_by_reason(),
        warnings=outcome.warnings.to_dicts(),
        layout=layout,
        rows_formed=outcome.rows.height,
    )


def filtered_text(by_reason: dict[str, int]) -> str | None:
    """Filtered rows per reason as landing_files keeps them (JSON, reasons in order)."""
    return json.dumps(dict(sorted(by_reason.items()))) if by_reason else None
