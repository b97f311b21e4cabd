"""Read a published release (and nothing else): its indicators, catalogue, manifest,
benchmarks and monthly SPC series."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from diewell.release.files import BENCHMARKS_FILE, SPC_FILE
from diewell.release.report.sections import FUNNEL_INDICATOR, FUNNEL_LEVEL
from diewell.release.schema import BENCHMARKS_SCHEMA, SPC_SCHEMA

ROLLING = "rolling_12m"
FINANCIAL_YEAR = "financial_year"
ICS = "ics"
ALL = "all"
_PARTITIONING = ds.partitioning(
    pa.schema([("period_type", pa.string()), ("period_end", pa.date32())]), flavor="hive"
)


@dataclass(frozen=True)
class Release:
    indicators: pl.DataFrame
    catalogue: pl.DataFrame
    manifest: dict
    latest: dt.date  # the latest rolling 12-month period end
    previous: dt.date | None  # the one before it
    benchmarks: pl.DataFrame  # benchmarks.parquet (v3; empty for an older release)
    spc: pl.DataFrame  # spc.parquet (v3; empty for an older release)

    @property
    def ics_name(self) -> str:
        return self.manifest.get("ics", {}).get("name", "")

    def rolling_periods(self) -> list[dt.date]:
        return sorted(
            self.indicators.filter(pl.col("period_type") == ROLLING)["period_end"].unique()
        )

    def ics_rows(self, breakdown: str = ALL) -> pl.DataFrame:
        return self.indicators.filter(
            (pl.col("geography_level") == ICS) & (pl.col("breakdown") == breakdown)
        )

    def benchmarks_of(self, indicator_id: str, period_type: str, end: dt.date) -> list[dict]:
        """The benchmark rows beside one published ICS row (all people), england first."""
        order = {"england": 0, "region": 1, "peer": 2}
        rows = self.benchmarks.filter(
            (pl.col("indicator_id") == indicator_id)
            & (pl.col("period_type") == period_type)
            & (pl.col("period_end") == end)
        ).to_dicts()
        return sorted(rows, key=lambda r: (order.get(r["benchmark_level"], 3), r["benchmark_area"]))

    def spc_series(self, indicator_id: str) -> pl.DataFrame:
        """One indicator's monthly SPC rows, in month order (empty without a series)."""
        return self.spc.filter(pl.col("indicator_id") == indicator_id).sort("period_end")

    def catalogue_entry(self, indicator_id: str) -> dict:
        rows = self.catalogue.filter(pl.col("indicator_id") == indicator_id).to_dicts()
        return rows[0] if rows else {}


def read_release(release: Path) -> Release:
    """The release folder's indicators (hive-partitioned), catalogue and manifest.

    Only the rows the report shows are read: every ICS-level row, and the funnel plot's
    areas (FUNNEL_INDICATOR at FUNNEL_LEVEL, all people). A national release's practice rows
    are most of it, and the report never shows them.
    """
    shown = (pc.field("geography_level") == ICS) | (
        (pc.field("indicator_id") == FUNNEL_INDICATOR)
        & (pc.field("geography_level") == FUNNEL_LEVEL)
        & (pc.field("breakdown") == ALL)
    )
    table = ds.dataset(
        release / "indicators", format="parquet", partitioning=_PARTITIONING
    ).to_table(filter=shown)
    indicators = pl.from_arrow(table)
    catalogue = pl.read_parquet(release / "indicator_catalogue.parquet")
    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    benchmarks, spc = (
        pl.read_parquet(release / name)
        if (release / name).is_file()
        else pl.from_arrow(schema.empty_table())
        for name, schema in ((BENCHMARKS_FILE, BENCHMARKS_SCHEMA), (SPC_FILE, SPC_SCHEMA))
    )
    periods = sorted(indicators.filter(pl.col("period_type") == ROLLING)["period_end"].unique())
    if not periods:
        raise ValueError("the release holds no rolling 12-month period to report on")
    return Release(
        indicators=indicators,
        catalogue=catalogue,
        manifest=manifest,
        latest=periods[-1],
        previous=periods[-2] if len(periods) > 1 else None,
        benchmarks=benchmarks,
        spc=spc,
    )
