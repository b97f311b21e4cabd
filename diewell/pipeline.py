"""The pipeline's steps as plain functions; flows/ orchestrates them and the CLI calls the flow.

pull -> ingest (validate + load, file by file) -> build (core, periods, cohort)
     -> compute indicators (exact, in the warehouse) -> publish (disclosure-controlled Parquet)
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import polars as pl

from diewell import indicators, publish, warehouse
from diewell.config import Config
from diewell.delivery import discover
from diewell.ingest import FileOutcome, ingest_landing
from diewell.warehouse import fetch_one

log = logging.getLogger("diewell")


@dataclass
class RunSummary:
    run_id: str
    files: list[FileOutcome] = field(default_factory=list)
    periods: int = 0
    cohort_rows: int = 0
    indicator_rows: int = 0
    release: Path | None = None

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)

    def rejections_by_rule(self) -> Counter:
        return Counter(f.rule for f in self.files if f.status == "rejected")


def new_run_id() -> str:
    now = dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def open_warehouse(config: Config) -> duckdb.DuckDBPyConnection:
    con = warehouse.connect(config.warehouse)
    applied = warehouse.migrate(con)
    if applied:
        log.info("warehouse migrations applied: %s", ", ".join(applied))
    return con


def start_run(con: duckdb.DuckDBPyConnection, config: Config, run_id: str) -> None:
    con.execute(
        "INSERT INTO meta_runs (run_id, started_at, status, config_path) VALUES (?, ?, 'running', ?)",
        [run_id, dt.datetime.now(dt.UTC).replace(tzinfo=None), str(config.path)],
    )


def finish_run(
    con: duckdb.DuckDBPyConnection, summary: RunSummary, status: str, message: str = ""
) -> None:
    con.execute(
        """UPDATE meta_runs SET finished_at = ?, status = ?, files_seen = ?, files_loaded = ?,
           files_rejected = ?, files_unchanged = ?, rows_loaded = ?, rows_quarantined = ?, message = ?
           WHERE run_id = ?""",
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
            summary.run_id,
        ],
    )


def pull_from_landing(config: Config) -> int:
    """The local-folder transport: files are already in the landing folder; count them."""
    found = len(discover(config.landing))
    log.info("landing folder %s holds %d files", config.landing, found)
    return found


def ingest(con: duckdb.DuckDBPyConnection, config: Config, run_id: str) -> list[FileOutcome]:
    def progress(done: int, total: int, outcome: FileOutcome) -> None:
        if done == total or done % max(1, total // 20) == 0:
            log.info("ingest: %d/%d files (%d%%)", done, total, 100 * done // total)

    outcomes = ingest_landing(con, config, run_id, progress)
    log.info(
        "ingest: %d loaded, %d unchanged, %d rejected; %d rows loaded, %d quarantined",
        sum(o.status == "loaded" for o in outcomes),
        sum(o.status == "unchanged" for o in outcomes),
        sum(o.status == "rejected" for o in outcomes),
        sum(o.rows_loaded for o in outcomes),
        sum(o.rows_quarantined for o in outcomes),
    )
    return outcomes


def build(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    """Core tables, reporting periods and the decedent cohort; return (periods, cohort rows)."""
    con.execute("BEGIN TRANSACTION")
    warehouse.run_sql_file(con, "core/current_records.sql")
    periods = indicators.build_periods(con)
    warehouse.run_sql_file(con, "marts/decedent_cohort.sql")
    warehouse.run_sql_file(con, "marts/decedent_periods.sql")
    warehouse.run_sql_file(con, "marts/person_geography.sql")
    con.execute("COMMIT")
    cohort = fetch_one(con, "SELECT count(*) FROM mart_decedent_cohort")[0]
    log.info("build: %d reporting periods, %d decedents in the cohort", periods, cohort)
    return periods, cohort


def compute(con: duckdb.DuckDBPyConnection, config: Config, run_id: str) -> pl.DataFrame:
    values = indicators.compute_indicator_values(con, config, run_id)
    log.info("indicators: %d values computed (exact, kept in the warehouse)", values.height)
    return values


def publish_release(con, values: pl.DataFrame, config: Config, run_id: str) -> Path:
    release = publish.publish(con, values, config, run_id)
    log.info("published release %s", release)
    return release


def headline(release: Path) -> pl.DataFrame:
    """The published ICS-level values for the latest rolling 12 months (disclosure-controlled)."""
    df = pl.read_parquet(release / "indicators", hive_partitioning=True)
    latest = df.filter(pl.col("period_type") == "rolling_12m")["period_end"].max()
    return (
        df.filter(
            (pl.col("period_type") == "rolling_12m")
            & (pl.col("period_end") == latest)
            & (pl.col("geography_level") == "ics")
            & (pl.col("breakdown") == "all")
        )
        .select(
            "indicator_id",
            "indicator_name",
            "numerator",
            "denominator",
            "value",
            "lower_95",
            "upper_95",
            "period_end",
        )
        .sort("indicator_id")
    )
