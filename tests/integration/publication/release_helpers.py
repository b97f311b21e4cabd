"""Publishing from a test: the steps a run takes after compute, as plain calls, and audit
rules a part at a time (test-only code moved out of the product, issue 37)."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from diewell.pipeline import _publication
from diewell.release.audit import PrivacyCheck
from diewell.release.audit_rules import disclosure_problems, summed_problems
from diewell.release.control import (
    control_in_parts,
)
from diewell.release.promote import RELEASES
from diewell.release.publish import publish_controlled
from diewell.release.schema import AuditFailed
from diewell.steps import run_directly
from diewell.warehouse import fetch_one
from diewell.warehouse.indicators.catalogue import release_parts

if TYPE_CHECKING:
    from diewell.config import Config


def publish(
    con: duckdb.DuckDBPyConnection, values: pl.DataFrame, config: Config, run_id: str
) -> Path:
    """Disclosure-control these exact values (a part at a time), then write, audit (against
    mart_indicator_values) and promote; return the release."""
    if (config.outputs / RELEASES / run_id).exists():
        raise AuditFailed(f"a release {run_id} already exists; a run publishes once")
    controlled = control_in_parts(
        con,
        lambda part: [values.filter(pl.col("indicator_id").is_in(part))],
        values["indicator_id"].unique().to_list(),
        config.suppress_up_to,
        config.round_to,
        run_id,
    )
    return publish_controlled(con, controlled, config, run_id)


def disclosure_problems_in_parts(
    published: pl.DataFrame,
    exact: pl.DataFrame,
    threshold: int,
    multiple: int,
    not_people: Collection[str] = (),
) -> list[str]:
    """disclosure_problems, one part of the release at a time (indicators.release_parts):
    every rule looks only within an indicator or a shared-denominator set, so the problems
    are the same, each count summed over the parts."""
    ids = {*published["indicator_id"].unique(), *exact["indicator_id"].unique()}
    return summed_problems(
        disclosure_problems(
            published.filter(pl.col("indicator_id").is_in(part)),
            exact.filter(pl.col("indicator_id").is_in(part)),
            threshold,
            multiple,
            not_people=not_people,
        )
        for part in release_parts(ids)
    )


def privacy_problems(release: Path, tables: dict[str, pl.DataFrame]) -> list[str]:
    """Person-level columns, NHS-number or pseudonym-shaped strings anywhere in the release."""
    check = PrivacyCheck()
    for what, df in tables.items():
        check.add(what, df)
    return check.problems(release)


def publish_release(con, config: Config, release_id: str) -> Path | None:
    """Disclosure control and publication of mart_indicator_values, as `refresh` runs them."""
    rows = fetch_one(con, "SELECT count(*) FROM mart_indicator_values")[0]
    return _publication(con, rows, config, release_id, run_directly)
