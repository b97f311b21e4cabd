"""Ingest: take each delivered file from the landing folder, validate it, and load it.

Before a file is read it is claimed: renamed out of the landing folder into a private slot
(`landing/.ingesting/<slot>/`), so a re-delivery that lands while the file is being loaded
(the MESH pull runs beside the load) arrives as a new file for the next run, and what is
archived is exactly what was loaded. A file left claimed by a crash is taken first by the
next run. Links, non-regular files, names that are not UTF-8 and files over
`limits.max_file_bytes` are rejected whole without being read (`delivery.screen`).

One window of files (WINDOW_FILES, WINDOW_BYTES) is one DuckDB transaction: the warehouse
holds either all of the window's loads and rejections or none of them, and every file of a
window that did not commit is still claimed, so the next run takes it again. (A commit costs
a write to disk, some 4 ms: one a file was 11 s of S's 37 s load.) A file's checks come
before its writes, so a file rejected mid-window leaves nothing of it to undo; the window's
inserts are held and written a table at a time (`WindowWrites`). After the commit each file
moves to the archive (or, if rejected, to the rejected area with its reason beside it). A
crash between commit and move is healed by the next run: the file's checksum is already
current, so it is recorded as unchanged and moved.

Nothing here logs row-level data: only file names, rules and counts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import tempfile
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from diewell import validation_report
from diewell.config import Config
from diewell.data_docs_process import data_docs_process
from diewell.delivery import (
    DEFAULT_MAX_FILE_BYTES,
    NOT_READ,
    Delivery,
    FileRejected,
    discover,
    max_file_bytes,
    one_file,
    parse_file_name,
    read_delivery,
    screen,
    sha256_of,
    shown_name,
    stored_name,
)
from diewell.expectations.contracts import (
    ValidationResult,
    load_contract,
    validate_batch,
    validate_rows,
)
from diewell.reprocess import accepted_low_volume, clear_mark, marked_for_reprocess
from diewell.transforms import nhs_number
from diewell.transforms.pseudonymise import PSEUDONYM_SQL, key_blocks
from diewell.transforms.sender_text import sender_logger
from diewell.validation_report import SHOWN_PER_RULE, quarantine_by_rule, record_run
from diewell.warehouse import query_frame, staging_columns, staging_table

log = sender_logger("diewell.ingest")

# Files are read and validated a window at a time (one query per extract in the window), then
# loaded one by one: many small files cost little more than one large one, and memory stays
# bounded by the window.
WINDOW_FILES = 256
WINDOW_BYTES = 256 << 20
# A run of this many bytes of files or more builds its Data Docs in a process of their own
# (diewell.data_docs_process), which imports GX (some 3 s of CPU) on the cycles the load
# leaves idle: some 8 s of ingest at benchmark size S's rate (167 MB in some 20 s). A smaller
# run is over before GX could be imported beside it, so it builds them itself.
DATA_DOCS_APART_FROM_BYTES = 64 << 20
CLAIM_DIR = ".ingesting"  # under the landing folder; hidden, so never listed as a delivery


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
    # what the GX report of a validated file needs (None when the file was not validated)
    validation: dict | None = None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def run_directly(name: str, fn: Callable, *args):
    """Run one step as a plain call (the refresh flow runs each as a Prefect task instead)."""
    return fn(*args)


class _Deferred:
    """A step submitted to a runner that runs steps only as calls: it runs, through the
    runner, when its result is first asked for (so nothing runs ahead, nor is held ahead)."""

    def __init__(self, step: Callable, name: str, fn: Callable, args: tuple) -> None:
        self._call = (step, name, fn, args)
        self._ran = False
        self._value = None

    def result(self):
        if not self._ran:
            step, name, fn, args = self._call
            self._value, self._ran, self._call = step(name, fn, *args), True, None
        return self._value


def submit_step(step: Callable, name: str, fn: Callable, *args):
    """Start one step without waiting for it: an object whose `.result()` is the step's result.

    A step runner that can run a step beside the caller has `submit(name, fn, *args)`
    returning such an object (the refresh flow's TaskSteps: a Prefect task on the flow's task
    runner, a thread or a Dask worker); a plain runner (run_directly, the benchmarks' timer)
    runs the step when its result is asked for.
    """
    submit = getattr(step, "submit", None)
    if submit is None:
        return _Deferred(step, name, fn, args)
    return submit(name, fn, *args)


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
    (`diewell.validation_report.record_run`), unless `report` is False: for a run of
    DATA_DOCS_APART_FROM_BYTES or more, by a process of their own started here at the lowest
    priority, which imports GX while the files load (`diewell.data_docs_process`).
    """
    ordered, superseded = landing_in_order(config)
    forced = marked_for_reprocess(config)  # `diewell reprocess --quarantined`
    windows = _windows(ordered)
    ahead = max(0, int(getattr(step, "validate_ahead", 0)))
    landing = LandingIndex.read(con)  # what is loaded, kept up to date by each load
    outcomes: list[FileOutcome] = []
    submitted: deque = deque()  # (window, its validation under way), oldest first
    claimed: set[Path] = set()  # claimed by this run and not yet archived or rejected

    def validate(listed: list[Path]) -> tuple[list[Path], object]:
        # Claimed before it is read, so what is archived is what was validated and loaded.
        window = [c for c in (_claim(config, path) for path in listed) if c is not None]
        claimed.update(window)
        current = landing.loaded()  # as loaded now, in the writer's process
        return window, submit_step(
            step, "validate", validate_window, config, window, forced, current
        )

    # For a run of some size, the Data Docs' own process imports GX on the cores' idle
    # cycles while the files load (a smaller run is over before it could: built here).
    apart = report and _landing_bytes(ordered) >= DATA_DOCS_APART_FROM_BYTES
    try:
        with data_docs_process(config, validation_report.INDEX_RESULTS, apart) as data_docs:
            for outcome in supersede(con, config, run_id, superseded):
                outcomes.append(outcome)
            for k in range(len(windows)):
                while len(submitted) <= ahead and k + len(submitted) < len(windows):
                    submitted.append(validate(windows[k + len(submitted)]))
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
        _release_claims(config, claimed)
        raise
    return outcomes


def landing_in_order(config: Config) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """Every file to ingest, reference data first, then by period (a file whose name does not
    parse first, to be rejected), and the deliveries superseded on arrival, each with the one
    that supersedes it.

    Among the files of one extract, provider and period end waiting at once, in whatever
    sub-folders (or left claimed by a run that was killed), the one that arrived last
    (modification time, then name) is the delivery (extracts.md v3)."""
    paths = [*_left_claimed(config), *discover(config.landing)]
    named: list[tuple[tuple, Path]] = []
    waiting: dict[tuple, list[tuple[int, str, str, Path]]] = {}
    for path in paths:
        try:
            delivery = parse_file_name(path, config)
            info = path.lstat()
        except FileRejected:
            named.append(((-1, dt.date.min, "", "", shown_name(path.name)), path))
            continue
        except FileNotFoundError:  # gone since it was listed
            continue
        if not stat.S_ISREG(info.st_mode):  # a link, a pipe: rejected unread on its own
            named.append((delivery.sort_key, path))
            continue
        key = (delivery.extract, delivery.provider, delivery.period_end)
        waiting.setdefault(key, []).append((info.st_mtime_ns, path.name, str(path), path))
    superseded: list[tuple[Path, Path]] = []
    for files in waiting.values():
        *earlier, (_, _, _, latest) = sorted(files)
        named.append((parse_file_name(latest, config).sort_key, latest))
        superseded += [(path, latest) for _, _, _, path in earlier]
    return [path for _, path in sorted(named, key=lambda t: t[0])], superseded


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
            path = _claim(config, listed)
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
        _release_claims(config, {path for path, _, _ in moves})
        raise
    for path, d, sha in moves:
        _archive_superseded(config, d, path, sha)
        _release(path)
    return outcomes


def _archive_superseded(config: Config, d: Delivery, path: Path, sha: str) -> None:
    folder = config.archive / d.extract / d.provider
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{path.name}.{sha[:12] or 'unread'}.superseded"
    if target.exists() and sha and sha256_of(target) == sha:
        path.unlink()
        return
    shutil.move(str(path), _free_name(target, sha, 0))


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
        _release(path)
        if path.name in forced or path.name in low_volume_ok:
            clear_mark(config, path.name)
    return outcomes


def _claim(config: Config, path: Path) -> Path | None:
    """Rename a listed file into a private slot of its own before it is read; None if it has
    gone since it was listed. A file already claimed (left by a crash) stays where it is."""
    claims = config.landing / CLAIM_DIR
    if path.parent.parent == claims:
        return path
    claims.mkdir(mode=0o700, exist_ok=True)
    slot = Path(tempfile.mkdtemp(dir=claims))  # 0700, a unique name
    claimed = slot / path.name
    try:
        os.rename(path, claimed)  # atomic, and moves a link itself, never its target
    except FileNotFoundError:
        slot.rmdir()
        return None
    return claimed


def _release(claimed: Path) -> None:
    """Remove the claimed file's slot once the file has been archived or rejected."""
    slot = claimed.parent
    if slot.parent.name == CLAIM_DIR and slot.is_dir() and not any(slot.iterdir()):
        slot.rmdir()


def _release_claims(config: Config, claimed: set[Path]) -> None:
    """Put files this run claimed back in the landing folder, unless a file of the same name
    has landed since (then the claim stays, and the next run takes the later arrival)."""
    for path in sorted(claimed):
        target = config.landing / path.name
        try:
            if os.path.lexists(path) and not os.path.lexists(target):
                os.rename(path, target)
            _release(path)
        except OSError:
            log.warning("%s: left claimed; the next run takes it", shown_name(path.name))


def _left_claimed(config: Config) -> list[Path]:
    """Files claimed by a run that did not finish, oldest claim first."""
    claims = config.landing / CLAIM_DIR
    if not claims.is_dir():
        return []
    slots = sorted(
        (s for s in claims.iterdir() if s.is_dir() and not s.is_symlink()),
        key=lambda s: s.lstat().st_mtime_ns,
    )
    left = []
    for slot in slots:
        entries = list(slot.iterdir())
        if not entries:
            slot.rmdir()
        left.extend(entries)
    return left


@dataclass
class Validated:
    """A file read and validated ahead of its load (`validate_window`), or why it was rejected."""

    sha: str
    columns_present: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    result: ValidationResult | None = None
    rejection: FileRejected | None = None


def _landing_bytes(paths: list[Path]) -> int:
    """The files' sizes added up (an entry gone since it was listed counts nothing)."""
    total = 0
    for path in paths:
        try:
            total += path.lstat().st_size
        except FileNotFoundError:
            continue
    return total


def _windows(paths: list[Path]) -> list[list[Path]]:
    """Consecutive runs of files, each at most WINDOW_FILES files and (but for a single larger
    file) WINDOW_BYTES bytes."""
    windows: list[list[Path]] = []
    current: list[Path] = []
    size = 0
    for path in paths:
        n = path.lstat().st_size
        if current and (len(current) >= WINDOW_FILES or size + n > WINDOW_BYTES):
            windows.append(current)
            current, size = [], 0
        current.append(path)
        size += n
    if current:
        windows.append(current)
    return windows


def read_and_validate(
    delivery: Delivery, limit: int = DEFAULT_MAX_FILE_BYTES
) -> tuple[ValidationResult, list[str], list[str]]:
    """Everything done to one delivery before its load, inside one boundary (`one_file`):
    read it, convert it and apply the row rules. The result, its column names and its extra
    columns; raises FileRejected, and only that, when the file cannot go on (a file rule, or
    anything at all that fails on it: `unreadable`). A run and `diewell check` both use it."""
    with one_file("reading and checking"):
        read = read_delivery(delivery, limit)
        result = validate_rows(read.rows, load_contract(delivery.extract), delivery.period_end)
    return result, read.columns, read.extra


def quarantined_rows(findings: pl.DataFrame) -> int:
    """How many rows the findings hold back (a row breaking two rules counts once)."""
    return findings["row_number"].n_unique() if findings.height else 0


def too_many_failing(findings: pl.DataFrame, rows_read: int, contract) -> FileRejected | None:
    """The rejection of a file whose held-back rows are over the contract's share, else None."""
    quarantined = quarantined_rows(findings)
    if rows_read and quarantined > contract.max_quarantined_share * rows_read:
        return _too_many_failing(findings, quarantined, rows_read)
    return None


Loaded = tuple[str, str, dt.date, str]  # (extract, provider, period_end, sha256) loaded


def validate_window(
    config: Config, paths: list[Path], forced: set[str], current: set[Loaded]
) -> dict[Path, Validated]:
    """Read and validate files ahead of loading them, one query per extract.

    Pure, and free of the warehouse, so it can run in another process (a Dask worker): a file
    byte-identical to a delivery in `current` (LandingIndex.loaded, read by the caller) is not
    read, unless its name is in `forced`. Config and the result (Validated, polars frames,
    FileRejected) pickle. Files whose names do not parse are left out: `ingest_file` rejects
    them.
    """
    limit = max_file_bytes(config)

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
                read = read_delivery(delivery, limit)
        except FileRejected as rejection:
            v.rejection = rejection
            return delivery, v, None
        v.columns_present, v.extra = read.columns, read.extra
        return delivery, v, read.rows

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
        for path, outcome in zip(files, _validated_together(extract, files), strict=True):
            if isinstance(outcome, FileRejected):
                validated[path[0]].rejection = outcome
            else:
                validated[path[0]].result = outcome
    return validated


def _validated_together(
    extract: str, files: list[tuple[Path, pl.DataFrame, dt.date]]
) -> list[ValidationResult | FileRejected]:
    """The row rules over a window's files of one extract in one query; should that query
    fail, each file alone, so that only the file it fails on is rejected (`one_file`)."""
    contract = load_contract(extract)
    try:
        with one_file("checking the rows of"):
            return validate_batch([(rows, end) for _, rows, end in files], contract)
    except FileRejected:
        pass
    outcomes: list[ValidationResult | FileRejected] = []
    for _, rows, end in files:
        try:
            with one_file("checking its rows"):
                outcomes.append(validate_rows(rows, contract, end))
        except FileRejected as rejection:
            outcomes.append(rejection)
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
            return unchanged, _archiving(config, delivery, path, sha)
        if validated is not None and validated.rejection is not None:
            raise validated.rejection
        if validated is not None and validated.result is not None:
            result, columns, extra = validated.result, validated.columns_present, validated.extra
        else:
            result, columns, extra = read_and_validate(delivery, limit)
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
        return rejected, lambda: _move_rejected(*move)
    log.info(
        "%s: %d rows read, %d loaded, %d quarantined",
        path.name,
        outcome.rows_read,
        outcome.rows_loaded,
        outcome.rows_quarantined,
    )
    return outcome, _archiving(config, delivery, path, sha)


def _identify(path: Path, config: Config) -> Delivery | None:
    """The delivery a file's name names, if it names one (for the record of a rejection)."""
    try:
        return parse_file_name(path, config)
    except FileRejected:
        return None


@dataclass(frozen=True)
class LandingState:
    """What `landing_files` holds for a delivery's extract, provider and period."""

    loaded_sha: str | None  # the checksum of the period's loaded delivery; None: none loaded
    # (file name, rows read) of the provider's previous delivery of the extract: the one this
    # replaces when it re-delivers a period, else the latest loaded for an earlier period
    previous: tuple[str, int] | None


class LandingIndex:
    """The loaded and superseded deliveries of `landing_files`, held in memory for one run.

    Read once when the run starts (`read`) and kept up to date by each load after it commits
    (`record_load`): the run is the warehouse's one writer, so nothing else changes them, and
    a file's checks (byte-identical to its loaded delivery? which delivery does its volume
    follow?) cost no query: at some 2 ms a query, two a file cost more than its rows' insert.
    """

    def __init__(self, rows: list[tuple]) -> None:
        # (extract, provider) -> [period_end, file_id, file_name, rows_read, status, sha256]
        self._by: dict[tuple[str, str], list[list]] = {}
        for extract, provider, *entry in rows:
            self._by.setdefault((extract, provider), []).append(list(entry))

    @classmethod
    def read(cls, con: duckdb.DuckDBPyConnection) -> LandingIndex:
        return cls(
            con.execute(
                "SELECT extract, provider, period_end, file_id, file_name, rows_read, status, "
                "sha256 FROM landing_files WHERE status IN ('loaded', 'superseded') "
                "AND rows_read IS NOT NULL"
            ).fetchall()
        )

    def loaded(self) -> set[Loaded]:
        """(extract, provider, period_end, sha256) of every loaded delivery."""
        return {
            (extract, provider, e[0], e[5])
            for (extract, provider), entries in self._by.items()
            for e in entries
            if e[4] == "loaded"
        }

    def state(self, d: Delivery) -> LandingState:
        entries = self._by.get((d.extract, d.provider), [])
        loaded = [e for e in entries if e[0] == d.period_end and e[4] == "loaded"]
        if len(loaded) > 1:
            raise RuntimeError(f"landing_files has two loaded deliveries of {d.name}'s period")
        earlier = [e for e in entries if e[0] <= d.period_end]
        previous = max(earlier, key=lambda e: (e[0], e[1]), default=None)
        return LandingState(
            loaded[0][5] if loaded else None,
            (previous[2], previous[3]) if previous is not None else None,
        )

    def record_load(self, d: Delivery, file_id: int, rows_read: int, sha: str) -> None:
        """A delivery committed as loaded: the period's loaded one, if any, is superseded."""
        entries = self._by.setdefault((d.extract, d.provider), [])
        for e in entries:
            if e[0] == d.period_end and e[4] == "loaded":
                e[4] = "superseded"
        entries.append([d.period_end, file_id, d.name, rows_read, "loaded", sha])


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
    failing = too_many_failing(findings, result.rows_read, contract)
    if failing is not None:
        raise failing
    low_volume = contract.looks_truncated(result.rows_read, previous[1] if previous else None)
    if low_volume and low_volume_ok:
        log.warning(
            "%s: %d rows, under %d%% of the previous delivery's %d; loaded because its "
            "volume was accepted as complete (diewell reprocess --accept-low-volume)",
            d.name,
            result.rows_read,
            round(100 * contract.min_volume_share),
            previous[1],
        )
    elif low_volume:
        raise FileRejected(
            "volume_drop",
            f"the file has {result.rows_read} data row{'s' if result.rows_read != 1 else ''}, "
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
    loaded = rows.height
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
    landing.record_load(d, file_id, result.rows_read, sha)
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
    )


class WindowWrites:
    """A window's inserts, held and written a table at a time (one INSERT into landing_files,
    into each staging table and into quarantine_rows, instead of three a file: each costs
    some 2 ms whatever its size), all inside the window's transaction.

    Rows are held with their NHS number (NUMBER_TO_PSEUDONYMISE) and the INSERT turns it
    into person_id (transforms.pseudonymise.PSEUDONYM_SQL, the key's blocks as parameters):
    one query over a window's rows of an extract, where a file at a time cost a few
    milliseconds a file, whatever its size. No table ever holds the number.

    `flushed()` writes what is held and returns the connection. What reads or changes rows
    that a held insert adds asks for it first: the duplicate deaths (staging and
    landing_files) and a re-delivery's supersession; so does the commit. File ids come from
    the sequence as before, reserved a window at a time (ids no file takes are left unused).
    """

    def __init__(
        self, con: duckdb.DuckDBPyConnection, files: int, key_blocks: tuple[bytes, bytes]
    ) -> None:
        self.con = con
        self.key_blocks = key_blocks  # the parameters of PSEUDONYM_SQL
        self._reserve = max(1, files)
        self._ids: deque[int] = deque()
        self._files: list[dict] = []
        self._staged: dict[str, list[pl.DataFrame]] = {}
        self._quarantined: list[pl.DataFrame] = []

    def record_file(self, **values) -> int:
        """Hold one landing_files row, received now, under the next file id (the columns not
        given are null); return the file id."""
        if not self._ids:
            reserved = self.con.execute(
                "SELECT nextval('landing_file_id') AS id FROM range(?) ORDER BY id",
                [self._reserve],
            ).fetchall()
            self._ids.extend(r[0] for r in reserved)
        file_id = self._ids.popleft()
        self._files.append({**values, "file_id": file_id, "received_at": _now()})
        return file_id

    @staticmethod
    def pseudonym_of(column: str) -> str:
        """The SQL that turns `column`'s NHS numbers into person_ids, with `key_blocks` as
        its parameters (the duplicate deaths match by it; the INSERT writes it)."""
        return PSEUDONYM_SQL.format(column=column)

    def stage(self, table: str, rows: pl.DataFrame) -> None:
        self._staged.setdefault(table, []).append(rows)

    def quarantine(self, findings: pl.DataFrame) -> None:
        self._quarantined.append(findings)

    def flushed(self) -> duckdb.DuckDBPyConnection:
        """Write every held row (landing_files, staging, quarantine_rows); the connection."""
        if self._files:
            # Types as given (every row read); a column no row gives is left to the table's
            # default, and one the table lacks fails the INSERT, as a single row's would.
            files = pl.from_dicts(self._files, infer_schema_length=None)
            _insert(self.con, "landing_files", files)
        for table, frames in self._staged.items():
            held = pl.concat(frames, how="vertical_relaxed")
            if NUMBER_TO_PSEUDONYMISE in held.columns:  # the NHS number becomes person_id
                person_id = self.pseudonym_of(NUMBER_TO_PSEUDONYMISE)
                select = f"* EXCLUDE ({NUMBER_TO_PSEUDONYMISE}), {person_id} AS person_id"
                _insert(self.con, table, held, select, list(self.key_blocks))
            else:
                _insert(self.con, table, held)
        if self._quarantined:
            _insert(self.con, "quarantine_rows", pl.concat(self._quarantined, how="vertical"))
        self._files, self._staged, self._quarantined = [], {}, []
        return self.con


def _insert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    rows: pl.DataFrame,
    select: str = "*",
    params: list | None = None,
) -> None:
    """Append a frame to a table (`select` of it), its columns matched by name."""
    con.register("held_rows", rows)
    try:
        con.execute(f"INSERT INTO {table} BY NAME SELECT {select} FROM held_rows", params or [])
    finally:
        con.unregister("held_rows")


# A held row's NHS number, until the INSERT that writes the row turns it into person_id.
NUMBER_TO_PSEUDONYMISE = "nhs_number_to_pseudonymise"


def number_column(contract) -> str | None:
    """The contract's NHS number column, if it has one (staging holds one person_id)."""
    columns = [c.name for c in contract.columns if c.type == "nhs_number"]
    if len(columns) > 1:
        raise ValueError(f"{contract.extract}: a contract has at most one NHS number column")
    return columns[0] if columns else None


def held_columns(contract) -> list[str]:
    """A held row's columns: staging's, with the NHS number in place of person_id."""
    return [NUMBER_TO_PSEUDONYMISE if c == "person_id" else c for c in staging_columns(contract)]


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


def _move_rejected(config, path, sha, file_id: int, run_id, rejection: FileRejected) -> None:
    """Move a rejected file, its rejection committed, to the rejected area under a safe
    name, its reason files beside it."""
    shown = shown_name(path.name)
    config.rejected.mkdir(parents=True, exist_ok=True)
    target = _free_name(config.rejected / stored_name(path.name, f"file-{file_id}"), sha, file_id)
    shutil.move(path, target)  # a link is moved as a link, a pipe refused: neither is opened
    detail = {
        "file_name": shown,
        "sha256": sha or None,
        "rule": rejection.rule,
        "reason": rejection.reason,
        "run_id": run_id,
        "rejected_at": _now().isoformat(timespec="seconds"),
    }
    if target.name != path.name:
        detail["stored_as"] = target.name
    Path(f"{target}.reason.json").write_text(json.dumps(detail, indent=2) + "\n", encoding="utf-8")
    Path(f"{target}.reason.txt").write_text(
        f"{shown} was rejected whole and nothing of it was loaded.\n"
        f"Reason ({rejection.rule}): {rejection.reason}\n",
        encoding="utf-8",
    )


def _free_name(target: Path, sha: str, file_id: int) -> Path:
    """target, or target with the checksum (else the file id) inserted when that name is taken."""
    if os.path.lexists(target):
        return target.with_name(f"{target.stem}.{sha[:12] or file_id}{target.suffix}")
    return target


def _archiving(config: Config, d: Delivery, path: Path, sha: str) -> Callable[[], None]:
    """The move of a loaded (or unchanged) file into the archive, to make once committed."""
    return lambda: _archive(config, d, path, sha)


def _archive(config: Config, d: Delivery, path: Path, sha: str) -> None:
    folder = config.archive / d.extract / d.provider
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        old = sha256_of(target)
        if old == sha:
            target.unlink()
        else:  # keep the replaced delivery beside it, named by its checksum
            target.rename(folder / f"{path.name}.{old[:12]}.superseded")
    shutil.move(str(path), target)
