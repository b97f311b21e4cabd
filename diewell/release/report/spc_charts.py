"""Making Data Count SPC charts for the board, from spc.parquet alone (indicators.md v3).

One chart per indicator with a monthly series: the published monthly values (a suppressed
month is not plotted, and the line runs on across it), the centre line, the process limits,
and each month coloured by its special cause; beside it the Making Data Count variation icon
(and the assurance icon when the series has a target: none by default), drawn here as inline
SVG, and the series' reading in plain words. Nothing is fetched: the icons are drawn, not
downloaded. The colours are NHSRplotthedots' (grey common cause, blue improvement, orange
concern, purple neither).
"""

from __future__ import annotations

import html

import altair as alt
import polars as pl

from diewell.release.report import wording
from diewell.release.report.charts import GREY, PANEL_WIDTH, Figure, Table, _svg

SPC_HEIGHT = 200
MINIMUM_POINTS = 2  # fewer plotted months give no limits: the chart is left out, in words
COMMON, IMPROVEMENT, CONCERN, NEITHER = "#7b7d7d", "#289de0", "#fab428", "#361475"
# (point colour's legend label, colour) by special cause; None is common cause
CAUSES = {
    None: ("Common cause", COMMON),
    "improvement": ("Special cause: improvement", IMPROVEMENT),
    "concern": ("Special cause: concern", CONCERN),
    "neither": ("Special cause: neither better nor worse", NEITHER),
}
# variation icon -> (colour, letter, direction of its dots, words)
VARIATION_ICONS = {
    "common_cause": (COMMON, "", 0, "common cause variation"),
    "improvement_high": (IMPROVEMENT, "H", 1, "special cause variation: improvement (high)"),
    "improvement_low": (IMPROVEMENT, "L", -1, "special cause variation: improvement (low)"),
    "concern_high": (CONCERN, "H", 1, "special cause variation: concern (high)"),
    "concern_low": (CONCERN, "L", -1, "special cause variation: concern (low)"),
    "neutral_high": (NEITHER, "H", 1, "special cause variation: neither better nor worse (high)"),
    "neutral_low": (NEITHER, "L", -1, "special cause variation: neither better nor worse (low)"),
}
ASSURANCE_ICONS = {
    "consistent_pass": (IMPROVEMENT, "P", "the target is consistently passed"),
    "consistent_fail": (CONCERN, "F", "the target is consistently failed"),
    "inconsistent": (COMMON, "?", "the target is hit and miss"),
}


def variation_icon(icon: str) -> str:
    """The Making Data Count variation icon as inline SVG (a circle, a run of dots, H or L)."""
    colour, letter, direction, words = VARIATION_ICONS[icon]
    dots = "".join(
        f'<circle cx="{9 + 5.5 * i}" cy="{29 - direction * 2.2 * i:.1f}" r="2" fill="{colour}"/>'
        for i in range(5)
    )
    text = (
        f'<text x="20" y="17" font-family="Arial" font-size="13" font-weight="bold" '
        f'text-anchor="middle" fill="{colour}">{letter}</text>'
        if letter
        else ""
    )
    return _icon(f"Variation: {words}", colour, text + dots)


def assurance_icon(icon: str) -> str:
    """The Making Data Count assurance icon as inline SVG (a circle with P, F or ?)."""
    colour, letter, words = ASSURANCE_ICONS[icon]
    text = (
        f'<text x="20" y="26" font-family="Arial" font-size="18" font-weight="bold" '
        f'text-anchor="middle" fill="{colour}">{letter}</text>'
    )
    return _icon(f"Assurance: {words}", colour, text)


def _icon(label: str, colour: str, inside: str) -> str:
    label = html.escape(label)
    return (
        f'<svg class="dw-icon" role="img" aria-label="{label}" viewBox="0 0 40 40" width="48" '
        f'height="48"><title>{label}</title><circle cx="20" cy="20" r="17" fill="#ffffff" '
        f'stroke="{colour}" stroke-width="3"/>{inside}</svg>'
    )


def spc_figure(anchor: str, rows: pl.DataFrame, name: str) -> Figure:
    """The SPC chart of one indicator's monthly rows (spc.parquet, in month order)."""
    rows = rows.sort("period_end")
    first = rows.row(0, named=True)
    unit, label = first["unit"], f"{first['indicator_id']} {name}"
    plotted = rows.filter(pl.col("value").is_not_null())
    table = _table(rows, label)
    title = f"{label}: month by month (SPC)"
    hidden = rows.filter(pl.col("suppressed")).height
    if plotted.height < MINIMUM_POINTS:
        note = (
            f"No SPC chart for {label}: {plotted.height} month(s) published"
            + (f" ({hidden} suppressed: small numbers)" if hidden else "")
            + f"; a chart needs at least {MINIMUM_POINTS} to set its limits."
        )
        return Figure(anchor, title, note, "", table, notes=[note])
    icons = variation_icon(first["variation_icon"]) if first["variation_icon"] else ""
    if first["assurance_icon"]:
        icons += assurance_icon(first["assurance_icon"])
    chart = _chart(rows, plotted, unit)
    description = _description(rows, plotted, label, unit, hidden)
    return Figure(
        anchor,
        title,
        description,
        _svg(chart, anchor),
        table,
        icons=icons,
        reading=first["reading"],
    )


def _chart(rows: pl.DataFrame, plotted: pl.DataFrame, unit: str) -> alt.LayerChart:
    limits = [
        {
            "month": r["period_end"].isoformat(),
            "centre": r["centre_line"],
            "lower": r["lower_process_limit"],
            "upper": r["upper_process_limit"],
        }
        for r in rows.to_dicts()
    ]
    points = [
        {
            "month": r["period_end"].isoformat(),
            "value": r["value"],
            "cause": CAUSES[r["special_cause"]][0],
        }
        for r in plotted.to_dicts()
    ]
    x = alt.X("month:T", title=None, axis=alt.Axis(format="%b %Y", labelAngle=-40, tickCount=12))
    y_title = f"Value ({unit})"
    base = alt.Chart(alt.Data(values=limits)).encode(x=x)
    centre = base.mark_line(color=GREY, strokeWidth=1.5).encode(
        y=alt.Y("centre:Q", title=y_title, scale=alt.Scale(zero=False))
    )
    lower = base.mark_line(color=GREY, strokeDash=[6, 3]).encode(y="lower:Q")
    upper = base.mark_line(color=GREY, strokeDash=[6, 3]).encode(y="upper:Q")
    dots = alt.Chart(alt.Data(values=points)).encode(x=x)
    line = dots.mark_line(color=COMMON, strokeWidth=1).encode(y="value:Q")
    causes = [c for c, _ in CAUSES.values()]
    coloured = dots.mark_point(filled=True, size=40, opacity=1).encode(
        y="value:Q",
        color=alt.Color(
            "cause:N",
            scale=alt.Scale(domain=causes, range=[c for _, c in CAUSES.values()]),
            legend=alt.Legend(title=None, orient="bottom", columns=2, labelLimit=320),
        ),
    )
    return alt.layer(centre, lower, upper, line, coloured).properties(
        width=PANEL_WIDTH * 3, height=SPC_HEIGHT
    )


def _description(
    rows: pl.DataFrame, plotted: pl.DataFrame, label: str, unit: str, hidden: int
) -> str:
    first = rows.row(0, named=True)
    statistic = "proportion" if unit == "%" else ""

    def shown(value: float | None) -> str:
        return wording.number(value, unit, statistic)

    text = (
        f"Statistical process control (XmR) chart of {label}, the ICS each calendar month "
        f"({plotted.height} months plotted, {wording.short_period(rows['period_end'][0])} to "
        f"{wording.short_period(rows['period_end'][-1])}). Centre line {shown(first['centre_line'])}"
    )
    if first["lower_process_limit"] is not None:
        text += (
            f", process limits {shown(first['lower_process_limit'])} to "
            f"{shown(first['upper_process_limit'])} (the mean of the first "
            f"{first['baseline_months']} published months plus or minus 2.66 times their "
            "mean moving range)"
        )
    text += f". Reading: {first['reading']}."
    special = plotted.filter(pl.col("special_cause").is_not_null())
    if special.height:
        text += (
            f" {special.height} of the {plotted.height} months show a special cause, the first "
            f"{wording.short_period(special['period_end'][0])} and the latest "
            f"{wording.short_period(special['period_end'][-1])} (the table lists each)."
        )
    if hidden:
        text += f" {hidden} month(s) suppressed (small numbers) are not plotted."
    provisional = rows.filter(~pl.col("data_complete"))
    if provisional.height:
        text += (
            f" {provisional.height} month(s) are provisional (some providers had not yet "
            f"delivered), the latest {wording.short_period(provisional['period_end'][-1])}."
        )
    return text


def _table(rows: pl.DataFrame, label: str) -> Table:
    table = Table(
        caption=f"{label}: the monthly values behind the chart (ICS, counts rounded to 5)",
        headers=[
            "Month",
            "Value",
            "Counts",
            "Centre line",
            "Process limits",
            "Special cause",
            "Data complete",
        ],
    )
    for r in rows.to_dicts():
        unit, statistic = r["unit"], "proportion" if r["unit"] == "%" else ""
        if r["suppressed"]:
            value, counts = wording.SUPPRESSED, ""
        else:
            value = wording.number(r["value"], unit, statistic)
            counts = f"{r['numerator']:,} of {r['denominator']:,}"
        limits = ""
        if r["lower_process_limit"] is not None:
            limits = (
                f"{wording.number(r['lower_process_limit'], unit, statistic)} to "
                f"{wording.number(r['upper_process_limit'], unit, statistic)}"
            )
        cause = r["special_cause"]
        table.rows.append(
            [
                f"{r['period_end']:%B %Y}",
                value,
                counts,
                wording.number(r["centre_line"], unit, statistic),
                limits,
                "not plotted"
                if r["value"] is None
                else (f"{cause} ({r['special_cause_side']})" if cause else "common cause"),
                "yes" if r["data_complete"] else "no (provisional)",
            ]
        )
    return table
