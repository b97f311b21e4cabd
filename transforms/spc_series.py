"""SPC charts of published monthly series, as table columns (spc.parquet; indicators.md v3).

`chart_table` takes the published (disclosure-controlled) monthly values of several
indicators and adds, to each month, its chart: centre line, process limits, special-cause
flags, and the series' icons and reading, as transforms/spc.py's `xmr` and `board_reading`
give them. A month not published (null value) breaks no run and is not plotted: it keeps
the series' centre line and limits and has no flags.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from diewell.transforms.spc import BASELINE_POINTS, Improvement, board_reading, xmr

# Polarity (the catalogue's) -> the improvement direction of its chart
IMPROVEMENT_OF_POLARITY: dict[str, Improvement] = {
    "higher_is_better": "increase",
    "lower_is_better": "decrease",
    "none": "neutral",
}
# The columns chart_table adds, and their types
CHART_COLUMNS = {
    "centre_line": pl.Float64,
    "lower_process_limit": pl.Float64,
    "upper_process_limit": pl.Float64,
    "outside_limits": pl.Boolean,
    "shift": pl.Boolean,
    "trend": pl.Boolean,
    "two_in_three": pl.Boolean,
    "special_cause": pl.String,
    "special_cause_side": pl.String,
    "variation_icon": pl.String,
    "target": pl.Float64,
    "assurance_icon": pl.String,
    "baseline_months": pl.Int64,
    "trial_limits": pl.Boolean,
    "reading": pl.String,
}


def chart_table(
    series: pl.DataFrame,
    polarity: Mapping[str, str],
    *,
    targets: Mapping[str, float] | None = None,
    baseline_points: int | None = BASELINE_POINTS,
) -> pl.DataFrame:
    """The XmR chart of each indicator's series, as columns (CHART_COLUMNS) beside its rows.

    `series`: one row per indicator_id x month with `period_end` (a date) and `value` (null
    for a month not published: suppressed, or no one in the cohort). `polarity`: indicator id
    -> none / higher_is_better / lower_is_better. `targets`: indicator id -> target, for the
    assurance icon (none by default). The icons, the target, the baseline and `reading` (the
    chart in words, board_reading, with months written "March 2026") are the series', the same
    on each of its rows. Rows come back sorted by indicator and month.
    """
    targets = targets or {}
    parts = []
    for (indicator_id,), rows in series.sort("indicator_id", "period_end").group_by(
        "indicator_id", maintain_order=True
    ):
        if polarity.get(indicator_id) not in IMPROVEMENT_OF_POLARITY:
            raise ValueError(f"no known polarity for {indicator_id}")
        result = xmr(
            rows["value"].to_list(),
            baseline_points=baseline_points,
            improvement=IMPROVEMENT_OF_POLARITY[polarity[indicator_id]],
            target=targets.get(indicator_id),
        )
        months = [f"{d:%B %Y}" for d in rows["period_end"]]
        points = result.to_frame()
        chart = pl.DataFrame(
            {
                "centre_line": points["mean"],
                "lower_process_limit": points["lpl"],
                "upper_process_limit": points["upl"],
                "outside_limits": points["outside_limits"],
                "shift": points["shift"],
                "trend": points["trend"],
                "two_in_three": points["two_in_three"],
                "special_cause": points["special_cause"],
                "special_cause_side": points["side"],
            }
        )
        series_columns = {
            "variation_icon": result.variation,
            "target": result.target,
            "assurance_icon": result.assurance,
            "baseline_months": result.baseline_points,
            "trial_limits": result.trial_limits,
            "reading": board_reading(result, months),
        }
        parts.append(
            pl.concat([rows, chart], how="horizontal").with_columns(
                pl.lit(value, CHART_COLUMNS[name]).alias(name)
                for name, value in series_columns.items()
            )
        )
    if not parts:
        return series.with_columns(pl.lit(None, t).alias(c) for c, t in CHART_COLUMNS.items())
    return pl.concat(parts).cast(CHART_COLUMNS)
