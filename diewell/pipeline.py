"""The pipeline: `refresh` lists its steps in order (STEPS), each a plain function here.

pull -> validate -> load (a window of files at a time) -> build (core, periods, cohort)
     -> compute indicators (exact, in the warehouse) -> disclosure control -> publish
     -> swap in the analysts' warehouse

`refresh` is the one place the order is written. It takes a step runner: by default each step
is a plain call (the CLI's tests, the benchmarks); the refresh flow passes one that runs each
step as a Prefect task, so the UI shows where the time goes.
"""

from __future__ import annotations

import datetime as dt
import secrets
import shutil
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from diewell import permissions, warehouse
from diewell.config import Config
from diewell.expectations.report.quality.pages import quality_dir
from diewell.expectations.report.validation_report import data_docs_dir
from diewell.release import control, promote, publish
from diewell.release.identity import release_id
from diewell.sources import mesh
from diewell.sources.ingest import ingest_landing
from diewell.sources.load import FileOutcome
from diewell.steps import run_directly
from diewell.transforms.sender_text import sender_logger
from diewell.warehouse import fetch_one, key_check, query_frame
from diewell.warehouse.indicators import compute as indicators

log = sender_logger("diewell")

# The refresh's steps, in the order `refresh` runs them (the names its step runner is given).
STEPS = ("pull", "validate", "load", "build", "compute", "disclosure control", "publish", "swap in")
StepRunner = Callable[..., object]  # (step name, function, *args) -> the function's result


@dataclass
class RunSummary:
    run_id: str
    files: list[FileOutcome] = field(default_factory=list)
    periods: int = 0
    cohort_rows: int = 0
    indicator_rows: int = 0
    release_id: str | None = None
    release: Path | None = None
    not_published: str = ""  # why a run asked to publish published nothing (day one)
    pulled: mesh.MeshPullSummary | None = None  # the MESH pull, when the ICS has a mailbox

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    @property
    def rows_filtered(self) -> int:
        """Rows national layouts filtered out (sources.md v3), over the files loaded."""
        return sum(f.rows_filtered for f in self.files if f.status == "loaded")

    def filtered_by_reason(self) -> Counter:
        counts: Counter = Counter()
        for f in self.files:
            if f.status == "loaded":
                counts.update(f.filtered_by_reason)
        return counts

    def rejections_by_rule(self) -> Counter:
        return Counter(f.rule for f in self.files if f.status == "rejected")


def new_run_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def identifiable_folders(config: Config) -> list[Path]:
    """The folders holding identifiable or row-level data: the archive, the rejected files,
    the warehouse folder (warehouse, working copy, cached results, lock), and the validation
    pages (row numbers and masked values, for the providers they concern only)."""
    return [
        config.archive,
        config.rejected,
        config.warehouse.parent,
        quality_dir(config),
        data_docs_dir(config),
    ]


def protect_identifiable(config: Config) -> None:
    """Make the identifiable folders, and everything already in them, the owner's only."""
    permissions.protect(*identifiable_folders(config))


def open_warehouse(config: Config) -> duckdb.DuckDBPyConnection:
    """Open the refresh's own working copy of the warehouse (see warehouse.working_path)."""
    working = warehouse.working_path(config.warehouse)
    warehouse.clean_stale_snapshots(config.warehouse)
    if not working.exists() and config.warehouse.exists():
        # A warehouse from before the working copy existed: carry it over, then migrate it.
        working.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(config.warehouse, working)
        log.info("warehouse: working copy created from %s", config.warehouse)
    if working.exists() and warehouse.keep_readable_by_analysts(working):
        log.warning(
            "warehouse: rewritten in DuckDB %s's storage format, so analysts' tools can open it",
            warehouse.ANALYST_STORAGE_VERSION,
        )
    con = warehouse.connect(working, memory_mib=config.warehouse_memory_mib)
    applied = warehouse.migrate(con)
    if applied:
        log.info("warehouse migrations applied: %s", ", ".join(applied))
    return con


def close_warehouse(con: duckdb.DuckDBPyConnection) -> None:
    """Checkpoint (fold the write-ahead log into the file) and close."""
    con.execute("CHECKPOINT")
    con.close()


def publish_warehouse(config: Config) -> Path:
    """Swap the finished working copy in as the analysts' warehouse file."""
    warehouse.publish_snapshot(warehouse.working_path(config.warehouse), config.warehouse)
    log.info("warehouse for analysts refreshed: %s", config.warehouse)
    return config.warehouse


def start_run(con: duckdb.DuckDBPyConnection, config: Config, run_id: str) -> None:
    """Record the run as running, once its key is the one the warehouse was built with."""
    key_check.check_key_fingerprint(con, config, run_id)
    con.execute(
        "INSERT INTO meta_runs (run_id, started_at, status, config_path) VALUES (?, ?, 'running', ?)",
        [run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), str(config.path)],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection, summary: RunSummary, status: str, message: str = ""
) -> None:
    con.execute(
        """UPDATE meta_runs SET finished_at = ?, status = ?, files_seen = ?, files_loaded = ?,
           files_rejected = ?, files_unchanged = ?, rows_loaded = ?, rows_quarantined = ?, message = ?,
           release_id = ? WHERE run_id = ?""",
        [
            dt.datetime.now(dt.UTC).replace(tzinfo=None),
            status,
            len(summary.files),
            summary.count("loaded"),
            summary.count("rejected"),
            summary.count("unchanged"),
            summary.rows_loaded,
            summary.rows_quarantined,
            message or None,
            summary.release_id,
            summary.run_id,
        ],
    )


def ingest(
    con: duckdb.DuckDBPyConnection,
    config: Config,
    run_id: str,
    step: StepRunner = run_directly,
    progress: Callable[[int, int, FileOutcome], None] | None = None,
) -> list[FileOutcome]:
    """The validate and load steps over every file in landing (ingest.ingest_landing)."""

    def logged(done: int, total: int, outcome: FileOutcome) -> None:
        if done == total or done % max(1, total // 20) == 0:
            log.info("ingest: %d/%d files (%d%%)", done, total, 100 * done // total)
        if progress:
            progress(done, total, outcome)

    outcomes = ingest_landing(con, config, run_id, logged, step=step)
    # A file moved from the landing folder into the archive or rejected keeps the mode its
    # sender gave it; their folders (0700) already close it to others, and this closes it too.
    permissions.protect(config.archive, config.rejected, announce=False)
    log.info(
        "ingest: %d loaded, %d unchanged, %d rejected; %d rows loaded, %d quarantined, "
        "%d filtered by layouts",
        sum(o.status == "loaded" for o in outcomes),
        sum(o.status == "unchanged" for o in outcomes),
        sum(o.status == "rejected" for o in outcomes),
        sum(o.rows_loaded for o in outcomes),
        sum(o.rows_quarantined for o in outcomes),
        sum(o.rows_filtered for o in outcomes if o.status == "loaded"),
    )
    return outcomes


def build(con: duckdb.DuckDBPyConnection, config: Config | None = None) -> tuple[int, int]:
    """Core tables, reporting periods and the decedent cohort; return (periods, cohort rows)."""
    con.execute("BEGIN TRANSACTION")
    try:
        warehouse.build_current_records(con)
        periods = indicators.build_periods(con)
        warehouse.run_sql_file(con, "marts/decedent_cohort.sql")
        warehouse.run_sql_file(con, "marts/decedent_periods.sql")
        warehouse.run_sql_file(con, "marts/person_geography.sql")
        warehouse.describe(con)
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
    cohort = fetch_one(con, "SELECT count(*) FROM mart_decedent_cohort")[0]
    log.info("build: %d reporting periods, %d decedents in the cohort", periods, cohort)
    return periods, cohort


def compute(con: duckdb.DuckDBPyConnection, config: Config, release_id: str) -> int:
    """Every indicator's exact values into mart_indicator_values; return how many rows."""
    rows = indicators.compute_indicator_values(con, config, release_id)
    warehouse.run_sql_file(con, "marts/analyst_views.sql")
    warehouse.describe(con)
    log.info("indicators: %d values computed (exact, kept in the warehouse)", rows)
    return rows


def _point_current_at(outputs: Path, release_id: str) -> None:
    promote.point_current_at(outputs, release_id)


def nothing_to_publish(con: duckdb.DuckDBPyConnection, rows: int) -> str:
    """Why there is nothing to publish yet, in words for the operator; "" when there is.

    Day one (no provider has delivered a file that loaded) and the first months (deliveries
    that do not yet cover one whole reporting period) are normal states, not failures: the
    run completes, publishes nothing and leaves `current` as it was.
    """
    loaded = fetch_one(con, "SELECT count(*) FROM landing_files WHERE status = 'loaded'")[0]
    if not loaded:
        return (
            "nothing has been delivered yet (no file has loaded): there is nothing to publish; "
            "outputs/current is left as it was"
        )
    if not rows:
        return (
            "no indicator can be computed yet: the deaths deliveries loaded so far do not cover "
            "a whole reporting period; there is nothing to publish and outputs/current is left "
            "as it was"
        )
    return ""


def pull(config: Config, run_id: str) -> mesh.MeshPullSummary:
    """Download every message in the ICS's MESH mailbox into the landing folder."""
    return mesh.pull_from_mesh(config, run_id=run_id)


def _publication(con, rows: int, config: Config, release_id: str, step: StepRunner) -> Path | None:
    """The disclosure control and publish steps, of the `rows` rows of mart_indicator_values;
    None (nothing published) when there is nothing to publish yet (see nothing_to_publish)."""
    reason = nothing_to_publish(con, rows)
    if reason:
        log.warning("publication: %s", reason)
        return None
    release = config.outputs / "releases" / release_id
    if release.is_dir():
        # The same inputs and code were published before: the bytes would be identical.
        _point_current_at(config.outputs, release_id)
        log.info(
            "release %s already published from the same inputs; current points at it", release_id
        )
        return release
    controlled = step("disclosure control", control.control_release, con, config, release_id)
    release = step("publish", publish_controlled, con, controlled, config, release_id)
    log.info("published release %s", release)
    return release


def publish_controlled(
    con, controlled: control.Controlled, config: Config, release_id: str
) -> Path:
    """Write, audit and promote the disclosure-controlled rows; open the release to readers."""
    release = publish.publish_controlled(con, controlled, config, release_id)
    # Disclosure-controlled, made to be shared: readable by all, unlike everything else.
    permissions.share(release, config.outputs)
    return release


@contextmanager
def recorded_run(config: Config, summary: RunSummary) -> Iterator[duckdb.DuckDBPyConnection]:
    """The working warehouse, open for one run recorded in meta_runs (completed or failed)."""
    protect_identifiable(config)
    con = open_warehouse(config)
    start_run(con, config, summary.run_id)
    try:
        yield con
    except BaseException as exc:
        _record_failure(con, summary, exc)
        raise
    finish_run(con, summary, "completed")
    close_warehouse(con)


def _record_failure(con: duckdb.DuckDBPyConnection, summary: RunSummary, exc: BaseException):
    """Record a failed run in meta_runs with its own error, whatever state the failure left
    the connection in (a transaction still open is rolled back first). A failure to record
    it is logged, never raised: it must not hide the error that ended the run."""
    try:
        if _in_transaction(con):
            con.execute("ROLLBACK")
        finish_run(con, summary, "failed", f"{type(exc).__name__}: {exc}")
        close_warehouse(con)
    except Exception as recording:  # the run's own error is raised by the caller
        log.error(
            "the run's failure could not be recorded in meta_runs (%s); its error follows",
            type(recording).__name__,
        )
        con.close()


def _in_transaction(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the connection has a transaction open (DuckDB refuses BEGIN inside one)."""
    try:
        con.execute("BEGIN TRANSACTION")
    except duckdb.TransactionException:
        return True
    con.execute("ROLLBACK")
    return False


def refresh(
    config: Config,
    summary: RunSummary,
    *,
    publish: bool = True,
    step: StepRunner = run_directly,
    before_closing: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    progress: Callable[[int, int, FileOutcome], None] | None = None,
) -> pl.DataFrame:
    """One refresh of the ICS, every step in order (STEPS); return its exact headline values
    (headline_rows: ICS, all people, the latest rolling 12 months). Every value is in
    mart_indicator_values, which `indicators.read_values` reads, an indicator at a time.

    pull (MESH, when configured) -> validate -> load -> build -> compute ->
    disclosure control -> publish (when `publish`) -> swap in. Each step runs through `step`
    (name, function, *args). `summary` is filled in as the steps end. `before_closing` is
    called with the warehouse connection after the last step that uses it (the flow counts
    the quarantine and prunes its cache there).
    """
    if config.mesh:
        summary.pulled = step("pull", pull, config, summary.run_id)
    with recorded_run(config, summary) as con:
        summary.files = ingest(con, config, summary.run_id, step, progress)
        summary.periods, summary.cohort_rows = step("build", build, con, config)
        summary.release_id = release_id(con, config)
        summary.indicator_rows = step("compute", compute, con, config, summary.release_id)
        if publish:
            rows = summary.indicator_rows
            summary.release = _publication(con, rows, config, summary.release_id, step)
            if summary.release is None:
                summary.not_published = nothing_to_publish(con, rows)
        headline = exact_headline(con)
        if before_closing:
            before_closing(con)
    step("swap in", publish_warehouse, config)
    return headline


HEADLINE_COLUMNS = (
    "indicator_id",
    "indicator_name",
    "numerator",
    "denominator",
    "value",
    "lower_95",
    "upper_95",
    "unit",
    "period_end",
)


def headline_rows(values: pl.DataFrame) -> pl.DataFrame:
    """The headline rows of a set of indicator values: ICS, breakdown all, latest rolling 12 months."""
    rolling = values.filter(pl.col("period_type") == "rolling_12m")
    latest = rolling["period_end"].max()
    return rolling.filter(
        (pl.col("period_end") == latest)
        & (pl.col("geography_level") == "ics")
        & (pl.col("breakdown") == "all")
    )


def exact_headline(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """The exact headline rows of mart_indicator_values; only ICS rows of all people are read."""
    ics = query_frame(
        con,
        "SELECT * FROM mart_indicator_values WHERE geography_level = 'ics' AND breakdown = 'all'",
    )
    return headline_rows(ics).sort("indicator_id")


def headline(release: Path) -> pl.DataFrame:
    """The published headline rows of a release (disclosure-controlled); only ICS rows of all
    people are read."""
    df = (
        pl.scan_parquet(release / "indicators", hive_partitioning=True)
        .filter((pl.col("geography_level") == "ics") & (pl.col("breakdown") == "all"))
        .collect()
    )
    return headline_rows(df).select(HEADLINE_COLUMNS).sort("indicator_id")
