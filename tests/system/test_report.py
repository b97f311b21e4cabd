"""The "Die well" report: rendered from a published release alone, checked against the
Parquet files (England beside the headlines, the SPC charts), then opened in headless
Chromium (no network, no console errors, every section, screenshots, axe-core accessibility
check); and what it says where there is nothing to draw."""

from __future__ import annotations

import base64
import html
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from diewell.release.report import charts, render_report
from diewell.release.report.charts import Z_95, Z_99_8, funnel_limits
from tests.conftest import REPO
from tests.system.browser import with_page

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
UPDATE_SCREENSHOTS = "DIEWELL_UPDATE_SCREENSHOTS"  # set to 1 to refresh docs/images
DOCS_IMAGES = REPO / "docs" / "images"
# docs/images/<name>: the top of the page, one SPC chart, the comparison with England
SCREENSHOTS = {
    "report.png": None,
    "report-spc.png": "hospital-use-spc-HU02",
    "report-benchmarks.png": "benchmarks",
}
SUPPRESSED = "suppressed (small numbers)"
SECTION_IDS = [
    "identification",
    "care-planning",
    "place-of-death",
    "hospital-use",
    "specialist-care",
    "single-point-of-contact",
    "childrens-transition",
    "dementia",
    "bereavement",
    "education",
    "benchmarks",
    "equity",
    "other-indicators",
    "about",
]
CHART_IDS = [
    "place-of-death-trend",
    "place-of-death-by-year",
    "place-of-death-funnel",
    "place-of-death-spc-PD03",
    "hospital-use-spc-HU02",
    "benchmarks-chart",
    "equity-deprivation",
]


@pytest.fixture(scope="module")
def report(release, tmp_path_factory) -> tuple[Path, str]:
    """The report of a copy of the release folder, alone in a folder (nothing else to read)."""
    alone = tmp_path_factory.mktemp("alone") / "release"
    shutil.copytree(release, alone)
    # every chart's specification checked against the Vega-Lite schema (a run skips it)
    charts.CHECK_SPECS = True
    try:
        page = render_report(alone)
    finally:
        charts.CHECK_SPECS = False
    return page, page.read_text(encoding="utf-8")


def _ics_latest(release: Path) -> pl.DataFrame:
    rows = pl.read_parquet(release / "indicators", hive_partitioning=True)
    rolling = rows.filter(pl.col("period_type") == "rolling_12m")
    return rolling.filter(
        (pl.col("period_end") == rolling["period_end"].max())
        & (pl.col("geography_level") == "ics")
        & (pl.col("breakdown") == "all")
    )


def _headline(page: str, indicator_id: str) -> str:
    found = re.search(rf'data-headline="{indicator_id}">([^<]*)<', page)
    assert found, f"no headline for {indicator_id}"
    return html.unescape(found.group(1))


def _card(page: str, section: str, indicator_id: str) -> str:
    found = re.search(rf'id="{section}-{indicator_id}".*?</ul>', page, re.S)
    assert found, f"no card for {indicator_id} in {section}"
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(0)))


def test_it_is_written_beside_the_release_by_default(report):
    page, _ = report
    assert page.name == "report.html" and (page.parent / "manifest.json").exists()


def test_the_pd03_headline_is_the_published_value(release, report):
    _, page = report
    pd03 = _ics_latest(release).filter(pl.col("indicator_id") == "PD03").to_dicts()[0]
    assert not pd03["suppressed"]
    # the value is numerator / denominator of the published (rounded) counts
    assert pd03["value"] == pytest.approx(100 * pd03["numerator"] / pd03["denominator"])
    assert _headline(page, "PD03") == f"{pd03['value']:.1f}%"
    card = _card(page, "place-of-death", "PD03")
    assert f"95% interval: {pd03['lower_95']:.1f}% to {pd03['upper_95']:.1f}%" in card
    assert f"{pd03['numerator']} of {pd03['denominator']}" in card
    assert "Data complete" in card if pd03["data_complete"] else "Provisional" in card


def test_the_headline_compares_with_the_previous_period(release, report):
    _, page = report
    rows = pl.read_parquet(release / "indicators", hive_partitioning=True).filter(
        (pl.col("period_type") == "rolling_12m")
        & (pl.col("geography_level") == "ics")
        & (pl.col("breakdown") == "all")
        & (pl.col("indicator_id") == "ID01")
    )
    previous = rows.sort("period_end")[-2].to_dicts()[0]
    end = previous["period_end"]
    card = " ".join(_card(page, "identification", "ID01").split())
    assert f"Before: {previous['value']:.1f}% in the 12 months to {end.day} {end:%B %Y}" in card


def test_a_suppressed_headline_says_so_and_shows_no_number(release, report):
    _, page = report
    hidden = _ics_latest(release).filter(pl.col("suppressed"))["indicator_id"].to_list()
    assert {"PD04", "PD05"} <= set(hidden), "the fixed synthetic ICS suppresses these ICS rows"
    for indicator_id in hidden:
        assert _headline(page, indicator_id) == SUPPRESSED
        card = _card(page, "[a-z-]+", indicator_id)  # in whichever section shows it
        assert "95% interval" not in card and "Counts" not in card


def test_suppressed_areas_in_the_funnel_table_say_so(release, report):
    _, page = report
    rows = pl.read_parquet(release / "indicators", hive_partitioning=True)
    latest = rows.filter(pl.col("period_type") == "rolling_12m")["period_end"].max()
    pcns = rows.filter(
        (pl.col("indicator_id") == "PD03")
        & (pl.col("geography_level") == "pcn")
        & (pl.col("breakdown") == "all")
        & (pl.col("period_type") == "rolling_12m")
        & (pl.col("period_end") == latest)
        & (pl.col("geography_code") != "unknown")
    )
    figure = re.search(r'id="place-of-death-funnel".*?</figure>', page, re.S).group(0)
    for pcn in pcns.to_dicts():
        name = html.escape(pcn["geography_name"])
        row = re.search(rf"<th[^>]*>{re.escape(name)}</th>(.*?)</tr>", figure, re.S)
        assert row, pcn["geography_name"]
        if pcn["suppressed"]:
            assert SUPPRESSED in row.group(1) and "0.0%" not in row.group(1)
        else:
            assert f"{pcn['value']:.1f}%" in row.group(1)


def test_every_catalogue_indicator_has_a_headline(release, report):
    _, page = report
    catalogue = pl.read_parquet(release / "indicator_catalogue.parquet")
    for indicator_id in catalogue["indicator_id"]:
        assert f'data-headline="{indicator_id}"' in page
    for anchor in SECTION_IDS + CHART_IDS:
        assert f'id="{anchor}"' in page
    assert "PCOC benchmark 90%" in _card(page, "specialist-care", "SP03")


def test_a_new_indicator_appears_and_its_text_is_escaped(release, tmp_path):
    copy = tmp_path / "release"
    shutil.copytree(release, copy)
    catalogue = pl.read_parquet(copy / "indicator_catalogue.parquet")
    new = catalogue.head(1).with_columns(
        indicator_id=pl.lit("ZZ99"), indicator_name=pl.lit('<script>alert("x")</script> & co')
    )
    pl.concat([catalogue, new]).write_parquet(copy / "indicator_catalogue.parquet")
    page = render_report(copy, tmp_path / "out.html").read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; co" in page
    other = page[page.index('id="other-indicators"') :]
    assert 'data-headline="ZZ99">not available<' in other


def test_funnel_limits_by_hand():
    # p = 0.5, n = 100: 0.5 ± 1.96 × √(0.25 / 100) = 0.5 ± 0.098
    low, high = funnel_limits(0.5, 100, Z_95)
    assert (low, high) == (pytest.approx(0.5 - 0.0979982), pytest.approx(0.5 + 0.0979982))
    # small areas: clipped to 0 and 1
    assert funnel_limits(0.1, 4, Z_99_8) == (0.0, pytest.approx(0.1 + 3.0902323 * 0.15))


@pytest.mark.parametrize("x, n, p", [(30, 100, 0.5), (40, 100, 0.5), (41, 100, 0.5), (2, 40, 0.2)])
def test_outside_the_95_limits_exactly_when_the_wilson_interval_excludes_the_ics(x, n, p):
    z = Z_95
    centre = (x + z * z / 2) / (n + z * z)
    half = z * math.sqrt(x * (n - x) / n + z * z / 4) / (n + z * z)
    wilson_excludes = not (centre - half <= p <= centre + half)
    low, high = funnel_limits(p, n, z)
    assert wilson_excludes == (not low <= x / n <= high)


def test_in_a_browser_offline_accessible_and_screenshotted(report, chromium, tmp_path):
    page_path, _ = report
    url = page_path.resolve().as_uri()
    shot = tmp_path / "report.png"

    async def look(page):
        await page.open(url)
        found = await page.evaluate(
            "%s.filter(id => !document.getElementById(id))" % (SECTION_IDS + CHART_IDS)
        )
        await page.screenshot(tmp_path / "report-full.png", full_page=True)
        await page.screenshot(shot, full_page=False, scale=0.5)
        for name, anchor in SCREENSHOTS.items():
            if anchor:
                await _element_screenshot(page, anchor, tmp_path / name)
        await page.evaluate(AXE.read_text(encoding="utf-8"))
        axe = await page.evaluate(
            "axe.run(document).then(r => ({passes: r.passes.length, violations:"
            " r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length}))}))"
        )
        return found, axe, page.log

    missing, axe, log = with_page(chromium, tmp_path / "profile", look)
    assert missing == []
    assert log.console_errors == []
    outside = [u for u in log.requests if u != url and not u.startswith("data:")]
    assert outside == [], "the page asked for something outside itself"
    assert axe["passes"] > 0
    serious = [v for v in axe["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []
    assert shot.stat().st_size > 0 and (tmp_path / "report-full.png").stat().st_size > 0
    for name in SCREENSHOTS:
        assert (tmp_path / name).stat().st_size > 0, name
    if os.environ.get(UPDATE_SCREENSHOTS):  # the pictures in docs/, refreshed on request only
        DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
        for name in SCREENSHOTS:
            shutil.copyfile(tmp_path / name, DOCS_IMAGES / name)


async def _element_screenshot(page, anchor: str, path: Path, scale: float = 0.8) -> None:
    """A picture of one element of the page (its bounding box, however far down)."""
    x, y, width, height = await page.evaluate(
        f"(() => {{ const r = document.getElementById({anchor!r}).getBoundingClientRect();"
        " return [r.x, r.y + window.scrollY, r.width, r.height]; })()"
    )
    shot = await page.send(
        "Page.captureScreenshot",
        format="png",
        captureBeyondViewport=True,
        clip={"x": x, "y": y, "width": width, "height": min(height, 1800), "scale": scale},
    )
    path.write_bytes(base64.b64decode(shot["data"]))


def test_it_renders_with_no_network_at_all(report, tmp_path):
    """vl-convert draws the charts itself: the same page comes out in a process that has no
    network (a fresh network namespace, `unshare -n`, which needs root)."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("needs root and unshare(1) to cut the network off")
    page_path, page = report
    out = tmp_path / "offline.html"
    script = (
        "import sys; from pathlib import Path; from diewell.release.report import render_report; "
        "render_report(Path(sys.argv[1]), Path(sys.argv[2]))"
    )
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-c", script, str(page_path.parent), str(out)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert out.read_text(encoding="utf-8") == page


def test_every_quintile_of_the_gradient_has_a_figure_or_says_why_not(release, report):
    _, page = report
    rows = pl.read_parquet(release / "indicators", hive_partitioning=True)
    latest = rows.filter(pl.col("period_type") == "rolling_12m")["period_end"].max()
    quintiles = rows.filter(
        (pl.col("indicator_id") == "PD03")
        & (pl.col("geography_level") == "ics")
        & (pl.col("breakdown") == "imd_quintile")
        & (pl.col("period_type") == "rolling_12m")
        & (pl.col("period_end") == latest)
    )
    published = {r["breakdown_value"]: r for r in quintiles.to_dicts()}
    figure = re.search(r'id="equity-deprivation".*?</figure>', page, re.S).group(0)
    cells = re.findall(
        r"<th[^>]*>PD03 Deaths in hospital</th>\s*<td[^>]*>([^<]*)</td>\s*<td[^>]*>([^<]*)</td>",
        figure,
    )
    cells = [html.unescape(value) for _quintile, value in cells]
    assert len(cells) == 5  # quintiles 1 to 5, in order
    for quintile, cell in zip("12345", cells, strict=True):
        row = published.get(quintile)
        if row is None:
            assert cell == "no figure published"
        elif row["suppressed"]:
            assert cell == SUPPRESSED
        else:
            assert cell == f"{row['value']:.1f}%"


# --------------------------------------------------------------------------------------------
# v3: England beside the figures, SPC charts, and words where there is nothing to draw


def test_england_stands_beside_the_pd03_headline(release, report):
    _, page = report
    latest = _ics_latest(release)["period_end"][0]
    england = pl.read_parquet(release / "benchmarks.parquet").filter(
        (pl.col("indicator_id") == "PD03")
        & (pl.col("period_type") == "rolling_12m")
        & (pl.col("period_end") == latest)
        & (pl.col("benchmark_level") == "england")
    )
    row = england.to_dicts()[0]
    year = row["benchmark_period_end"].year
    card = " ".join(_card(page, "place-of-death", "PD03").split())
    words = {"similar": "similar to", "higher": "higher than", "lower": "lower than"}
    expected = (
        f"England ({year}): {row['benchmark_value']:.1f}%: the ICS is "
        f"{words[row['benchmark_comparison']]} England."
    )
    assert expected in card
    # the definitional difference is shown beside it (deaths registered, a calendar year)
    assert "How England's figure differs" in card
    assert "deaths registered in the year, not deaths occurring" in html.unescape(page)
    glance = re.search(r'data-glance-benchmark="PD03">(.*?)</span>', page, re.S)
    assert glance and f"England ({year}): {row['benchmark_value']:.1f}%" in glance.group(1)


def test_a_headline_without_a_benchmark_says_so(report):
    _, page = report
    card = _card(page, "hospital-use", "HU02")
    assert "England: no comparable published figure" in card


def test_each_spc_chart_has_its_icon_and_reading_from_the_release(release, report):
    _, page = report
    spc = pl.read_parquet(release / "spc.parquet")
    for (indicator_id,), rows in spc.group_by("indicator_id"):
        figure = re.search(rf'id="[a-z-]+-spc-{indicator_id}".*?</figure>', page, re.S)
        assert figure, indicator_id
        text = html.unescape(figure.group(0))
        if rows["value"].is_not_null().sum() < 2:
            assert "No SPC chart" in text
            continue
        reading = rows["reading"][0]
        assert reading[0].upper() + reading[1:] in text
        icon = rows["variation_icon"][0]
        assert f'aria-label="Variation: {charts_icon_words(icon)}"' in text


def charts_icon_words(icon: str) -> str:
    from diewell.release.report.spc_charts import VARIATION_ICONS

    return VARIATION_ICONS[icon][3]


def test_the_trend_grid_draws_no_empty_panel(release, report):
    """Seven charts of place of death: seven panels, each with its own axis; never the two
    empty cells with bare date axes of a wrapped facet."""
    _, page = report
    figure = re.search(r'id="place-of-death-trend".*?</figure>', page, re.S).group(0)
    svg = figure[figure.index("<svg") : figure.index("</svg>")]
    latest = _ics_latest(release)["period_end"][0]
    label = f"{latest:%b %Y}"
    drawn = len(re.findall(r">(PD0[1-6]|CP04) [^<]+</text>", svg))
    assert drawn == 7
    assert len(re.findall(rf">{label}</text>", svg)) == drawn  # one date axis a panel


def test_the_financial_year_chart_has_no_empty_row(report):
    _, page = report
    figure = re.search(r'id="place-of-death-by-year".*?</figure>', page, re.S).group(0)
    svg = figure[figure.index("<svg") : figure.index("</svg>")]
    assert not re.search(r"<text[^>]*></text>", svg), "an unlabelled category row"
    rows = re.findall(r">(\d{4}/\d{2}|England \d{4})</text>", svg)
    assert rows and len(rows) == len(set(rows))


def _rolling(indicator_id: str, suppressed: bool, end: str) -> dict:
    import datetime as dt

    value = None if suppressed else 40.0
    return {
        "indicator_id": indicator_id,
        "indicator_name": indicator_id,
        "period_type": "rolling_12m",
        "period_end": dt.date.fromisoformat(end),
        "value": value,
        "lower_95": None if suppressed else 38.0,
        "upper_95": None if suppressed else 42.0,
        "suppressed": suppressed,
        "unit": "%",
        "statistic": "proportion",
        "data_complete": True,
    }


def test_a_series_with_nothing_to_draw_is_said_in_words():
    from diewell.release.report.trend_charts import trend_chart

    ends = ["2025-12-31", "2026-03-31"]
    rows = pl.DataFrame(
        [_rolling("PD01", False, e) for e in ends] + [_rolling("PD05", True, e) for e in ends]
    )
    names = {"PD01": "Deaths at home", "PD05": "Deaths in other places"}
    figure = trend_chart("t", rows, names, ["PD01", "PD05"])
    assert figure.notes == [
        "PD05 Deaths in other places: nothing to draw, every period is suppressed (small numbers)."
    ]
    assert "PD01 Deaths at home" in figure.svg and "PD05" not in figure.svg
    everything_hidden = trend_chart(
        "t", rows.filter(pl.col("indicator_id") == "PD05"), names, ["PD05"]
    )
    assert everything_hidden.svg == "" and everything_hidden.notes


def test_an_spc_series_too_short_to_chart_is_said_in_words(release):
    from diewell.release.report.spc_charts import spc_figure

    rows = pl.read_parquet(release / "spc.parquet").filter(pl.col("indicator_id") == "PD03")
    short = rows.head(3).with_columns(
        pl.when(pl.int_range(pl.len()) > 0).then(None).otherwise(pl.col("value")).alias("value"),
        (pl.int_range(pl.len()) > 0).alias("suppressed"),
    )
    figure = spc_figure("x", short, "Deaths in hospital")
    assert figure.svg == ""
    assert figure.notes == [
        "No SPC chart for PD03 Deaths in hospital: 1 month(s) published (2 suppressed: small "
        "numbers); a chart needs at least 2 to set its limits."
    ]
