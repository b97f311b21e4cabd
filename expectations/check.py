"""`diewell check FILE...`: what a run would do with delivered files, without a warehouse or a key.

The same file rules and row rules as a run, with the same reasons (`delivery.screen`,
`delivery.parse_file_name`, `ingest.read_and_validate`, `ingest.too_many_failing`): each file
would load (and which rows would be held back, and why) or would be rejected whole (and why).
Two rules need the warehouse and are not checked here: a delivery's volume against the
provider's previous one (volume_drop) and a death already loaded from another delivery
(duplicate_death); nor whether the file is byte-identical to a delivery already loaded.
Without a configuration, whether the sender is registered to send the extract is not checked
either. Nothing is moved, written or loaded. NHS numbers are shown masked, as in a run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING

import polars as pl

from diewell.expectations.contracts import load_contract
from diewell.expectations.files import (
    DEFAULT_MAX_FILE_BYTES,
    FileRejected,
    discover,
    parse_file_name,
    screen,
    shown_name,
)
from diewell.expectations.report.summary import SHOWN_PER_RULE, quarantine_by_rule
from diewell.expectations.validate import (
    quarantined_rows,
    read_and_validate,
    too_many_failing,
)
from diewell.transforms.sender_text import neutral

if TYPE_CHECKING:
    from diewell.config import Config

LOADS = "would load"
REJECTED = "would be rejected"
# The rules a run applies that need the warehouse: (rule, what it compares, and the load of the
# extracts it applies to, or None for every extract).
WAREHOUSE_ONLY = (
    ("volume_drop", "the row count against the provider's previous delivery", None),
    ("duplicate_death", "deaths already loaded from other deliveries", "one_per_person"),
)
NOT_CHECKED = "not checked without the warehouse"
REGISTRATION_SKIPPED = (
    "without --config the sender's registration (provider_not_registered) is not checked: "
    "give the ICS configuration with --config to check it"
)


@dataclass
class FileCheck:
    """What a run would do with one file."""

    file_name: str  # as it may be shown (escaped)
    verdict: str  # LOADS | REJECTED
    extract: str | None = None
    rows_read: int = 0
    rows_held_back: int = 0
    findings: pl.DataFrame | None = None  # row_number, rule, column, value (masked), message
    rule: str | None = None
    reason: str | None = None
    not_checked: list[str] = field(default_factory=list)
    provider: str | None = None
    period_end: dt.date | None = None
    rows_filtered: int = 0  # by the file's layout (sources.md), per reason below
    filtered_by_reason: dict[str, int] = field(default_factory=dict)
    layout: str | None = None
    warnings: list[dict] = field(default_factory=list)

    def as_outcome(self) -> SimpleNamespace:
        """The check in the shape of a run's FileOutcome, for the data quality page."""
        loads = self.verdict == LOADS
        validation = None
        if loads:
            findings = self.findings if self.findings is not None else pl.DataFrame()
            validation = {
                "period_end": self.period_end,
                "by_rule": quarantine_by_rule(findings, SHOWN_PER_RULE) if findings.height else {},
            }
        return SimpleNamespace(
            file_name=self.file_name,
            status="loaded" if loads else "rejected",
            extract=self.extract,
            provider=self.provider,
            period_end=self.period_end,
            rows_read=self.rows_read,
            rows_loaded=self.rows_read - self.rows_held_back - self.rows_filtered if loads else 0,
            rows_quarantined=self.rows_held_back,
            rule=self.rule,
            reason=self.reason,
            validation=validation,
            quarantined_by_rule={},
            rows_filtered=self.rows_filtered,
            filtered_by_reason=self.filtered_by_reason,
            layout=self.layout,
            warnings=self.warnings,
        )


def printable(text: str | None) -> str:
    """Sender text as it may be printed to a terminal (`neutral`: control characters
    escaped, NHS-number shapes masked)."""
    return "" if text is None else neutral(text)


def expand(paths: Iterable[Path]) -> list[Path]:
    """The files to check: each path given, a folder (not a link to one) as every delivery in it."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            files.extend(discover(path))
        else:
            files.append(path)
    return files


def check_file(path: Path, config: Config | None) -> FileCheck:
    """Apply a run's file and row rules to one file, without the warehouse."""
    limit = config.max_file_bytes if config is not None else DEFAULT_MAX_FILE_BYTES
    shown = shown_name(path.name)
    extract = provider = period_end = None
    try:
        screen(path, limit)  # a link, a pipe, a huge file: rejected, never opened
        delivery = parse_file_name(path, config)
        extract, provider, period_end = delivery.extract, delivery.provider, delivery.period_end
        result, _, _ = read_and_validate(delivery, limit, config)
        failing = too_many_failing(result.findings, result.rows_kept, load_contract(extract))
        if failing is not None:
            raise failing
    except FileRejected as rejection:
        return FileCheck(
            shown,
            REJECTED,
            extract,
            rule=rejection.rule,
            reason=rejection.reason,
            provider=provider,
            period_end=period_end,
        )
    except FileNotFoundError:
        return FileCheck(shown, REJECTED, rule="not_found", reason="there is no such file")
    not_checked = [
        f"{rule} ({what})"
        for rule, what, load in WAREHOUSE_ONLY
        if load is None or load_contract(extract).load == load
    ]
    return FileCheck(
        shown,
        LOADS,
        extract,
        rows_read=result.rows_read,
        rows_held_back=quarantined_rows(result.findings),
        findings=result.findings,
        not_checked=not_checked,
        provider=provider,
        period_end=period_end,
        rows_filtered=result.rows_filtered,
        filtered_by_reason=result.filtered_by_reason,
        layout=result.layout,
        warnings=result.warnings,
    )


def write_page(checks: list[FileCheck], out: Path) -> Path:
    """The data quality page a run would give these files (diewell/quality), as one file."""
    from diewell.expectations.report.quality.pages import render_file_pages

    html = render_file_pages(
        [c.as_outcome() for c in checks],
        title="Files checked before sending",
        heading="Data quality check (diewell check, before a load)",
    )
    out.write_text(html, encoding="utf-8")
    return out


def report_lines(check: FileCheck, shown_per_rule: int = SHOWN_PER_RULE) -> list[str]:
    """The check of one file in words, held-back rows one a line (at most shown_per_rule per rule)."""
    name = printable(check.file_name)
    if check.verdict == REJECTED:
        return [
            f"{name}: {REJECTED} whole ({check.rule}); nothing of it would load",
            f"  reason: {printable(check.reason)}",
        ]
    loadable = check.rows_read - check.rows_held_back - check.rows_filtered
    read = f"{check.rows_read} row(s) read" + (f" (layout {check.layout})" if check.layout else "")
    lines = [
        f"{name}: {LOADS}: {read}, {loadable} would load, "
        f"{check.rows_held_back} would be held back (quarantined)"
        + (f", {check.rows_filtered} filtered by the layout" if check.layout else "")
    ]
    for reason, rows in check.filtered_by_reason.items():
        lines.append(f"  filtered: {rows} row(s), {reason}")
    for w in check.warnings:
        lines.append(
            f"  warning: {w['rows']} row(s), {w['rule']}: {w['column']} {printable(str(w['code']))}"
        )
    findings = check.findings if check.findings is not None else pl.DataFrame()
    for (rule,), group in findings.group_by("rule", maintain_order=True):
        for f in group.head(shown_per_rule).iter_rows(named=True):
            lines.append(
                f"  held back: row {f['row_number']}, {f['rule']} on {f['column']}, "
                f"value {printable(f['value']) or '(empty)'}: {printable(f['message'])}"
            )
        if group.height > shown_per_rule:
            lines.append(f"  ... and {group.height - shown_per_rule} more {rule} finding(s)")
    for what in check.not_checked:
        lines.append(f"  {NOT_CHECKED}: {what}")
    return lines
