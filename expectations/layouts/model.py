"""What a loaded layout is, what applying one gives, and the errors on the way.

A `Layout` is a validated layout file with its code lists and lookup files read; its targets
keep the file's own specifications (plain mappings, defaults filled in), which the appliers
(`forms`, `aggregate`, `apply`) interpret. A `LayoutOutcome` is one delivered table mapped
through one target.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl


class LayoutError(ValueError):
    """A layout that cannot be loaded or applied; the message names the file and the key."""


class LayoutNotFound(LayoutError):
    """No layout of that name in the ICS's folders or among the built-in layouts."""


class LayoutColumnMissing(LayoutError):
    """A delivered table lacks source columns the layout requires (a file rejection,
    `required_column_missing`); `columns` spells them as the layout does."""

    def __init__(self, layout: str, columns: tuple[str, ...]):
        self.layout = layout
        self.columns = columns
        super().__init__(
            f"the file has no {', '.join(columns)} column{'s' if len(columns) > 1 else ''}, "
            f"which layout {layout} requires (names are matched ignoring case)"
        )


def problem(file: Path | str, key: str, message: str) -> LayoutError:
    """A LayoutError naming the file and the key (a dotted path inside it)."""
    where = f"{file}: {key}" if key else str(file)
    return LayoutError(f"layout file {where}: {message}")


@dataclass(frozen=True)
class Provenance:
    """Where a code list or lookup file comes from (its sidecar `<stem>.source`)."""

    file: str  # the data file's name
    source: str  # the public source, in words and addresses
    details: Mapping[str, str] = field(default_factory=dict)  # version, copied_from, notes...


@dataclass(frozen=True)
class CodeList:
    name: str  # as the layout names it (PALCARE_COD)
    codes: frozenset[str]
    provenance: tuple[Provenance, ...]


@dataclass(frozen=True)
class Lookup:
    """A lookup table: key -> value (a map), or a set of keys (a calendar of dates, say).

    `supplied` lookups get their values from the caller at apply time (the warehouse's
    ref_lsoa_2011); a file lookup is read when the layout loads.
    """

    name: str
    supplied: bool
    required: bool = False  # a supplied lookup the caller must give (else it counts as empty)
    values: Mapping[str, str] | None = None  # a file map lookup
    keys: frozenset[str] | None = None  # a file set lookup
    provenance: tuple[Provenance, ...] = ()


@dataclass(frozen=True)
class Target:
    """How a layout forms rows of one contract extract (the file's `targets.<extract>`)."""

    extract: str
    filters: tuple[Mapping[str, Any], ...]
    columns: Mapping[str, Mapping[str, Any]]  # contract column -> its form
    markers: Mapping[str, Mapping[str, Any]]  # extra output column -> its form
    working: Mapping[str, Mapping[str, Any]]  # helper column (for aggregation) -> its form
    aggregate: Mapping[str, Any] | None

    @property
    def formed(self) -> dict[str, Mapping[str, Any]]:
        """Every row-level column, in the order of the file: contract, markers, working."""
        return {**self.columns, **self.markers, **self.working}

    @property
    def output_columns(self) -> list[str]:
        """The contract columns of a row (formed per row or by aggregation), then markers."""
        names = list(self.columns)
        if self.aggregate:
            names += [c for c in self.aggregate["columns"] if c not in names]
        return [c for c in names if c not in self.markers] + list(self.markers)


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    path: Path
    required: tuple[str, ...]  # source columns, spelled as the layout spells them
    optional: tuple[str, ...]
    codelists: Mapping[str, CodeList]
    lookups: Mapping[str, Lookup]
    targets: Mapping[str, Target]

    @property
    def source_columns(self) -> tuple[str, ...]:
        return self.required + self.optional

    def target(self, extract: str) -> Target:
        if extract not in self.targets:
            raise problem(
                self.path,
                "targets",
                f"layout {self.name} forms no {extract} rows (it forms {', '.join(self.targets)})",
            )
        return self.targets[extract]


FINDINGS_SCHEMA = {
    "source_row": pl.Int64,
    "rule": pl.String,
    "column": pl.String,
    "value": pl.String,
    "message": pl.String,
}
FILTERED_SCHEMA = {"source_row": pl.Int64, "reason": pl.String}
WARNINGS_SCHEMA = {"rule": pl.String, "column": pl.String, "code": pl.String, "rows": pl.Int64}
SOURCE_ROWS_SCHEMA = {"row_number": pl.Int64, "source_row": pl.Int64}


@dataclass(frozen=True)
class LayoutOutcome:
    """A delivered table mapped through a layout's target.

    Every source row (1-based data row of the delivered file) ends in exactly one of
    `source_rows` (it formed a contract row), `filtered` (a filter of the layout took it out,
    with the reason) or `findings` (the layout quarantined it; a row may have several).
    """

    rows: pl.DataFrame  # row_number 1..n, the contract columns (String), then the markers
    source_rows: pl.DataFrame  # row_number -> source_row: the source rows of each contract row
    filtered: pl.DataFrame  # source_row, reason
    findings: pl.DataFrame  # source_row, rule, column (the source column), value, message
    warnings: pl.DataFrame  # rule, column, code, rows: kept rows whose code went to a default
    column_sources: dict[str, str]  # output column -> its source column(s), joined by ", "
    rows_read: int

    @property
    def rows_quarantined(self) -> int:
        return self.findings["source_row"].n_unique() if self.findings.height else 0

    @property
    def rows_filtered(self) -> int:
        return self.filtered.height

    def filtered_by_reason(self) -> dict[str, int]:
        """How many source rows each filter reason took out."""
        counts = self.filtered.group_by("reason").len().sort("reason")
        return dict(zip(counts["reason"], counts["len"], strict=True))
