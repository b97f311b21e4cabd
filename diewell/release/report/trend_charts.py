"""The trend of each section's indicators over the rolling 12-month periods, England beside
them: one small chart per indicator, each with its own axes, so that a grid never draws an
empty cell; an indicator with nothing to draw is named in words instead."""

from __future__ import annotations

import datetime as dt

import altair as alt
import polars as pl

from diewell.release.report import wording
from diewell.release.report.charts import (
    BAND,
    GREY,
    NHS_BLUE,
    PANEL_HEIGHT,
    PANEL_WIDTH,
    SUPPRESSED_MARK,
    Figure,
    Table,
    _in_order,
    _label,
    _svg,
)
from diewell.release.report.sections import BENCHMARKS


def trend_chart(
    anchor: str,
    rows: pl.DataFrame,
    names: dict[str, str],
    order: list[str],
    england: dict[tuple[str, dt.date], dict] | None = None,
) -> Figure:
    """One panel per indicator: the ICS value over the rolling 12-month periods, with its
    95% interval as a band, England's figure (`england`: (indicator, period end) -> its
    benchmark row) as a dashed line; suppressed periods are marked with the word. A panel
    with no value to draw is left out and named in words (`notes`), never drawn as bare axes."""
    england = england or {}
    rows = _in_order(rows, order, "period_end")
    data = []
    for r in rows.to_dicts():
        bench = england.get((r["indicator_id"], r["period_end"]))
        data.append(
            {
                "indicator_id": r["indicator_id"],
                "period": wording.short_period(r["period_end"]),
                "order": r["period_end"].isoformat(),
                "value": None if r["suppressed"] else r["value"],
                "lower": None if r["suppressed"] else r["lower_95"],
                "upper": None if r["suppressed"] else r["upper_95"],
                "benchmark": BENCHMARKS.get(r["indicator_id"]),
                "england": bench["benchmark_value"] if bench else None,
                "note": SUPPRESSED_MARK if r["suppressed"] else None,
            }
        )
    periods = sorted({(d["order"], d["period"]) for d in data})
    present = [i for i in order if i in names and any(d["indicator_id"] == i for d in data)]
    drawn = [
        i for i in present if any(d["indicator_id"] == i and d["value"] is not None for d in data)
    ]
    panels = [
        _trend_panel([d for d in data if d["indicator_id"] == i], names[i], i, periods)
        for i in drawn
    ]
    notes = [
        f"{_label({'indicator_id': i}, names[i])}: nothing to draw, "
        + (
            "every period is suppressed (small numbers)."
            if any(d["indicator_id"] == i for d in data)
            else "no period is published."
        )
        for i in present
        if i not in drawn
    ]
    svg = _svg(alt.concat(*panels, columns=3, spacing=24), anchor) if panels else ""
    table = Table(
        caption="The values behind the chart (ICS, rolling 12 months), beside England's",
        headers=["Indicator", "Period", "Value", "95% interval", "England", "Data complete"],
    )
    for r in rows.to_dicts():
        bench = england.get((r["indicator_id"], r["period_end"]))
        table.rows.append(
            [
                _label(r, names[r["indicator_id"]]),
                wording.rolling_period(r["period_end"]),
                wording.shown_value(r),
                wording.interval(r) or "",
                _england_cell(bench, r),
                "yes" if r["data_complete"] else "no (provisional)",
            ]
        )
    hidden = [f"{t[0]} ({t[1]})" for t in table.rows if t[2] == wording.SUPPRESSED]
    description = (
        f"Line charts, one for each indicator, of the ICS value over the last {len(periods)} "
        "rolling 12-month periods, with the 95% interval shaded."
    )
    if any(d["england"] is not None for d in data):
        description += (
            " The grey dashed line is England's latest published figure for each period "
            "(often a calendar year and counted differently: see the table and the "
            "benchmark section)."
        )
    if any(d["benchmark"] is not None for d in data):
        description += " The dotted line is the PCOC benchmark of 90%."
    description += (
        " Values suppressed because of small numbers: " + "; ".join(hidden) + "."
        if hidden
        else " No value is suppressed."
    )
    return Figure(anchor, "Trends over time", description, svg, table, notes=notes)


def _trend_panel(
    data: list[dict], name: str, indicator_id: str, periods: list[tuple[str, str]]
) -> alt.LayerChart:
    """One indicator's trend: its own chart, titled, with its own axes."""
    x = alt.X(
        "period:O",
        sort=[p for _, p in periods],
        title=None,
        axis=alt.Axis(labelAngle=-40, labelAlign="right"),
    )
    base = alt.Chart(alt.Data(values=data)).encode(x=x)
    band = base.mark_area(color=BAND, opacity=0.6).encode(
        y=alt.Y("lower:Q", title=None, scale=alt.Scale(zero=False)), y2="upper:Q"
    )
    line = base.mark_line(color=NHS_BLUE, point=alt.OverlayMarkDef(color=NHS_BLUE)).encode(
        y="value:Q"
    )
    layers = [band, line]
    if any(d["england"] is not None for d in data):
        layers.append(
            base.transform_filter("datum.england != null")
            .mark_line(
                color=GREY,
                strokeDash=[5, 3],
                point=alt.OverlayMarkDef(color=GREY, shape="diamond", size=30),
            )
            .encode(y="england:Q")
        )
    if any(d["benchmark"] is not None for d in data):
        layers.append(base.mark_rule(color=GREY, strokeDash=[2, 2]).encode(y="benchmark:Q"))
    if any(d["note"] is not None for d in data):
        layers.append(
            base.transform_filter("datum.note != null")
            .mark_text(color=GREY, fontSize=10, angle=270, align="right", baseline="middle")
            .encode(text="note:N", y=alt.value(4))
        )
    title = alt.TitleParams(
        _label({"indicator_id": indicator_id}, name), fontSize=11, anchor="start"
    )
    return alt.layer(*layers).properties(width=PANEL_WIDTH, height=PANEL_HEIGHT, title=title)


def _england_cell(bench: dict | None, row: dict) -> str:
    """England's figure for a table cell: "43.4% (2022)"; "" where there is none."""
    if not bench or bench["benchmark_value"] is None:
        return ""
    value = wording.number(bench["benchmark_value"], row["unit"], row["statistic"])
    period = wording.benchmark_period(bench["benchmark_period_type"], bench["benchmark_period_end"])
    return f"{value} ({period})"
