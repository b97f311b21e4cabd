"""A region's indicator rows, combined from its ICSs' published ICS-level rows only.

No person-level data crosses an ICS boundary: the region sees each ICS's release, never its
warehouse, so every region figure is worked out from published (rounded, disclosure-
controlled) counts. For one indicator, period, breakdown and breakdown value:

- numerator and denominator are the sums of the ICSs' published counts (a `count`
  statistic has no denominator: it stays empty). Value and limits are left empty here and
  recomputed from those sums by disclosure control (`restate_from_rounded_counts`), which
  is how a proportion, rate, mean (sum over denominator) or count follows from its counts.
- the cell is suppressed when any ICS suppressed its cell, or did not publish it at all:
  that ICS's count is unknown, so no sum can be made.
- `data_complete` only when it is complete in every ICS.
- statistics that do not follow from published counts are not combined and the region
  publishes no row for them (NOT_COMBINED): a median needs the people's own values and a
  DSR the exact age-band deaths and populations; neither is in a release. A row for them,
  even marked suppressed, would read as "hidden because the count was small".
- the slope index of inequality (`imd_sii`) rows are placeholders: disclosure control
  recomputes them from the region's own published IMD quintile rows (as it does for an ICS).
- a period is combined only where every ICS published the indicator for it: a region total
  of some of its ICSs would be mistaken for the region.

The result then goes through `transforms.disclosure.apply_disclosure_control` again, at
region level (rounding, small counts, complementary suppression, values, trend), like any
ICS's exact rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from diewell.transforms.comparison import COMPARATOR_COLUMN, COMPARATOR_LEVEL, NOT_COMPARED
from diewell.transforms.disclosure import CATEGORY_COLUMN, COUNT_COLUMNS, STATISTIC_COLUMNS
from diewell.transforms.inequality import SII_BREAKDOWN

REGION_LEVEL = "region"
# statistic -> why a region cannot work it out from published counts
NOT_COMBINED = {
    "median": "a median needs each person's value, not published counts",
    "dsr": "a directly standardised rate needs the exact deaths and population of each age band",
}
CELL_KEYS = ("indicator_id", "period_type", "period_end", "breakdown", CATEGORY_COLUMN)
PERIOD_KEYS = ("indicator_id", "period_type", "period_end")
# The same in every ICS for one cell: a difference means the releases are not comparable.
SHARED_COLUMNS = ("indicator_name", "period_start", "unit", "statistic", "polarity")


def ics_rows(release: pl.DataFrame) -> pl.DataFrame:
    """The ICS-level rows of one ICS's release, checked to be one ICS's."""
    rows = release.filter(pl.col("geography_level") == COMPARATOR_LEVEL)
    codes = rows["geography_code"].unique().to_list()
    if len(codes) != 1:
        raise ValueError(f"an ICS release has ICS-level rows for one ICS, not {len(codes)}")
    return rows


def combine_ics_releases(
    releases: Sequence[pl.DataFrame], *, region_code: str, region_name: str
) -> pl.DataFrame:
    """The region's rows from its ICSs' published rows (module docstring), before disclosure
    control; in the columns of the releases, geography_level `region`."""
    if len(releases) < 2:
        raise ValueError("a region combines two or more ICS releases")
    parts = [ics_rows(r) for r in releases]
    codes = [p["geography_code"][0] for p in parts]
    if len(set(codes)) != len(codes):
        raise ValueError(f"the same ICS is given twice: {sorted(codes)}")
    columns = parts[0].columns
    rows = pl.concat([p.select(columns) for p in parts], how="vertical_relaxed").filter(
        ~pl.col("statistic").is_in(list(NOT_COMBINED))
    )
    n = len(parts)
    everywhere = (
        rows.group_by(PERIOD_KEYS)
        .agg(pl.col("geography_code").n_unique().alias("_ics"))
        .filter(pl.col("_ics") == n)
    )
    rows = rows.join(everywhere.select(PERIOD_KEYS), on=PERIOD_KEYS, how="semi")

    differing = (
        rows.group_by(CELL_KEYS)
        .agg(pl.col(c).n_unique().alias(c) for c in SHARED_COLUMNS)
        .filter(pl.any_horizontal(pl.col(c) > 1 for c in SHARED_COLUMNS))
    )
    if differing.height:
        first = differing.row(0, named=True)
        which = [c for c in SHARED_COLUMNS if first[c] > 1]
        raise ValueError(
            f"the ICS releases differ in {', '.join(which)} for {first['indicator_id']} "
            f"{first['period_type']} {first['period_end']}: they are not comparable"
        )

    unknown = pl.col("suppressed").fill_null(True).any() | (pl.len() < n)
    sums = [
        pl.when(unknown | pl.col(c).is_null().all())
        .then(None)
        .otherwise(pl.col(c).sum())
        .cast(rows.schema[c])
        .alias(c)
        for c in COUNT_COLUMNS
    ]
    combined = rows.group_by(CELL_KEYS, maintain_order=True).agg(
        *(pl.col(c).first() for c in SHARED_COLUMNS),
        *sums,
        unknown.alias("suppressed"),
        pl.col("data_complete").all().alias("data_complete"),
    )
    is_sii = pl.col("breakdown") == SII_BREAKDOWN
    combined = combined.with_columns(
        pl.lit(REGION_LEVEL).alias("geography_level"),
        pl.lit(region_code).alias("geography_code"),
        pl.lit(region_name).alias("geography_name"),
        # placeholders: recomputed by disclosure control from the region's published figures
        *(pl.lit(None, pl.Float64).alias(c) for c in (*STATISTIC_COLUMNS, COMPARATOR_COLUMN)),
        pl.lit(NOT_COMPARED).alias("comparison"),
        pl.lit(None, pl.String).alias("trend"),
        pl.when(is_sii).then(False).otherwise(pl.col("suppressed")).alias("suppressed"),
    )
    out = combined.select(c for c in columns if c in combined.columns)
    return out.with_columns(
        pl.col(c).cast(rows.schema[c]) for c in out.columns if c in rows.schema
    ).sort(CELL_KEYS)
