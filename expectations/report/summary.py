"""The run's validation summary (meta_validation_summary): per provider and extract, the files
loaded, unchanged, rejected and superseded, and the rows read, loaded, quarantined and
filtered, with rows by rule; and the findings per rule as the pages show them."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

import duckdb
import polars as pl

if TYPE_CHECKING:
    pass


SHOWN_PER_RULE = 20  # offending (masked) values per rule kept by ingest and shown on a GX page


def summary_rows(run_id: str, outcomes) -> list[dict]:
    groups: dict[tuple, dict] = {}
    for o in outcomes:
        g = groups.setdefault(
            (o.provider, o.extract),
            {
                "run_id": run_id,
                "provider": o.provider,
                "extract": o.extract,
                "files": 0,
                "files_loaded": 0,
                "files_unchanged": 0,
                "files_rejected": 0,
                "files_superseded": 0,
                "rows_read": 0,
                "rows_loaded": 0,
                "rows_quarantined": 0,
                "rows_filtered": 0,
                "quarantined_by_rule": Counter(),
                "rejected_by_rule": Counter(),
                "filtered_by_reason": Counter(),
            },
        )
        g["files"] += 1
        g[f"files_{o.status}"] += 1
        if o.status == "loaded":
            g["rows_read"] += o.rows_read
            g["rows_loaded"] += o.rows_loaded
            g["rows_quarantined"] += o.rows_quarantined
            g["rows_filtered"] += o.rows_filtered
            g["quarantined_by_rule"].update(o.quarantined_by_rule)
            g["filtered_by_reason"].update(o.filtered_by_reason)
        elif o.status == "rejected":
            g["rejected_by_rule"][o.rule] += 1
    rows = []
    for g in groups.values():
        g["quarantined_by_rule"] = dict(sorted(g["quarantined_by_rule"].items()))
        g["rejected_by_rule"] = dict(sorted(g["rejected_by_rule"].items()))
        g["filtered_by_reason"] = dict(sorted(g["filtered_by_reason"].items()))
        rows.append(g)
    return sorted(rows, key=lambda r: (r["provider"] or "", r["extract"] or ""))


def write_summary(con: duckdb.DuckDBPyConnection, run_id: str, outcomes) -> None:
    """Replace the run's rows of meta_validation_summary (a re-run of ingest rewrites them)."""
    rows = summary_rows(run_id, outcomes)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute("DELETE FROM meta_validation_summary WHERE run_id = ?", [run_id])
        for r in rows:
            con.execute(
                "INSERT INTO meta_validation_summary (run_id, provider, extract, files, "
                "files_loaded, files_unchanged, files_rejected, rows_read, rows_loaded, "
                "rows_quarantined, quarantined_by_rule, rejected_by_rule, files_superseded, "
                "rows_filtered, filtered_by_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
                "MAP(?::VARCHAR[], ?::BIGINT[]), MAP(?::VARCHAR[], ?::BIGINT[]), ?, ?, "
                "MAP(?::VARCHAR[], ?::BIGINT[]))",
                [
                    r["run_id"],
                    r["provider"],
                    r["extract"],
                    r["files"],
                    r["files_loaded"],
                    r["files_unchanged"],
                    r["files_rejected"],
                    r["rows_read"],
                    r["rows_loaded"],
                    r["rows_quarantined"],
                    list(r["quarantined_by_rule"]),
                    list(r["quarantined_by_rule"].values()),
                    list(r["rejected_by_rule"]),
                    list(r["rejected_by_rule"].values()),
                    r["files_superseded"],
                    r["rows_filtered"],
                    list(r["filtered_by_reason"]),
                    list(r["filtered_by_reason"].values()),
                ],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def quarantine_by_rule(findings: pl.DataFrame, shown: int) -> dict:
    """Per (rule, column): rows failing, and the first `shown` (masked) values, their row
    numbers and the messages saying what to fix."""
    if not findings.height:
        return {}
    grouped = findings.group_by("rule", "column", maintain_order=True).agg(
        pl.col("row_number").n_unique().alias("n"),
        pl.col("value").head(shown).alias("values"),
        pl.col("row_number").head(shown).alias("rows"),
        pl.col("message").head(shown).alias("messages"),
    )
    out: dict = defaultdict(dict)
    for r in grouped.iter_rows(named=True):
        out[(r["rule"], r["column"])] = {
            "n": r["n"],
            "values": r["values"],
            "rows": r["rows"],
            "messages": r["messages"],
        }
    return dict(out)
