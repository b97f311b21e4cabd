"""The same synthetic ICS delivered in the national layouts and in the contract layout
(issue 38, sources.md v3): the two releases, the accounting, and `diewell check`.

One small ICS (10,000 people, one year, no defects) is written twice with the same seed:
once with every extract in diewell's own layout, once as an ICB's data team receives it
(deaths, hospital episodes, A&E, community contacts and GP events in their national layouts,
every person key the data service's pseudonym). Each is run through the whole pipeline
(pipeline.refresh, without Prefect) and published.

What legitimately differs between the two releases (everything else must be equal, row for
row: numerator, denominator, value and suppression):
- CP03 and CP04 (a preferred place of death recorded; died in it) and CP05 ("what matters to
  you" recorded): gp_events does not derive the preferred place or the what-matters date from
  GP events in v3, so nationally no one has either.
- every indicator's `ethnicity` breakdown: nor does it derive the ethnic category, so
  nationally everyone's ethnicity is `unknown`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from diewell import pipeline
from diewell.config import load_config
from diewell.expectations.check import LOADS, REJECTED, check_file
from diewell.expectations.files import discover
from diewell.expectations.report.quality.pages import quality_run_page
from diewell.flows.artifacts import refresh_markdown
from diewell.synth import synthesize
from diewell.synth.national import FILTERED_NAME

SEED, POPULATION, YEARS = 3, 10_000, 1
KEY = "national-comparison-key-0123456789abcdef"
ROW = [
    "indicator_id",
    "period_type",
    "period_start",
    "period_end",
    "geography_level",
    "geography_code",
    "breakdown",
    "breakdown_value",
]
FIGURES = ["numerator", "denominator", "value", "suppressed"]
NOT_FROM_GP_EVENTS = {"CP03", "CP04", "CP05"}  # not derived from GP events (the docstring)


def _run(root: Path, layouts: str) -> dict:
    config_path = synthesize(
        root,
        seed=SEED,
        population=POPULATION,
        years=YEARS,
        end_date=dt.date(2026, 9, 30),
        defect_rate=0.0,
        layouts=layouts,
    )
    delivered = root / "delivered"  # the run archives the landing files: keep a copy to check
    shutil.copytree(root / "landing", delivered)
    config = load_config(config_path)
    summary = pipeline.RunSummary(pipeline.new_run_id())
    pipeline.refresh(config, summary)
    con = pipeline.open_warehouse(config)
    try:
        files = con.sql(
            "SELECT file_name, status, rows_read, rows_loaded, rows_quarantined, "
            "coalesce(rows_filtered, 0) AS rows_filtered, filtered_by_reason, layout "
            "FROM landing_files"
        ).pl()
    finally:
        con.close()
    return {
        "config": config,
        "indicators": pl.read_parquet(summary.release / "indicators.parquet"),
        "files": files,
        "delivered": delivered,
        "root": root,
        "summary": summary,
    }


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    saved = os.environ.get("DIEWELL_PSEUDO_KEY")
    os.environ["DIEWELL_PSEUDO_KEY"] = KEY
    try:
        base = tmp_path_factory.mktemp("national")
        yield {layouts: _run(base / layouts, layouts) for layouts in ("contract", "national")}
    finally:
        if saved is None:
            os.environ.pop("DIEWELL_PSEUDO_KEY", None)
        else:
            os.environ["DIEWELL_PSEUDO_KEY"] = saved


def test_the_national_delivery_publishes_the_contract_deliverys_rows(runs):
    contract = runs["contract"]["indicators"].select(ROW + FIGURES)
    national = runs["national"]["indicators"].select(ROW + FIGURES)
    both = contract.join(national, on=ROW, how="full", suffix="_national", coalesce=True)
    differs = both.filter(
        pl.any_horizontal(~pl.col(f).eq_missing(pl.col(f"{f}_national")) for f in FIGURES)
    )
    legitimate = pl.col("indicator_id").is_in(NOT_FROM_GP_EVENTS) | (
        pl.col("breakdown") == "ethnicity"
    )
    unexpected = differs.filter(~legitimate)
    assert unexpected.height == 0, unexpected.head(20).to_dicts()
    assert contract.height > 5_000  # a real comparison: every indicator, period and area
    # The list above is exact: each indicator it names does differ.
    assert set(differs.filter(legitimate)["indicator_id"]) >= NOT_FROM_GP_EVENTS


def test_every_national_source_row_is_loaded_quarantined_or_filtered(runs):
    files = runs["national"]["files"]
    assert (files["status"] == "loaded").all(), files.filter(pl.col("status") != "loaded")
    accounted = files["rows_loaded"] + files["rows_quarantined"] + files["rows_filtered"]
    assert (files["rows_read"] == accounted).all()
    assert set(files["layout"].drop_nulls()) == {
        "ncdr_deaths",
        "ncdr_apc_episodes",
        "ncdr_ecds",
        "csds_contacts",
        "gp_events",
    }


def test_the_rows_filtered_are_those_written_to_be_filtered_with_their_reasons(runs):
    """The synthetic writer lists every row it wrote for a layout to filter (FILTERED_NAME):
    the run's counts per file and reason must be exactly those."""
    written = pl.read_csv(runs["national"]["root"] / FILTERED_NAME, infer_schema=False)
    expected = Counter(zip(written["file"], written["reason"], strict=True))
    got: Counter = Counter()
    for name, reasons in runs["national"]["files"].select("file_name", "filtered_by_reason").rows():
        for reason, rows in json.loads(reasons or "{}").items():
            got[(name, reason)] += rows
    assert got == expected
    # Each filter of sources.md occurs but dead_on_arrival, which an ICS this small does not
    # write (tests/unit/test_synth_national.py and test_layouts_hospital.py hold it).
    assert {r for _, r in expected} >= {
        "cancelled_registration",
        "duplicate_record",
        "planned_follow_up",
        "not_attended",
        "not_in_codelists",
    }


def test_diewell_check_gives_each_national_file_the_runs_verdict_and_counts(runs):
    national = runs["national"]
    recorded = {r["file_name"]: r for r in national["files"].iter_rows(named=True)}
    checked = 0
    for path in discover(national["delivered"]):
        check = check_file(path, national["config"])
        run = recorded[path.name]
        assert check.verdict == (LOADS if run["status"] == "loaded" else REJECTED), path.name
        assert (check.rows_read, check.rows_held_back, check.rows_filtered) == (
            run["rows_read"],
            run["rows_quarantined"],
            run["rows_filtered"],
        ), path.name
        assert check.filtered_by_reason == json.loads(run["filtered_by_reason"] or "{}")
        assert check.layout == run["layout"]
        checked += check.layout is not None
    assert checked > 100  # every national file of the year


def _written_by_reason(root: Path) -> Counter:
    return Counter(pl.read_csv(root / FILTERED_NAME, infer_schema=False)["reason"].to_list())


def test_the_rows_filtered_are_in_the_run_summary_artifact_and_quality_page(runs):
    national = runs["national"]
    expected = _written_by_reason(national["root"])
    total = sum(expected.values())
    summary = national["summary"]
    assert summary.rows_filtered == total and summary.filtered_by_reason() == expected

    markdown = refresh_markdown(national["config"], summary, [], published=True, reused=False)
    section = markdown.split("## Rows filtered by layouts", 1)[1].split("\n## ", 1)[0]
    for reason, rows in expected.items():
        assert f"| `{reason}` | {rows:,} |" in section

    page = quality_run_page(national["config"], summary.run_id).read_text(encoding="utf-8")
    assert f"{total} rows filtered out by national layouts" in page
    written = pl.read_csv(national["root"] / FILTERED_NAME, infer_schema=False)
    for (name,), part in written.group_by("file"):  # each file's own note, reason by reason
        note = page.split(f'data-layout-notes="{name}"', 1)[1].split("</div>", 1)[0]
        for reason, rows in Counter(part["reason"].to_list()).items():
            assert f"{reason} {rows}" in note, (name, reason)
    assert "(layout ncdr_ecds)" in page and "(layout gp_events)" in page

    contract = runs["contract"]  # nothing filtered, and nothing said of it
    assert contract["summary"].rows_filtered == 0
    page = quality_run_page(contract["config"], contract["summary"].run_id).read_text("utf-8")
    assert "filtered out by national layouts" not in page
