"""Ingest: every delivered file in the landing folder validated and loaded, or rejected.

The files are taken in order (sources.landing: reference data first, then by period; the
latest arrival of each extract, provider and period end), claimed before they are read, and
taken a window at a time: the "validate" step reads and checks a window (expectations.validate,
which needs no warehouse), the "load" step writes it in one transaction (sources.load). A
window that did not commit leaves its files claimed; however the run ends they go back to the
landing folder. A crash between commit and move is healed by the next run: the file's
checksum is already current, so it is recorded as unchanged and moved.

Nothing here logs row-level data: only file names, rules and counts.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from diewell.expectations.files import (
    NOT_READ,
    max_file_bytes,
    one_file,
    parse_file_name,
    sha256_of,
    shown_name,
)
from diewell.expectations.report import validation_report
from diewell.expectations.report.data_docs_process import data_docs_process
from diewell.expectations.report.validation_report import record_run
from diewell.expectations.validate import (
    validate_window,
)
from diewell.sources.landing import (
    archive_superseded,
    claim,
    is_reference,
    landing_bytes,
    landing_in_order,
    release_claims,
    release_slot,
    windows,
)
from diewell.sources.load import FileOutcome, load_files
from diewell.sources.reprocess import marked_for_reprocess
from diewell.steps import run_directly, submit_step
from diewell.transforms.sender_text import sender_logger
from diewell.warehouse.landing_files import LandingIndex, layout_lookups
from diewell.warehouse.staging import (
    WindowWrites,
)

if TYPE_CHECKING:
    from diewell.config import Config

log = sender_logger("diewell.sources.ingest")

# A run of this many bytes of files or more builds its Data Docs in a process of their own
# (expectations.report.data_docs_process), which imports GX on the cycles the load leaves
# idle; a smaller run is over before GX could be imported beside it, so it builds them itself
# (the figures behind the threshold: benchmarks/README.md, "The Data Docs' own process").
DATA_DOCS_APART_FROM_BYTES = 64 << 20


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def ingest_landing(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    run_id: str,
    progress: Callable[[int, int, FileOutcome], None] | None = None,
    report: bool = True,
    step: Callable = run_directly,
) -> list[FileOutcome]:
    """Validate and load every file in the landing folder, reference data first, then in period order.

    A window of files at a time: the "validate" step reads and validates the window (one query
    per extract; `validate_window`, which needs no warehouse connection), then the "load" step
    loads its files one by one, the window in one transaction, here, through `con`: the one
    writer. `step` runs each (see run_directly and submit_step). A runner with a `submit` and
    `validate_ahead` = N > 0 (the refresh flow's TaskSteps) validates up to N windows ahead,
    on its task runner's threads or Dask workers, while this one loads; loads stay one at a
    time and in order, and no more than N + 1 windows are held validated. A file validated
    ahead against an older view of what is loaded is still right: `ingest_file` checks again,
    with the connection, whether it is byte-identical to the delivery loaded now.

    At the end the run's validation summary is written and its GX Data Docs built
    (`diewell.expectations.report.validation_report.record_run`), unless `report` is False: for a run of
    DATA_DOCS_APART_FROM_BYTES or more, by a process of their own started here at the lowest
    priority, which imports GX while the files load (`diewell.expectations.report.data_docs_process`).
    """
    ordered, superseded = landing_in_order(config)
    forced = marked_for_reprocess(config)  # `diewell reprocess --quarantined`
    # Reference data loads first, and before any later window is read ahead: a layout's
    # lookups (ref_lsoa_2011) are read from what is loaded when a window is submitted.
    reference = [p for p in ordered if is_reference(p, config)]
    batches = windows(reference) + windows([p for p in ordered if p not in set(reference)])
    reference_batches = len(windows(reference))
    uses_layouts = any(p.layouts for p in config.providers)
    ahead = max(0, int(getattr(step, "validate_ahead", 0)))
    landing = LandingIndex.read(con)  # what is loaded, kept up to date by each load
    outcomes: list[FileOutcome] = []
    submitted: deque = deque()  # (window, its validation under way), oldest first
    claimed: set[Path] = set()  # claimed by this run and not yet archived or rejected

    def validate(listed: list[Path]) -> tuple[list[Path], object]:
        # Claimed before it is read, so what is archived is what was validated and loaded.
        window = [c for c in (claim(config, path) for path in listed) if c is not None]
        claimed.update(window)
        current = landing.loaded()  # as loaded now, in the writer's process
        lookups = layout_lookups(con) if uses_layouts else None
        return window, submit_step(
            step, "validate", validate_window, config, window, forced, current, lookups
        )

    # For a run of some size, the Data Docs' own process imports GX on the cores' idle
    # cycles while the files load (a smaller run is over before it could: built here).
    apart = report and landing_bytes(ordered) >= DATA_DOCS_APART_FROM_BYTES
    try:
        with data_docs_process(config, validation_report.INDEX_RESULTS, apart) as data_docs:
            for outcome in supersede(con, config, run_id, superseded):
                outcomes.append(outcome)
            for k in range(len(batches)):
                while len(submitted) <= ahead and k + len(submitted) < len(batches):
                    if k < reference_batches <= k + len(submitted):
                        break  # nothing after the reference data is read before it loads
                    submitted.append(validate(batches[k + len(submitted)]))
                window, validating = submitted.popleft()
                validated = validating.result()
                loaded = step(
                    "load", load_files, con, config, window, validated, run_id, forced, landing
                )
                claimed.difference_update(window)
                for outcome in loaded:
                    outcomes.append(outcome)
                    if progress:
                        progress(len(outcomes), len(ordered) + len(superseded), outcome)
            if report:
                record_run(con, config, run_id, outcomes, data_docs)
    except BaseException:
        # However the run ends, what it claimed and did not finish goes back to the landing
        # folder as it was delivered (its arrival time kept), for the next run to take in
        # arrival order (a kill leaves it claimed; the next run takes it in the same order).
        release_claims(config, claimed)
        raise
    return outcomes


def supersede(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    run_id: str,
    superseded: list[tuple[Path, Path]],
) -> list[FileOutcome]:
    """Record each delivery superseded on arrival in landing_files (status superseded, no
    rows: it is never read) and keep it in the archive beside the deliveries it did not
    become (`<file>.<sha12>.superseded`), in one transaction."""
    if not superseded:
        return []
    outcomes, moves = [], []
    limit = max_file_bytes(config)
    con.execute("BEGIN TRANSACTION")
    try:
        writes = WindowWrites(con, len(superseded), key_blocks=(b"", b""))
        for listed, latest in superseded:
            path = claim(config, listed)
            if path is None:
                continue
            d = parse_file_name(path, config)
            size = path.lstat().st_size
            with one_file("reading"):
                sha = sha256_of(path) if size <= limit else NOT_READ
            reason = (
                f"a later delivery of the same extract, provider and period end, "
                f"{shown_name(latest.name)}, arrived after it and is the delivery; this one "
                "is kept in the archive and never loaded"
            )
            writes.record_file(
                file_name=d.name,
                extract=d.extract,
                provider=d.provider,
                period_end=d.period_end,
                format=d.format,
                sha256=sha,
                bytes=size,
                run_id=run_id,
                status="superseded",
                reject_rule="superseded_on_arrival",
                reject_reason=reason,
            )
            log.info("%s: superseded on arrival by %s", d.name, shown_name(latest.name))
            outcomes.append(
                FileOutcome(
                    d.name,
                    "superseded",
                    d.extract,
                    d.provider,
                    rule="superseded_on_arrival",
                    reason=reason,
                )
            )
            moves.append((path, d, sha))
        writes.flushed().execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        release_claims(config, {path for path, _, _ in moves})
        raise
    for path, d, sha in moves:
        archive_superseded(config, d, path, sha)
        release_slot(path)
    return outcomes
