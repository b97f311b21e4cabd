"""The load of a window of files: each file's checks that need the warehouse (the volume rule,
duplicate deaths, more than half failing), then its rows, findings and record written in the
window's one transaction; after the commit each file moves to the archive or the rejected area."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from diewell.expectations.contracts import (
    load_contract,
)
from diewell.expectations.files import (
    NOT_READ,
    Delivery,
    FileRejected,
    max_file_bytes,
    one_file,
    parse_file_name,
    screen,
    sha256_of,
    shown_name,
)
from diewell.expectations.report.summary import SHOWN_PER_RULE, quarantine_by_rule
from diewell.expectations.sourced import SOURCE_ROWS, filtered_text
from diewell.expectations.validate import (
    Validated,
    quarantined_rows,
    read_and_validate,
    too_many_failing,
)
from diewell.sources.landing import (
    archiving,
    move_rejected,
    release_slot,
)
from diewell.sources.reprocess import accepted_low_volume, clear_mark
from diewell.transforms import nhs_number
from diewell.transforms.pseudonymise import key_blocks
from diewell.transforms.sender_text import sender_logger
from diewell.warehouse import query_frame, staging_table
from diewell.warehouse.landing_files import LandingIndex, LandingState
from diewell.warehouse.staging import (
    NUMBER_TO_PSEUDONYMISE,
    WindowWrites,
    held_columns,
    number_column,
)

if TYPE_CHECKING:
    from diewell.config import Config

log = sender_logger("diewell.sources.load")


def load_files(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    window: list[Path],
    validated: dict[Path, Validated],
    run_id: str,
    forced: set[str],
    landing: LandingIndex,
) -> list[FileOutcome]:
    """Load (or reject) each validated file of a window, the whole window in one
    transaction, then move each file where it belongs (archive, rejected area); `landing`
    (the run's LandingIndex) follows each load. Any failure but a rejection rolls the window
    back and ends the run: its files stay claimed, for the next run to take first."""
    low_volume_ok = accepted_low_volume(config)  # `diewell reprocess --accept-low-volume`
    outcomes, moves = [], []
    con.execute("BEGIN TRANSACTION")
    try:
        # The key is read here, never passed around as a parameter: only its HMAC blocks,
        # held by the window's writes for the queries that pseudonymise.
        writes = WindowWrites(con, len(window), key_blocks(config.pseudonymisation_key()))
        for path in window:
            outcome, move = ingest_file(
                writes,
                config,
                path,
                run_id,
                landing,
                force=path.name in forced,
                validated=validated.get(path),
                accept_low_volume=path.name in low_volume_ok,
            )
            outcomes.append(outcome)
            moves.append((path, move))
        writes.flushed().execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    for path, move in moves:
        move()
        release_slot(path)
        if path.name in forced or path.name in low_volume_ok:
            clear_mark(config, path.name)
    return outcomes


def ingest_file(
    writes: WindowWrites,
    config: Config,
    path: Path,
    run_id: str,
    landing: LandingIndex,
    force: bool = False,
    validated: Validated | None = None,
    accept_low_volume: bool = False,
) -> tuple[FileOutcome, Callable[[], None]]:
    """Validate and load one file, through `writes`, in the caller's transaction
    (`load_files`: one per window); return its outcome and the move that files it (archive,
    rejected area) once that transaction has committed. `force` re-validates a file
    byte-identical to its current load (a reprocess after a contract change) instead of
    recording it as unchanged.
    `validated` is the file read and validated ahead (`validate_window`), if it was.
    `accept_low_volume` loads it without the volume rule (an operator confirmed it).
    `landing` is the run's LandingIndex (what landing_files holds loaded)."""
    limit = max_file_bytes(config)
    sha, size = NOT_READ, path.lstat().st_size
    delivery: Delivery | None = None
    report: dict = {}
    try:
        screen(path, limit)  # a link, a non-UTF-8 name, a huge file: rejected, never opened
        if validated is not None and validated.sha:
            sha = validated.sha
        else:
            with one_file("reading"):
                sha = sha256_of(path)
        delivery = parse_file_name(path, config)
        state = landing.state(delivery)
        if not force and state.loaded_sha == sha:
            log.info("%s: byte-identical to the loaded delivery; nothing changes", path.name)
            unchanged = FileOutcome(path.name, "unchanged", delivery.extract, delivery.provider)
            return unchanged, archiving(config, delivery, path, sha)
        if validated is not None and validated.rejection is not None:
            raise validated.rejection
        if validated is not None and validated.result is not None:
            result, columns, extra = validated.result, validated.columns_present, validated.extra
        else:
            result, columns, extra = read_and_validate(delivery, limit, config)
        report["columns_present"] = columns
        report["period_end"] = delivery.period_end
        outcome = _load(
            writes,
            delivery,
            landing,
            state,
            sha,
            size,
            run_id,
            result,
            extra,
            report,
            accept_low_volume,
        )
    except FileRejected as rejection:
        delivery = delivery or _identify(path, config)
        file_id = _record_rejection(writes, path, delivery, sha, size, run_id, rejection)
        log.warning("%s rejected: %s", shown_name(path.name), rejection.reason)
        rejected = FileOutcome(
            shown_name(path.name),
            "rejected",
            delivery.extract if delivery else None,
            delivery.provider if delivery else None,
            rule=rejection.rule,
            reason=rejection.reason,
            validation=report if "by_rule" in report else None,
        )
        move = (config, path, sha, file_id, run_id, rejection)  # `rejection` ends with `except`
        return rejected, lambda: move_rejected(*move)
    log.info(
        "%s: %d rows read, %d loaded, %d quarantined%s",
        path.name,
        outcome.rows_read,
        outcome.rows_loaded,
        outcome.rows_quarantined,
        f", {outcome.rows_filtered} filtered by layout {outcome.layout}" if outcome.layout else "",
    )
    return outcome, archiving(config, delivery, path, sha)


def _identify(path: Path, config: Config) -> Delivery | None:
    """The delivery a file's name names, if it names one (for the record of a rejection)."""
    try:
        return parse_file_name(path, config)
    except FileRejected:
        return None


def _duplicate_deaths(
    writes: WindowWrites, d: Delivery, rows: pl.DataFrame, column: str
) -> pl.DataFrame:
    """Rows for people who already have a death in another current delivery (of an extract
    whose contract loads one row per person: the deaths), the window's held writes included.

    `rows` carries the NHS number (NUMBER_TO_PSEUDONYMISE), matched by its pseudonym, and the
    masked number that the finding shows.
    """
    con = writes.flushed()
    con.register("incoming_deaths", rows.select("row_number", NUMBER_TO_PSEUDONYMISE, "masked"))
    person_id = writes.pseudonym_of(f"i.{NUMBER_TO_PSEUDONYMISE}")
    try:
        found = query_frame(
            con,
            f"""
            SELECT i.row_number, any_value(i.masked) AS value, min(f.file_name) AS earlier
            FROM incoming_deaths i
            JOIN {staging_table(d.extract)} s ON s.person_id = {person_id}
            JOIN landing_files f ON f.file_id = s.file_id
            WHERE NOT (s.provider = ? AND s.period_end = ?)
            GROUP BY i.row_number ORDER BY i.row_number
            """,
            [*writes.key_blocks, d.provider, d.period_end],
        )
    finally:
        con.unregister("incoming_deaths")
    return found.select(
        "row_number",
        pl.lit("duplicate_death").alias("rule"),
        pl.lit(column).alias("column"),
        pl.col("value").cast(pl.String),
        pl.format(
            "this person already has a death in {}; a person dies once (if that death is "
            "wrong, re-deliver its period without it)",
            pl.col("earlier"),
        ).alias("message"),
    )


def _load(
    writes: WindowWrites,
    d: Delivery,
    landing: LandingIndex,
    state: LandingState,
    sha,
    size,
    run_id,
    result,
    extra,
    report: dict,
    low_volume_ok=False,
) -> FileOutcome:
    """Load a validated file, through `writes`, in the caller's transaction; `report`
    receives what the GX report needs. Every check that can reject the file comes before the
    first write, so a rejection leaves nothing of the file to undo. The landing index learns
    of the load (and the caller's transaction, if it fails, ends the run)."""
    contract = load_contract(d.extract)
    rows = result.rows
    nhs_column = number_column(contract)
    # One row per person across deliveries (the deaths): a person already loaded from another
    # delivery is held back (duplicate_death), shown by the masked NHS number of the key.
    once_per_person = contract.load == "one_per_person" and rows.height
    masked = None
    if once_per_person:
        masked = rows[contract.key[0]].map_elements(nhs_number.mask, return_dtype=pl.String)
    if nhs_column is not None:  # pseudonymised as it is written (WindowWrites)
        rows = rows.rename({nhs_column: NUMBER_TO_PSEUDONYMISE})
    findings = result.findings
    # The checks, which read the warehouse (the duplicate deaths) but write nothing.
    if once_per_person:
        dups = _duplicate_deaths(
            writes, d, rows.with_columns(masked.alias("masked")), contract.key[0]
        )
        if dups.height:
            findings = pl.concat([findings, dups.select(findings.columns)]).sort(
                "row_number", "rule", "column"
            )
            rows = rows.filter(~pl.col("row_number").is_in(dups["row_number"].implode()))
    quarantined = quarantined_rows(findings)
    previous = state.previous
    report.update(
        rows_read=result.rows_read,
        rows_quarantined=quarantined,
        by_rule=quarantine_by_rule(findings, SHOWN_PER_RULE),
        previous_rows=previous[1] if previous else None,
    )
    # The file rules count the rows the file's layout kept (sources.md; all, for the contract's)
    kept = result.rows_kept
    failing = too_many_failing(findings, kept, contract)
    if failing is not None:
        raise failing
    low_volume = contract.looks_truncated(kept, previous[1] if previous else None)
    if low_volume and low_volume_ok:
        log.warning(
            "%s: %d rows, under %d%% of the previous delivery's %d; loaded because its "
            "volume was accepted as complete (diewell reprocess --accept-low-volume)",
            d.name,
            kept,
            round(100 * contract.min_volume_share),
            previous[1],
        )
    elif low_volume:
        raise FileRejected(
            "volume_drop",
            f"the file has {kept} data row{'s' if kept != 1 else ''}"
            f"{' its layout keeps' if result.layout else ''}, "
            f"under {contract.min_volume_share:.0%} of the {previous[1]} rows of the previous "
            f"delivery {previous[0]}; the "
            "export looks truncated; re-send the complete extract (a period with nothing to "
            "report is sent as a header-only file)",
        )
    # The writes: nothing from here on rejects the file.
    if state.loaded_sha is not None:  # a re-delivery: it replaces the loaded one's rows
        con = writes.flushed()
        con.execute(
            "UPDATE landing_files SET status = 'superseded' WHERE extract = ? "
            "AND provider = ? AND period_end = ? AND status = 'loaded'",
            [d.extract, d.provider, d.period_end],
        )
        con.execute(
            f"DELETE FROM {staging_table(d.extract)} WHERE provider = ? AND period_end = ?",
            [d.provider, d.period_end],
        )
    # Rows loaded are counted in the file's own rows: a formed row of a layout that aggregates
    # (episodes into a spell) counts every source row that formed it.
    loaded = int(rows[SOURCE_ROWS].sum()) if SOURCE_ROWS in rows.columns else rows.height
    file_id = writes.record_file(
        file_name=d.name,
        extract=d.extract,
        provider=d.provider,
        period_end=d.period_end,
        format=d.format,
        sha256=sha,
        bytes=size,
        run_id=run_id,
        status="loaded",
        rows_read=result.rows_read,
        rows_loaded=loaded,
        rows_quarantined=quarantined,
        extra_columns=",".join(extra) or None,
        rows_filtered=result.rows_filtered,
        filtered_by_reason=filtered_text(result.filtered_by_reason),
        layout=result.layout,
        rows_formed=result.rows_formed if result.layout else None,
    )
    staged = rows.with_columns(
        pl.lit(file_id, pl.Int64).alias("file_id"),
        pl.lit(d.provider).alias("provider"),
        pl.lit(d.period_end).alias("period_end"),
    ).select(held_columns(contract))
    writes.stage(staging_table(d.extract), staged)
    if findings.height:
        writes.quarantine(
            findings.with_columns(
                pl.lit(file_id, pl.Int64).alias("file_id"), pl.lit(d.name).alias("file_name")
            ).select(
                "file_id",
                "file_name",
                "row_number",
                "rule",
                pl.col("column").alias("column_name"),
                "value",
                "message",
            )
        )
    landing.record_load(d, file_id, kept, sha)
    by_rule: dict[str, int] = {}
    if findings.height:
        counts = findings.group_by("rule").agg(pl.col("row_number").n_unique())
        by_rule = dict(counts.sort("rule").iter_rows())
    return FileOutcome(
        d.name,
        "loaded",
        d.extract,
        d.provider,
        result.rows_read,
        loaded,
        quarantined,
        quarantined_by_rule=by_rule,
        validation=report,
        rows_filtered=result.rows_filtered,
        filtered_by_reason=result.filtered_by_reason,
        layout=result.layout,
        warnings=result.warnings,
    )


def _record_rejection(writes, path, d, sha, size, run_id, rejection: FileRejected) -> int:
    """Record the rejection in landing_files, through `writes`; its file id."""
    return writes.record_file(
        file_name=shown_name(path.name),
        extract=d.extract if d else None,
        provider=d.provider if d else None,
        period_end=d.period_end if d else None,
        format=d.format if d else None,
        sha256=sha,
        bytes=size,
        run_id=run_id,
        status="rejected",
        reject_rule=rejection.rule,
        reject_reason=rejection.reason,
    )


@dataclass
class FileOutcome:
    file_name: str
    status: str  # loaded | rejected | unchanged
    extract: str | None = None
    provider: str | None = None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    rule: str | None = None
    reason: str | None = None
    # rows quarantined per rule (a row breaking two rules counts under each)
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    # rows the file's layout filtered out, per reason (sources.md; none for the contract layout)
    rows_filtered: int = 0
    filtered_by_reason: dict[str, int] = field(default_factory=dict)
    layout: str | None = None  # the national layout the file was read with (sources.md)
    # codes the layout sent to a default: {rule, column, code, rows} (shown as warnings)
    warnings: list[dict] = field(default_factory=list)
    # what the GX report of a validated file needs (None when the file was not validated)
    validation: dict | None = None
