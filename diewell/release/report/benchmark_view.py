"""England (and any region and peers) beside the ICS's figures, from benchmarks.parquet alone
(indicators.md v3): a line under each headline, and the section that compares every
benchmarked headline at once. Where a benchmark is defined differently from diewell's
figure (registrations rather than deaths occurring, a calendar year, another age range or
window, a survey), its source says how, and so does the report, beside the figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import altair as alt
import polars as pl

from diewell.release.report import wording
from diewell.release.report.charts import GREY, NHS_BLUE, PANEL_WIDTH, Figure, Table, _svg
from diewell.release.report.release import ROLLING, Release

ROW_HEIGHT = 34
PERCENT = "%"
ICS_MARK = "ICS, with its 95% interval"
BENCHMARK_MARK = "Benchmark (England, region or peer)"


@dataclass(frozen=True)
class BenchmarkLine:
    """One benchmark beside a headline, in words."""

    level: str  # england, region or peer
    area: str  # England, England and Wales, a region's or a peer ICS's name
    value: str  # 43.4%
    period: str  # 2022, 2021/22, 12 months to ...
    compared: str  # the ICS is lower than England
    difference: str | None  # how it is defined differently, as its source says
    publisher: str  # who published it, and where

    @property
    def label(self) -> str:
        """England (2022); South West (region, 2025); Wessex ICS (peer, 2025)."""
        return wording.benchmark_label(self.level, self.area, self.period)

    @property
    def short(self) -> str:
        """England (2022): 43.4%"""
        return f"{self.label}: {self.value}"


def benchmark_lines(release: Release, indicator_id: str, row: dict | None) -> list[BenchmarkLine]:
    """The benchmarks beside a headline (the ICS's latest rolling 12 months), england first."""
    if row is None:
        return []
    return [_line(b, row) for b in release.benchmarks_of(indicator_id, ROLLING, release.latest)]


def _line(benchmark: dict, row: dict) -> BenchmarkLine:
    """One benchmark row of benchmarks.parquet beside the published ICS row, in words."""
    b = benchmark
    area = b["benchmark_area"]
    value = (
        wording.number(b["benchmark_value"], row["unit"], row["statistic"])
        if b["benchmark_value"] is not None
        else wording.NOT_AVAILABLE
    )
    return BenchmarkLine(
        level=b["benchmark_level"],
        area=area,
        value=value,
        period=wording.benchmark_period(b["benchmark_period_type"], b["benchmark_period_end"]),
        compared=wording.compared(b["benchmark_comparison"], area),
        difference=wording.difference(b["benchmark_source"]),
        publisher=wording.publisher(b["benchmark_source"]),
    )


def comparison_figures(release: Release, names: dict[str, str]) -> tuple[list[Figure], list[Table]]:
    """The benchmark section: a chart of the ICS's percentages (95% interval) beside each
    benchmark, and a table of every benchmarked headline with how each benchmark differs."""
    latest = release.ics_rows().filter(
        (pl.col("period_type") == ROLLING) & (pl.col("period_end") == release.latest)
    )
    rows = {r["indicator_id"]: r for r in latest.to_dicts()}
    table = Table(
        caption=f"The ICS ({wording.rolling_period(release.latest)}) beside each benchmark",
        headers=["Indicator", "ICS", "95% interval", "Benchmark", "Benchmark value", "Compared"],
    )
    differences = Table(
        caption="How each benchmark differs from diewell's figure, and where it is from",
        headers=["Indicator", "Benchmark", "How it differs", "Source"],
        wrap_anywhere=True,
    )
    drawn = Table(
        caption="The values behind the chart",
        headers=["Indicator", "ICS", "95% interval", "Benchmark", "Benchmark value"],
    )
    points, described = [], []
    for indicator_id in sorted(set(release.benchmarks["indicator_id"]) & set(rows)):
        row = rows[indicator_id]
        label = f"{indicator_id} {names.get(indicator_id, row['indicator_name'])}"
        for b in release.benchmarks_of(indicator_id, ROLLING, release.latest):
            line = _line(b, row)
            cells = [
                label,
                wording.shown_value(row),
                wording.interval(row) or "",
                line.label,
                line.value,
            ]
            table.rows.append([*cells, line.compared])
            differences.rows.append(
                [
                    label,
                    cells[3],
                    line.difference or "defined as diewell defines it",
                    line.publisher,
                ]
            )
            described.append(f"{label}: {wording.shown_value(row)}, {line.compared} ({line.value})")
            if row["unit"] == PERCENT and b["benchmark_value"] is not None:
                points.append(_point(label, row, b))
                drawn.rows.append(cells)
    figures = []
    if points:
        figures.append(
            Figure(
                "benchmarks-chart",
                "The ICS beside its benchmarks",
                "Dot chart of each benchmarked percentage: the ICS value (blue dot) with its "
                "95% interval (blue line), and each benchmark (grey hollow diamond). "
                + "; ".join(described)
                + ".",
                _svg(_chart(points), "benchmarks-chart"),
                drawn,
            )
        )
    return figures, [table, differences]


def _point(label: str, row: dict, benchmark: dict) -> dict:
    shown = not row["suppressed"] and row["value"] is not None
    return {
        "indicator": label,
        "ics": row["value"] if shown else None,
        "lower": row["lower_95"] if shown else None,
        "upper": row["upper_95"] if shown else None,
        "benchmark": benchmark["benchmark_value"],
        "area": benchmark["benchmark_area"],
    }


def _chart(points: list[dict]) -> alt.LayerChart:
    labels = list(dict.fromkeys(p["indicator"] for p in points))
    y = alt.Y("indicator:N", title=None, sort=labels, axis=alt.Axis(labelLimit=420))
    scale = alt.Scale(domain=[0, 100])
    series = alt.Color(
        "series:N",
        scale=alt.Scale(domain=[ICS_MARK, BENCHMARK_MARK], range=[NHS_BLUE, GREY]),
        legend=alt.Legend(title=None, orient="bottom", labelLimit=320),
    )
    ics = [dict(p, series=ICS_MARK) for p in points if p["ics"] is not None]
    marks = [dict(p, series=BENCHMARK_MARK) for p in points]
    interval = (
        alt.Chart(alt.Data(values=ics))
        .mark_rule(strokeWidth=3)
        .encode(
            y=y, x=alt.X("lower:Q", title="Percentage", scale=scale), x2="upper:Q", color=series
        )
    )
    dots = (
        alt.Chart(alt.Data(values=ics))
        .mark_point(filled=True, size=70, opacity=1)
        .encode(y=y, x=alt.X("ics:Q", scale=scale), color=series)
    )
    # drawn last, hollow and larger: a benchmark inside the ICS's interval stays visible
    bench = (
        alt.Chart(alt.Data(values=marks))
        .mark_point(shape="diamond", filled=False, size=160, strokeWidth=2, opacity=1)
        .encode(y=y, x=alt.X("benchmark:Q", scale=scale), color=series)
    )
    return alt.layer(interval, dots, bench).properties(
        width=PANEL_WIDTH * 2 + 60, height=ROW_HEIGHT * len(labels)
    )
