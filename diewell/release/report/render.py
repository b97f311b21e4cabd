"""Render a release into one self-contained HTML page (NHS.UK design system, no network)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import polars as pl

from diewell.expectations.report.stylesheet import offline_stylesheet
from diewell.release.files import REPORT_FILE
from diewell.release.report import charts, wording
from diewell.release.report.benchmark_view import (
    BenchmarkLine,
    benchmark_lines,
    comparison_figures,
)
from diewell.release.report.release import ALL, FINANCIAL_YEAR, ROLLING, Release, read_release
from diewell.release.report.sections import (
    AT_A_GLANCE,
    BENCHMARKS,
    BENCHMARKS_ANCHOR,
    EQUITY_ANCHOR,
    EQUITY_INDICATORS,
    FUNNEL_INDICATOR,
    FUNNEL_LEVEL,
    OTHER_ANCHOR,
    PLACE_OF_DEATH,
    SECTIONS,
    Section,
)
from diewell.release.report.spc_charts import spc_figure
from diewell.release.report.trend_charts import trend_chart

HERE = Path(__file__).resolve().parent
ENGLAND_CODE = "E92000001"

PROPORTION = "proportion"
PERCENTAGE_OF_TIME = "percentage_of_time"
LEVEL_WORDS = {"pcn": "primary care networks", "practice": "GP practices", "place": "places"}
EQUITY_TABLE_BREAKDOWNS = (("age_band", "Age band"), ("condition_group", "Condition group"))


@dataclass
class Headline:
    indicator_id: str
    name: str
    definition: str
    value: str
    suppressed: bool
    interval: str | None
    counts: str | None
    previous: str | None
    trend: str
    complete: bool
    benchmark: str | None
    benchmarks: list[BenchmarkLine] = field(default_factory=list)  # England, region, peers


@dataclass
class SectionView:
    anchor: str
    title: str
    recommendation: str
    headlines: list[Headline]
    figures: list[charts.Figure] = field(default_factory=list)
    tables: list[charts.Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said in words: nothing to show, and why


def _row(frame: pl.DataFrame, indicator_id: str, period: dt.date | None) -> dict | None:
    rows = frame.filter(
        (pl.col("indicator_id") == indicator_id)
        & (pl.col("period_type") == ROLLING)
        & (pl.col("period_end") == period)
    ).to_dicts()
    return rows[0] if rows else None


def _headline(release: Release, indicator_id: str) -> Headline:
    ics = release.ics_rows()
    entry = release.catalogue_entry(indicator_id)
    now = _row(ics, indicator_id, release.latest)
    before = _row(ics, indicator_id, release.previous) if release.previous else None
    counts = None
    if now and not now["suppressed"] and now["denominator"] is not None:
        n, d = now["numerator"], now["denominator"]
        if n is None:
            counts = f"based on {d:,} people"
        elif now["statistic"] == PROPORTION:
            counts = f"{n:,} of {d:,}"
        elif now["statistic"] == PERCENTAGE_OF_TIME:
            counts = f"{n:,} days in hospital over {d:,} people's last six months"
        else:
            counts = f"{n:,} over a denominator of {d:,}"
    benchmark = None
    if indicator_id in BENCHMARKS:
        target = BENCHMARKS[indicator_id]
        met = None if not now or now["suppressed"] or now["value"] is None else now["value"]
        benchmark = f"PCOC benchmark {target:.0f}%: " + (
            "not assessed (no value)" if met is None else ("met" if met >= target else "not met")
        )
    return Headline(
        indicator_id=indicator_id,
        name=entry.get("indicator_name") or (now or {}).get("indicator_name", indicator_id),
        definition=entry.get("definition") or "",
        value=wording.shown_value(now),
        suppressed=bool(now and now["suppressed"]),
        interval=wording.interval(now),
        counts=counts,
        previous=(
            f"{wording.shown_value(before)} in the {wording.rolling_period(release.previous)}"
            if release.previous
            else None
        ),
        trend=wording.trend(now),
        complete=bool(now and now["data_complete"]),
        benchmark=benchmark,
        benchmarks=benchmark_lines(release, indicator_id, now),
    )


def _names(release: Release) -> dict[str, str]:
    return dict(release.catalogue.select("indicator_id", "indicator_name").iter_rows())


def _section(release: Release, section: Section, names: dict[str, str]) -> SectionView:
    present = [i for i in section.indicators if i in names]
    view = SectionView(
        section.anchor,
        section.title,
        section.recommendation,
        [_headline(release, i) for i in present],
    )
    ics = release.ics_rows()
    rolling = ics.filter((pl.col("period_type") == ROLLING) & pl.col("indicator_id").is_in(present))
    if rolling.height:
        view.figures.append(
            trend_chart(
                f"{section.anchor}-trend", rolling, names, present, _england(release, ROLLING)
            )
        )
    for indicator_id in present:
        series = release.spc_series(indicator_id)
        if series.height:
            view.figures.append(
                spc_figure(f"{section.anchor}-spc-{indicator_id}", series, names[indicator_id])
            )
    if section.anchor == "place-of-death":
        years = ics.filter(pl.col("period_type") == FINANCIAL_YEAR)
        latest_year = years["period_end"].max() if years.height else None
        england = [
            row
            for (indicator_id, end), row in _england(release, FINANCIAL_YEAR).items()
            if end == latest_year and indicator_id in PLACE_OF_DEATH
        ]
        periods = {b["benchmark_period_end"] for b in england}  # all five of one period
        view.figures.append(
            charts.place_of_death_chart(
                f"{section.anchor}-by-year", years, names, england if len(periods) == 1 else None
            )
        )
        ics_row = _row(ics, FUNNEL_INDICATOR, release.latest)
        areas = release.indicators.filter(
            (pl.col("indicator_id") == FUNNEL_INDICATOR)
            & (pl.col("geography_level") == FUNNEL_LEVEL)
            & (pl.col("breakdown") == ALL)
            & (pl.col("period_type") == ROLLING)
            & (pl.col("period_end") == release.latest)
            & (pl.col("geography_code") != "unknown")
        )
        if ics_row and not ics_row["suppressed"] and areas.height:
            view.figures.append(
                charts.funnel_chart(
                    f"{section.anchor}-funnel",
                    areas,
                    ics_row,
                    names[FUNNEL_INDICATOR],
                    LEVEL_WORDS[FUNNEL_LEVEL],
                )
            )
    return view


def _england(release: Release, period_type: str) -> dict[tuple[str, dt.date], dict]:
    """(indicator, period end) -> the England benchmark beside the ICS row (E92000001, else
    the first England-level area: a survey of England and Wales, say)."""
    rows = release.benchmarks.filter(
        (pl.col("period_type") == period_type) & (pl.col("benchmark_level") == "england")
    ).sort(pl.col("benchmark_area_code") != ENGLAND_CODE, "benchmark_area_code")
    found: dict[tuple[str, dt.date], dict] = {}
    for row in rows.to_dicts():
        found.setdefault((row["indicator_id"], row["period_end"]), row)
    return found


def _benchmarks(release: Release, names: dict[str, str]) -> SectionView:
    figures, tables = comparison_figures(release, names)
    view = SectionView(
        BENCHMARKS_ANCHOR,
        "Compared with England and other benchmarks",
        "Each figure is read beside England's (and the region's and peers' where the ICS "
        "adds them): the latest published figure ending on or before the ICS's period, "
        "compared with the ICS's 95% interval. Public figures are often defined differently "
        "(deaths registered in a calendar year rather than occurring in the period, another "
        "age range, a survey): the table says how.",
        [],
        figures,
        tables if tables and tables[0].rows else [],
    )
    if not view.tables:
        view.notes.append("No benchmark is published for the latest period.")
    return view


def _equity(release: Release, names: dict[str, str]) -> SectionView:
    present = [i for i in EQUITY_INDICATORS if i in names]
    view = SectionView(
        EQUITY_ANCHOR,
        "Equity",
        "Care at the end of life is as good for people in the most deprived areas, in every "
        "age group and with every condition, as for anyone else.",
        [],
    )
    latest = pl.col("period_type") == ROLLING
    latest &= pl.col("period_end") == release.latest
    quintiles = release.ics_rows("imd_quintile").filter(
        latest & pl.col("indicator_id").is_in(present)
    )
    if quintiles.height:
        view.figures.append(
            charts.deprivation_chart("equity-deprivation", quintiles, names, present)
        )
    sii = release.ics_rows("imd_sii").filter(latest).sort("indicator_id")
    table = charts.Table(
        caption="Slope index of inequality (SII): the fitted gap between the least and the "
        "most deprived ends of the ICS (least minus most deprived)",
        headers=["Indicator", "SII", "95% interval"],
    )
    for r in sii.to_dicts():
        table.rows.append(
            [
                f"{r['indicator_id']} {names.get(r['indicator_id'], r['indicator_name'])}",
                wording.NOT_CALCULATED
                if not r["suppressed"] and r["value"] is None
                else wording.shown_value(r),
                wording.interval(r) or "",
            ]
        )
    view.tables.append(table)
    for breakdown, title in EQUITY_TABLE_BREAKDOWNS:
        rows = release.ics_rows(breakdown).filter(latest & pl.col("indicator_id").is_in(present))
        categories = list(dict.fromkeys(rows.sort("breakdown_value")["breakdown_value"]))
        table = charts.Table(
            caption=f"{title}: ICS values, {wording.rolling_period(release.latest)}",
            headers=["Indicator"] + [wording.breakdown_value(c) for c in categories],
        )
        for indicator_id in present:
            cells = {
                r["breakdown_value"]: wording.shown_value(r)
                for r in rows.filter(pl.col("indicator_id") == indicator_id).to_dicts()
            }
            table.rows.append(
                [f"{indicator_id} {names[indicator_id]}"]
                + [cells.get(c, wording.NOT_AVAILABLE) for c in categories]
            )
        view.tables.append(table)
    return view


def render_report(release: Path, out: Path | None = None) -> Path:
    """Write the "Die well" report of a published release (its folder only) as one
    self-contained HTML file, by default <release>/report.html; returns its path."""
    release = Path(release)
    data = read_release(release)
    names = _names(data)
    sections = [_section(data, s, names) for s in SECTIONS]
    listed = {i for s in SECTIONS for i in s.indicators}
    other = sorted(set(names) - listed)
    sections.append(_benchmarks(data, names))
    sections.append(_equity(data, names))
    if other:
        sections.append(
            SectionView(
                OTHER_ANCHOR,
                "Other indicators",
                "Indicators in the catalogue that the sections above do not cover.",
                [_headline(data, i) for i in other],
            )
        )
    complete = all(h.complete for s in sections for h in s.headlines)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    page = env.get_template("report.html.j2").render(
        css=offline_stylesheet(),
        ics_name=data.ics_name or "the ICS",
        period=wording.rolling_period(data.latest),
        previous=wording.rolling_period(data.previous) if data.previous else None,
        manifest=data.manifest,
        sections=sections,
        at_a_glance=[_headline(data, i) for i in AT_A_GLANCE if i in names],
        complete=complete,
        funnel_z=(charts.Z_95, charts.Z_99_8),
    )
    target = Path(out) if out is not None else release / REPORT_FILE
    target.write_text(page, encoding="utf-8")
    return target
