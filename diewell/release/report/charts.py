"""The report's charts: Altair specifications rendered offline to static SVG by vl-convert.

Every chart comes with its table alternative and a one-paragraph text description, and
shows suppressed values with the word "suppressed", never as zero or a silent gap.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import altair as alt
import polars as pl
import vl_convert

from diewell.release.report import wording
from diewell.release.report.sections import PLACE_OF_DEATH

NHS_BLUE = "#005eb8"
BAND = "#a4c8ec"
GREY = "#4c6272"
FONT = "Arial"
PANEL_WIDTH = 210
PANEL_HEIGHT = 130
BAR_SIZE = 24  # pixels; each financial year's row is YEAR_ROW_HEIGHT tall
YEAR_ROW_HEIGHT = 70
Z_95 = 1.959963984540054
Z_99_8 = 3.090232306167813
FUNNEL_POINTS = 200  # points along each control limit line
SUPPRESSED_MARK = "suppressed"
NO_FIGURE_MARK = "no figure"
QUINTILES = ("1", "2", "3", "4", "5")
PLACE_COLOURS = ["#005eb8", "#41b6e6", "#330072", "#ffb81c", "#768692"]
# Altair checks a specification against the Vega-Lite JSON schema as it is written out, the
# same few chart shapes every run. The report's tests check every shape
# (tests/system/test_report.py sets this True); a run does not.
CHECK_SPECS = False


@dataclass
class Table:
    caption: str
    headers: list[str]
    rows: list[list[str]] = field(default_factory=list)
    wrap_anywhere: bool = False  # cells may break anywhere (long web addresses)


@dataclass
class Figure:
    anchor: str  # unique HTML id of the figure
    title: str
    description: str  # the text alternative, also the figure's caption
    svg: str  # "" when there is nothing to draw: `notes` say why, in words
    table: Table
    notes: list[str] = field(default_factory=list)  # shown in words above the chart
    icons: str = ""  # the Making Data Count icons of an SPC chart (inline SVG)
    reading: str | None = None  # an SPC chart in plain words


def _svg(chart: alt.TopLevelMixin, prefix: str) -> str:
    """Static SVG for the chart, its ids made unique in the page (several charts inline)."""
    spec = chart.configure(font=FONT).configure_view(stroke=None).to_dict(validate=CHECK_SPECS)
    svg = vl_convert.vegalite_to_svg(spec)
    svg = re.sub(r'id="([^"]+)"', lambda m: f'id="{prefix}-{m.group(1)}"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", lambda m: f"url(#{prefix}-{m.group(1)})", svg)
    svg = re.sub(r'href="#([^"]+)"', lambda m: f'href="#{prefix}-{m.group(1)}"', svg)
    # the figure carries the text alternative; the drawing itself is one image
    svg = re.sub(r"<svg ", '<svg aria-hidden="true" focusable="false" ', svg, count=1)
    return re.sub(r'\s(role|aria-roledescription|aria-label)="[^"]*"', "", svg)


def _label(row: dict, name: str) -> str:
    return f"{row['indicator_id']} {name}"


def _in_order(rows: pl.DataFrame, order: list[str], *then: str) -> pl.DataFrame:
    """Rows in the section's order of indicators."""
    rank = pl.col("indicator_id").replace_strict(
        {code: i for i, code in enumerate(order)}, default=len(order)
    )
    return rows.sort(rank, *then)


def place_of_death_chart(
    anchor: str, rows: pl.DataFrame, names: dict[str, str], england: list[dict] | None = None
) -> Figure:
    """Where people died, each financial year, as a stacked bar of the five places; beside
    them England's latest figures (`england`: one benchmark row per place, all for one
    period) when all five are published. Suppressed shares are named in words, never drawn."""
    rows = rows.filter(pl.col("indicator_id").is_in(PLACE_OF_DEATH)).sort(
        "period_end", "indicator_id"
    )
    order = {code: i for i, code in enumerate(PLACE_OF_DEATH)}
    data, notes = [], {}
    for r in rows.to_dicts():
        year = wording.financial_year(r["period_end"])
        if r["suppressed"]:
            notes.setdefault(year, []).append(names[r["indicator_id"]].lower())
            continue
        data.append(
            {
                "year": year,
                "place": names[r["indicator_id"]],
                "order": order[r["indicator_id"]],
                "value": r["value"],
            }
        )
    years = list(dict.fromkeys(wording.financial_year(d) for d in rows["period_end"]))
    england_label = None
    if england and {b["indicator_id"] for b in england} == set(PLACE_OF_DEATH):
        first = england[0]
        england_label = (
            f"{first['benchmark_area']} "
            f"{wording.benchmark_period(first['benchmark_period_type'], first['benchmark_period_end'])}"
        )
        data += [
            {
                "year": england_label,
                "place": names[b["indicator_id"]],
                "order": order[b["indicator_id"]],
                "value": b["benchmark_value"],
            }
            for b in england
        ]
    places = [names[c] for c in PLACE_OF_DEATH if c in names]
    bars = (
        alt.Chart(alt.Data(values=data))
        .mark_bar(size=BAR_SIZE)
        .encode(
            y=alt.Y(
                "year:N",
                title=None,
                sort=[*years, *([england_label] if england_label else [])],
            ),
            x=alt.X("value:Q", title="Share of deaths (%)", scale=alt.Scale(domain=[0, 100])),
            color=alt.Color(
                "place:N",
                sort=places,
                scale=alt.Scale(domain=places, range=PLACE_COLOURS),
                legend=alt.Legend(title="Place of death", orient="bottom", columns=3),
            ),
            order=alt.Order("order:Q"),
        )
    )
    shown_rows = len({d["year"] for d in data})
    chart = bars.properties(width=PANEL_WIDTH * 3, height=YEAR_ROW_HEIGHT * max(1, shown_rows))
    table = Table(
        caption="Place of death by financial year (ICS), and England's latest figures",
        headers=["Period", "Place of death", "Share of deaths", "95% interval"],
    )
    for r in rows.to_dicts():
        table.rows.append(
            [
                wording.financial_year(r["period_end"]),
                names[r["indicator_id"]],
                wording.shown_value(r),
                wording.interval(r) or "",
            ]
        )
    if england_label:
        for b in england:
            value = wording.number(b["benchmark_value"], "%", "proportion")
            table.rows.append([england_label, names[b["indicator_id"]], value, ""])
    parts = []
    for year in dict.fromkeys(row[0] for row in table.rows):
        shares = [f"{row[1].lower()} {row[2]}" for row in table.rows if row[0] == year]
        parts.append(f"In {year}: " + "; ".join(shares) + ".")
    words = [
        f"{year}: the share of {', '.join(hidden)} is suppressed (small numbers), so the bar "
        "does not reach 100%."
        for year, hidden in notes.items()
    ]
    description = "Stacked bar chart of where people died in each financial year"
    if england_label:
        description += (
            f", with {england_label} beside them (defined differently: the benchmark section "
            "says how)"
        )
    description += ". " + " ".join(parts)
    svg = _svg(chart, anchor) if data else ""
    if not data:
        words.append("No financial year has a published share to draw.")
    return Figure(anchor, "Place of death by financial year", description, svg, table, notes=words)


def funnel_limits(proportion: float, denominator: float, z: float) -> tuple[float, float]:
    """Control limits (as fractions) around the ICS proportion for an area of this size.

    Normal approximation to the binomial around the ICS proportion p:
    p ± z·√(p(1-p)/n), clipped to [0, 1]. This is the score test that the Wilson interval
    inverts, so an area lies outside the 95% limits exactly when its Wilson 95% interval
    (as published) excludes the ICS value.
    """
    half = z * math.sqrt(proportion * (1 - proportion) / denominator)
    return max(0.0, proportion - half), min(1.0, proportion + half)


def funnel_chart(
    anchor: str, areas: pl.DataFrame, ics_row: dict, name: str, level_words: str
) -> Figure:
    """Areas' values against their denominators, with the ICS value and control limits."""
    areas = areas.sort("geography_name")
    shown = areas.filter(~pl.col("suppressed") & pl.col("denominator").is_not_null())
    p = ics_row["value"] / 100
    top = max([r["denominator"] for r in shown.to_dicts()] + [ics_row["denominator"] or 10])
    sizes = [max(1.0, top * 1.05 * i / FUNNEL_POINTS) for i in range(1, FUNNEL_POINTS + 1)]
    limits = []
    for n in sizes:
        for label, z in (("95% limits", Z_95), ("99.8% limits", Z_99_8)):
            low, high = funnel_limits(p, n, z)
            limits += [
                {"n": n, "limit": label, "side": "lower", "value": 100 * low},
                {"n": n, "limit": label, "side": "upper", "value": 100 * high},
            ]
    points = [
        {"n": r["denominator"], "value": r["value"], "area": r["geography_name"]}
        for r in shown.to_dicts()
    ]
    x = alt.X("n:Q", title="Deaths in the period (denominator)")
    lines = (
        alt.Chart(alt.Data(values=limits))
        .mark_line(color=GREY)
        .encode(
            x=x,
            y=alt.Y("value:Q", title=f"{name} (%)"),
            strokeDash=alt.StrokeDash(
                "limit:N",
                scale=alt.Scale(domain=["95% limits", "99.8% limits"], range=[[6, 3], [2, 2]]),
                legend=alt.Legend(title=None, orient="bottom"),
            ),
            detail="side:N",
        )
    )
    centre = (
        alt.Chart(alt.Data(values=[{"value": ics_row["value"]}]))
        .mark_rule(color=NHS_BLUE)
        .encode(y="value:Q")
    )
    dots = (
        alt.Chart(alt.Data(values=points))
        .mark_circle(size=50, color=NHS_BLUE, opacity=0.9)
        .encode(x=x, y="value:Q")
    )
    chart = alt.layer(lines, centre, dots).properties(width=PANEL_WIDTH * 3, height=260)

    table = Table(
        caption=f"{name}: each {level_words[:-1]} against the ICS value",
        headers=["Area", "Deaths (denominator)", "Value", "95% interval", "Compared with the ICS"],
    )
    outside_99_8 = []
    for r in areas.to_dicts():
        where = "not compared (suppressed)"
        if not r["suppressed"] and r["denominator"]:
            low95, high95 = funnel_limits(p, r["denominator"], Z_95)
            low998, high998 = funnel_limits(p, r["denominator"], Z_99_8)
            v = r["value"] / 100
            if v < low998 or v > high998:
                where = "outside the 99.8% limits"
                outside_99_8.append(r["geography_name"])
            elif v < low95 or v > high95:
                where = "outside the 95% limits"
            else:
                where = "within the 95% limits"
        table.rows.append(
            [
                r["geography_name"],
                wording.SUPPRESSED if r["suppressed"] else f"{r['denominator']:,}",
                wording.shown_value(r),
                wording.interval(r) or "",
                where,
            ]
        )
    hidden = areas.height - shown.height
    description = (
        f"Funnel plot of {name.lower()} for {shown.height} {level_words} against the ICS "
        f"value of {wording.number(ics_row['value'], '%', 'proportion')} (solid line), with "
        "95% (dashed) and 99.8% (dotted) control limits that narrow as the number of deaths "
        f"grows. {len(outside_99_8)} lie outside the 99.8% limits"
        + (f" ({', '.join(outside_99_8)})" if outside_99_8 else "")
        + "."
        + (f" {hidden} {level_words} are not plotted: {wording.SUPPRESSED}." if hidden else "")
    )
    return Figure(
        anchor, f"{name}: {level_words} compared", description, _svg(chart, anchor), table
    )


def deprivation_chart(
    anchor: str, rows: pl.DataFrame, names: dict[str, str], order: list[str]
) -> Figure:
    """One panel per indicator: the value in each IMD quintile with its 95% interval."""
    rows = _in_order(rows.filter(pl.col("breakdown_value") != "unknown"), order, "breakdown_value")
    present = [i for i in order if i in names and i in set(rows["indicator_id"])]
    panels = [_label({"indicator_id": i}, names[i]) for i in present]
    published = {(r["indicator_id"], r["breakdown_value"]): r for r in rows.to_dicts()}
    data, table_rows = [], []
    for indicator_id in present:
        for quintile in QUINTILES:
            r = published.get((indicator_id, quintile))
            label = _label({"indicator_id": indicator_id}, names[indicator_id])
            shown = r is not None and not r["suppressed"]
            note = None if shown else (SUPPRESSED_MARK if r is not None else NO_FIGURE_MARK)
            data.append(
                {
                    "panel": label,
                    "quintile": quintile,
                    "value": r["value"] if shown else None,
                    "lower": r["lower_95"] if shown else None,
                    "upper": r["upper_95"] if shown else None,
                    "note": note,
                }
            )
            table_rows.append(
                [
                    label,
                    wording.breakdown_value(quintile),
                    wording.shown_value(r) if r is not None else wording.NO_FIGURE,
                    wording.interval(r) or "",
                ]
            )
    x = alt.X(
        "quintile:O",
        scale=alt.Scale(domain=list(QUINTILES)),
        title="IMD quintile (1 most deprived, 5 least deprived)",
        axis=alt.Axis(labelAngle=0),
    )
    base = alt.Chart(alt.Data(values=data)).encode(x=x)
    bars = base.mark_rule(color=GREY, strokeWidth=2).encode(
        y=alt.Y("lower:Q", title=None, scale=alt.Scale(zero=False)), y2="upper:Q"
    )
    dots = base.mark_point(filled=True, size=60, color=NHS_BLUE).encode(y="value:Q")
    suppressed = (
        base.transform_filter("datum.note != null")
        .mark_text(color=GREY, fontSize=10, angle=270, align="right", baseline="middle")
        .encode(text="note:N", y=alt.value(4))
    )
    chart = (
        alt.layer(bars, dots, suppressed)
        .properties(width=PANEL_WIDTH, height=PANEL_HEIGHT)
        .facet(facet=alt.Facet("panel:N", title=None, sort=panels), columns=3)
        .resolve_scale(y="independent")
    )
    table = Table(
        caption="The values behind the chart (ICS, by IMD quintile)",
        headers=["Indicator", "IMD quintile", "Value", "95% interval"],
    )
    table.rows = table_rows
    hidden = [f"{t[0]}, quintile {t[1]}" for t in table.rows if t[2] == wording.SUPPRESSED]
    absent = [f"{t[0]}, quintile {t[1]}" for t in table.rows if t[2] == wording.NO_FIGURE]
    description = (
        "Dot charts, one for each indicator, of the ICS value in each deprivation (IMD) "
        "quintile from the most deprived (1) to the least deprived (5), with 95% intervals "
        "as vertical lines."
        + (
            " Values suppressed because of small numbers: " + "; ".join(hidden) + "."
            if hidden
            else ""
        )
        + (" No figure is published for: " + "; ".join(absent) + "." if absent else "")
    )
    return Figure(anchor, "Deprivation gradient", description, _svg(chart, anchor), table)
