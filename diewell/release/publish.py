"""Publication for the dashboard team: disclosure control, Parquet, catalogue and manifest.

Write -> audit -> publish. A release is written to a staging folder, read back and audited,
and only then renamed into releases/ and pointed at by `current`; a failed audit deletes the
staging folder, leaves the previous publication in place and fails the run (AuditFailed,
with every reason found). Layout under paths.outputs:

    releases/<run_id>/indicators/period_type=<..>/period_end=<YYYY-MM-DD>/part-0.parquet
    releases/<run_id>/indicators.parquet, indicators.csv   (the same rows, flat)
    releases/<run_id>/indicator_catalogue.parquet
    releases/<run_id>/benchmarks.parquet     (England, region and peers beside the ICS's rows)
    releases/<run_id>/spc.parquet            (the monthly SPC series for the board)
    releases/<run_id>/indicators.schema.json, indicator_catalogue.schema.json,
                      benchmarks.schema.json, spc.schema.json
    releases/<run_id>/manifest.json
    releases/<run_id>/report.html            (the board report, rendered from the files above)
    current -> releases/<run_id>        (a symlink, switched atomically after the audit)

`run_id` is the identifier the pipeline publishes under (its release id, derived from the
inputs); it names the folder, fills every row's `run_id` column and heads the manifest.

The output schema is data: warehouse/indicators/schemas/*.schema.json (Frictionless Table Schema),
which also carries `schema_version`; docs/OUTPUTS.md explains it to the dashboard team and
CHANGELOG.md lists every version. Disclosure control (transforms/disclosure.py) is applied
here, to the published copy only; the warehouse keeps the exact figures.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from diewell.release.audit import AuditSummary, _text_problems, audit
from diewell.release.control import (
    PUBLICATION_TABLE,
    Controlled,
    published_counts,
)
from diewell.release.files import REPORT_FILE, write_release
from diewell.release.promote import RELEASES, STAGING, promote
from diewell.release.report import render_report
from diewell.release.schema import AuditFailed
from diewell.transforms.disclosure import (
    smallest_published_count,
)
from diewell.transforms.sender_text import sender_logger
from diewell.warehouse.indicators.schema import (
    SCHEMA_PATHS,
    SCHEMA_VERSION,
    load_table_schema,
)

if TYPE_CHECKING:
    from diewell.config import Config

log = sender_logger("diewell.release.publish")


_versions = {p.name: load_table_schema(p)["schema_version"] for p in SCHEMA_PATHS.values()}
if set(_versions.values()) != {SCHEMA_VERSION}:  # one schema_version for every table
    raise RuntimeError(f"the committed schemas' versions differ: {_versions}")


# --------------------------------------------------------------------------------------------
# Disclosure control and writing


# --------------------------------------------------------------------------------------------
# The audit: every check reads the staged files back, never the frame that was written


# --------------------------------------------------------------------------------------------
# Write -> audit -> publish


def _warn_about_weak_settings(config: Config) -> None:
    threshold, multiple = config.suppress_up_to, config.round_to
    if threshold == 0:
        log.warning("disclosure.suppress_up_to is 0: no small count will be suppressed")
    elif (smallest := smallest_published_count(threshold, multiple)) <= threshold:
        log.warning(
            "with disclosure.suppress_up_to %d and round_to %d a count of %d is published as "
            "%d: published counts of 1-%d appear although no true count of 1-%d is published",
            threshold,
            multiple,
            threshold + 1,
            smallest,
            threshold,
            threshold,
        )


def publish_controlled(
    con: duckdb.DuckDBPyConnection, controlled: Controlled, config: Config, run_id: str
) -> Path:
    """Write the disclosure-controlled rows (PUBLICATION_TABLE of `con`, as disclosure
    control left them: `controlled`) to staging, audit them, and only then promote."""
    _warn_about_weak_settings(config)
    if published_counts(con) != controlled:
        raise AuditFailed(
            f"{PUBLICATION_TABLE} no longer holds the {controlled.rows} rows disclosure control "
            "left: run disclosure control again on this connection"
        )

    def checked(staging: Path) -> AuditSummary:
        summary = audit(staging, con, config, run_id)
        # The board report, from the audited files only; it goes live with them.
        report = render_report(staging, staging / REPORT_FILE)
        problems = _text_problems(report.read_text(encoding="utf-8"), REPORT_FILE)
        if problems:
            raise AuditFailed("; ".join(problems))
        return summary

    try:
        return publish_staged(
            config.outputs,
            run_id,
            write=lambda staging: write_release(staging, con, config, run_id),
            check=checked,
        )
    finally:  # written or failed, the rows are done with: DuckDB frees their memory
        con.execute(f"DROP TABLE IF EXISTS {PUBLICATION_TABLE}")


def publish_staged(
    outputs: Path,
    run_id: str,
    *,
    write: Callable[[Path], None],
    check: Callable[[Path], AuditSummary],
) -> Path:
    """Write -> audit -> publish: `write` fills a staging folder, `check` audits it (raising
    AuditFailed), and only then is it promoted to releases/<run_id> and `current`. A failure
    deletes the staging folder and leaves the previous release current."""
    if (outputs / RELEASES / run_id).exists():
        raise AuditFailed(f"a release {run_id} already exists; a run publishes once")
    staging = outputs / STAGING / run_id
    shutil.rmtree(staging, ignore_errors=True)
    try:
        write(staging)
        summary = check(staging)
    except AuditFailed as exc:
        shutil.rmtree(staging, ignore_errors=True)
        log.error("publication audit failed; the previous release stays current: %s", exc)
        raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    release = promote(staging, outputs, run_id)
    log.info(
        "publication audit passed: %d rows in %d files, %d suppressed",
        summary.rows,
        summary.files,
        summary.suppressed,
    )
    return release
