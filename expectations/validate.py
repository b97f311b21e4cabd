"""Everything done to one delivery before its load, inside one boundary (`files.one_file`):
read it, convert it and apply the row rules; a window's files of an extract in one query.
A run (`sources.ingest`) and `diewell check` both use it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from diewell.expectations.contracts import load_contract
from diewell.expectations.files import (
    DEFAULT_MAX_FILE_BYTES,
    NOT_READ,
    Delivery,
    FileRejected,
    max_file_bytes,
    one_file,
    parse_file_name,
    screen,
    sha256_of,
)
from diewell.expectations.layouts import Layout
from diewell.expectations.reading import Read, Wanted, read_delivery
from diewell.expectations.rules import ValidationResult, validate_batch, validate_rows
from diewell.expectations.sourced import contract_rows, formed, in_source_terms, layout_of

if TYPE_CHECKING:
    from diewell.config import Config


@dataclass
class Validated:
    """A file read and validated ahead of its load (`validate_window`), or why it was rejected."""

    sha: str
    columns_present: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    result: ValidationResult | None = None
    rejection: FileRejected | None = None
    # a file in a layout, between its mapping and its rules: (the layout's outcome, its name)
    formed: tuple | None = None


def read_and_validate(
    delivery: Delivery,
    limit: int = DEFAULT_MAX_FILE_BYTES,
    config: Config | None = None,
    lookups: Lookups | None = None,
) -> tuple[ValidationResult, list[str], list[str]]:
    """Everything done to one delivery before its load, inside one boundary (`one_file`):
    read it, map it by its layout if its provider sends it in one (expectations/sourced),
    and apply the row rules. The result, its column names and its extra columns; raises
    FileRejected, and only that, when the file cannot go on (a file rule, or anything at all
    that fails on it: `unreadable`). A run and `diewell check` both use it."""
    person_key = config.person_key if config is not None else "nhs_number"
    with one_file("reading and checking"):
        layout = layout_of(delivery, config)
        read = _read(delivery, limit, layout)
        contract = load_contract(delivery.extract)
        if layout is None:
            return validate_rows(read.rows, contract, delivery.period_end, person_key), *_names(
                read
            )
        outcome = formed(delivery, read, layout, lookups)
        result = validate_rows(contract_rows(outcome), contract, delivery.period_end, person_key)
        return in_source_terms(outcome, result, layout.name), *_names(read)


Lookups = dict[str, dict[str, str]]  # a layout's supplied lookups: name -> key -> value


def _read(delivery: Delivery, limit: int, layout: Layout | None) -> Read:
    return read_delivery(delivery, limit, Wanted.of_layout(layout) if layout else None)


def _names(read: Read) -> tuple[list[str], list[str]]:
    return read.columns, read.extra


def quarantined_rows(findings: pl.DataFrame) -> int:
    """How many rows the findings hold back (a row breaking two rules counts once)."""
    return findings["row_number"].n_unique() if findings.height else 0


def too_many_failing(findings: pl.DataFrame, rows_read: int, contract) -> FileRejected | None:
    """The rejection of a file whose held-back rows are over the contract's share, else None
    (`rows_read`: the rows the file's layout kept, all of them for the contract layout)."""
    quarantined = quarantined_rows(findings)
    if rows_read and quarantined > contract.max_quarantined_share * rows_read:
        return _too_many_failing(findings, quarantined, rows_read)
    return None


Loaded = tuple[str, str, dt.date, str]  # (extract, provider, period_end, sha256) loaded


def validate_window(
    config: Config,
    paths: list[Path],
    forced: set[str],
    current: set[Loaded],
    lookups: Lookups | None = None,
) -> dict[Path, Validated]:
    """Read and validate files ahead of loading them, one query per extract.

    Pure, and free of the warehouse, so it can run in another process (a Dask worker): a file
    byte-identical to a delivery in `current` (LandingIndex.loaded, read by the caller) is not
    read, unless its name is in `forced`; `lookups` are the layouts' supplied lookups as the
    warehouse holds them (read by the caller). Config and the result (Validated, polars
    frames, FileRejected) pickle. Files whose names do not parse are left out: `ingest_file`
    rejects them. A file in a national layout is mapped by it first (expectations/sourced).
    """
    limit = max_file_bytes(config)
    person_key = config.person_key

    def read(path: Path) -> tuple[Delivery, Validated, pl.DataFrame | None] | None:
        try:
            screen(path, limit)
            delivery = parse_file_name(path, config)
        except FileRejected:
            return None  # `ingest_file` rejects it, unread
        v = Validated(NOT_READ)
        try:
            with one_file("reading"):
                v.sha = sha256_of(path)
                loaded = (delivery.extract, delivery.provider, delivery.period_end, v.sha)
                if path.name not in forced and loaded in current:  # as `_is_current`
                    return delivery, v, None
                layout = layout_of(delivery, config)
                read = _read(delivery, limit, layout)
                if layout is not None:
                    v.formed = (formed(delivery, read, layout, lookups), layout.name)
        except FileRejected as rejection:
            v.rejection = rejection
            return delivery, v, None
        v.columns_present, v.extra = read.columns, read.extra
        rows = contract_rows(v.formed[0]) if v.formed else read.rows
        return delivery, v, rows

    validated: dict[Path, Validated] = {}
    tables: dict[str, list[tuple[Path, pl.DataFrame, dt.date]]] = {}
    for path in paths:
        found = read(path)
        if found is None:
            continue
        delivery, validated[path], rows = found
        if rows is not None:
            tables.setdefault(delivery.extract, []).append((path, rows, delivery.period_end))
    for extract, files in tables.items():
        together = _validated_together(extract, files, person_key)
        for (path, _, _), outcome in zip(files, together, strict=True):
            v = validated[path]
            if isinstance(outcome, FileRejected):
                v.rejection = outcome
            elif v.formed is not None:
                v.result, v.formed = in_source_terms(v.formed[0], outcome, v.formed[1]), None
            else:
                v.result = outcome
    return validated


def _validated_together(
    extract: str, files: list[tuple[Path, pl.DataFrame, dt.date]], person_key: str
) -> list[ValidationResult | FileRejected]:
    """The row rules over a window's files of one extract in one query; should that query
    fail, each file alone, so that only the file it fails on is rejected (`one_file`)."""
    contract = load_contract(extract)
    try:
        with one_file("checking the rows of"):
            return validate_batch([(rows, end) for _, rows, end in files], contract, person_key)
    except FileRejected:
        pass
    outcomes: list[ValidationResult | FileRejected] = []
    for _, rows, end in files:
        try:
            with one_file("checking its rows"):
                outcomes.append(validate_rows(rows, contract, end, person_key))
        except FileRejected as rejection:
            outcomes.append(rejection)
    return outcomes


def _too_many_failing(findings: pl.DataFrame, quarantined: int, rows_read: int) -> FileRejected:
    by_rule = (
        findings.group_by("rule", "column")
        .agg(pl.col("row_number").n_unique().alias("rows"), pl.col("row_number").min())
        .sort(["rows", "rule", "column"], descending=[True, False, False])
    )
    shown = "; ".join(
        f"{r['rule']} on {r['column']}: {r['rows']} row{'s' if r['rows'] != 1 else ''}, "
        f"first row {r['row_number']}"
        for r in by_rule.head(3).iter_rows(named=True)
    )
    more = f"; and {by_rule.height - 3} other rule(s)" if by_rule.height > 3 else ""
    return FileRejected(
        "too_many_rows_failing",
        f"{quarantined} of {rows_read} rows break the contract ({shown}{more}); more than half "
        "failing means the file looks mis-exported, so none of it was loaded; fix the export "
        "and re-send the whole file",
    )
