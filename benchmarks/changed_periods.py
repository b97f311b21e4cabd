"""Which periods' published rows one run changed: the groundwork for recomputing only those.

    .venv/bin/python benchmarks/changed_periods.py OUTPUTS [--json OUT]

OUTPUTS is an ICS's outputs folder holding at least two releases (a benchmark run with
`--dir` keeps the full and the incremental run's). The two newest releases are compared row
by row on the published primary key (indicator, period, geography, breakdown and its value:
`diewell.release.publish.PRIMARY_KEY`, from the output schema); a row counts as
changed when any of numerator, denominator, value, its limits or `suppressed` differ, or
when it is in one release only. Prints, per period type and period end, how many rows the
newer release has and how many of them changed, and the indicators with the most changes.
Published (disclosure-controlled) rows only: nothing finer than a release shows.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import polars as pl

from diewell.warehouse.indicators.schema import PRIMARY_KEY

VALUES = ["numerator", "denominator", "value", "lower_95", "upper_95", "suppressed"]


def newest_two(outputs: Path) -> tuple[Path, Path]:
    releases = sorted((outputs / "releases").iterdir(), key=lambda p: p.stat().st_mtime)
    if len(releases) < 2:
        raise SystemExit(f"{outputs / 'releases'} holds {len(releases)} release(s), not two")
    return releases[-2], releases[-1]


def compared(older: Path, newer: Path) -> pl.DataFrame:
    """Every row of either release on its primary key (output_schema.PRIMARY_KEY), marked with the
    release(s) that hold it and whether it changed (in one release only, or any of VALUES
    differs)."""
    before, after = (
        pl.read_parquet(r / "indicators", hive_partitioning=True)
        .select(PRIMARY_KEY + VALUES)
        .with_columns(pl.lit(True).alias(held))
        for r, held in ((older, "in_older"), (newer, "in_newer"))
    )
    both = before.join(
        after, on=PRIMARY_KEY, how="full", suffix="_new", coalesce=True, nulls_equal=True
    ).with_columns(pl.col("in_older", "in_newer").fill_null(False))
    differs = pl.any_horizontal([~pl.col(v).eq_missing(pl.col(f"{v}_new")) for v in VALUES])
    return both.with_columns(differs.alias("changed"))


def changed_periods(rows: pl.DataFrame) -> pl.DataFrame:
    """Per period of either release: its rows in the newer release and the rows that differ."""
    return (
        rows.group_by("period_type", "period_end")
        .agg(pl.col("in_newer").sum().alias("rows"), pl.col("changed").sum())
        .sort("period_type", "period_end")
    )


def most_changed(rows: pl.DataFrame, periods: int) -> pl.DataFrame:
    """The indicators whose rows, in both releases, changed most in all but the newest
    `periods` period ends of the newer release."""
    newer_ends = rows.filter("in_newer")["period_end"].unique().sort().to_list()
    ends = newer_ends[:-periods] if periods else []
    return (
        rows.filter(
            pl.col("in_older")
            & pl.col("in_newer")
            & pl.col("changed")
            & pl.col("period_end").is_in(ends)
        )
        .group_by("indicator_id")
        .len("changed")
        .sort("changed", "indicator_id", descending=[True, False])
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("outputs", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    older, newer = newest_two(args.outputs)
    rows = compared(older, newer)
    periods = changed_periods(rows)
    earlier = most_changed(rows, periods=1)
    with pl.Config(tbl_rows=100):
        print(f"{older.name} -> {newer.name}")
        print(periods)
        print("indicators changed in the earlier periods (all but the newest period end):")
        print(earlier)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "periods": periods.with_columns(
                        pl.col("period_end").cast(pl.String)
                    ).to_dicts(),
                    "earlier_by_indicator": earlier.to_dicts(),
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
