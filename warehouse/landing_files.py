"""What landing_files holds, for one run: the loaded and superseded deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb

from diewell.expectations.files import (
    Delivery,
)

if TYPE_CHECKING:
    pass
from diewell.expectations.validate import Loaded


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
    follow?) cost no query: two queries a file would cost more than its rows' insert.
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
                "SELECT extract, provider, period_end, file_id, file_name, "
                "rows_read - coalesce(rows_filtered, 0) AS rows_kept, status, "
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


def quarantined_by_rule(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, int, int]]:
    """(rule, rows, files) for the rows quarantined from this run's files, most rows first."""
    return con.execute(
        """
        SELECT rule, count(*) AS row_count, count(DISTINCT file_id) AS files
        FROM (
            SELECT DISTINCT q.rule, q.file_id, q.row_number
            FROM quarantine_rows q JOIN landing_files f ON f.file_id = q.file_id
            WHERE f.run_id = ?
        )
        GROUP BY rule ORDER BY row_count DESC, rule
        """,
        [run_id],
    ).fetchall()


def history(con: duckdb.DuckDBPyConnection) -> tuple[list[tuple], list[tuple]]:
    """What a warehouse holds, for a digest of its inputs: every loaded or superseded file
    (id, checksum, status), and the run that first wrote it (by when it started writing, not by
    its id: an id is made when a flow starts, before it queues for the warehouse)."""
    files = con.execute(
        "SELECT file_id, sha256, status FROM landing_files "
        "WHERE status IN ('loaded', 'superseded') ORDER BY file_id"
    ).fetchall()
    first_run = con.execute(
        "SELECT run_id FROM meta_runs ORDER BY started_at, run_id LIMIT 1"
    ).fetchall()
    return files, first_run


def layout_lookups(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, str]]:
    """The lookups layouts are given from the warehouse, as loaded so far this run:
    `ref_lsoa_2011` (LSOA 2011 -> 2021, extracts.md v3), from its current delivery (the last
    file of the latest period end, as its core table will hold it). Empty before any loads."""
    rows = con.execute(
        "SELECT lsoa11_code, lsoa21_code FROM stg_ref_lsoa_2011 "
        "WHERE file_id = (SELECT max(file_id) FROM stg_ref_lsoa_2011 "
        "WHERE period_end = (SELECT max(period_end) FROM stg_ref_lsoa_2011))"
    ).fetchall()
    return {"ref_lsoa_2011": dict(rows)}
