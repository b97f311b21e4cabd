"""The providers' data quality pages: a tiny ICS run with a held-back row, a rejected file and
a value holding markup, checked as files and in headless Chromium (offline, accessible)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from diewell.expectations.report.quality import (
    provider_page,
    quality_dir,
    quality_run_page,
    render_file_pages,
)
from tests.conftest import REPO, TinyIcs, nhs
from tests.integration.validation.conftest import COLUMNS, Ics, spells
from tests.system.browser import with_page
from tests.system.test_data_docs_browser import chromium  # noqa: F401  (the fixture)

AXE = REPO / "tests" / "system" / "vendor" / "axe-core" / "axe.min.js"
UPDATE_SCREENSHOTS = "DIEWELL_UPDATE_SCREENSHOTS"  # set to 1 to refresh docs/images
SHOT = REPO / "docs" / "images" / "quality.png"
ALERT = "<img src=x onerror=alert(1)>"
BAD_NHS = "9990000051"  # nhs(4) = 9990000050 with its check digit changed: fails modulus 11
GOOD_FILE = "apc_spells_RX1_20250131.csv"
MISSING_COLUMN_FILE = "apc_spells_RX1_20250228.csv"
UNNAMED_FILE = "spells from RX1.csv"


class TwoProviders(Ics):
    def __init__(self, root):
        TinyIcs.__init__(
            self,
            root,
            [
                {"code": "RX1", "name": "Acute Trust", "extracts": ["apc_spells"]},
                {"code": "RX2", "name": "Other Trust", "extracts": ["apc_spells"]},
            ],
        )
        from diewell.config import load_config

        self.config = load_config(self.config_path)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run: RX1 sends a good month (8 rows, 3 held back) and a month missing a required
    column; RX2 sends a clean month; someone sends a file whose name names nothing."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DIEWELL_PSEUDO_KEY", "test-key-0123456789abcdef0123456789abcdef")
    ics = TwoProviders(tmp_path_factory.mktemp("quality") / "ics")
    rows = spells(8, bad_method_rows=(2,))
    rows[3]["admission_method"] = ALERT  # row 4
    rows[4]["nhs_number"] = BAD_NHS  # row 5
    ics.deliver(GOOD_FILE, rows, COLUMNS)
    ics.deliver(
        MISSING_COLUMN_FILE,
        [{k: v for k, v in r.items() if k != "admission_date"} for r in spells(3)],
        [c for c in COLUMNS if c != "admission_date"],
    )
    ics.deliver("apc_spells_RX2_20250131.csv", spells(2), COLUMNS)
    ics.deliver(UNNAMED_FILE, spells(1), COLUMNS)
    outcomes = ics.run("run-1")
    yield ics, outcomes
    mp.undo()


def text_of(html: str) -> str:
    """The page's text roughly as read: tags dropped, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_the_run_writes_a_run_page_and_one_page_per_provider(run):
    ics, _ = run
    folder = quality_dir(ics.config)
    assert folder == ics.root / "quality"  # beside data_docs/, next to the outputs folder
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.html")) == [
        "run-1/RX1.html",
        "run-1/RX2.html",
        "run-run-1.html",
    ]


def test_held_back_rows_are_listed_by_rule_with_row_numbers_and_masked_values(run):
    ics, _ = run
    html = provider_page(ics.config, "run-1", "RX1").read_text(encoding="utf-8")
    page = text_of(html)
    # rows read 8, loaded 5 (rows 2, 4 and 5 held back), held back 3
    assert re.search(rf"{GOOD_FILE} Loaded 8 5 3", page)
    assert "value_not_allowed on admission_method: 2 rows" in page
    assert "invalid_nhs_number on nhs_number: 1 row" in page
    assert re.search(r"<td>2</td><td class=\"dw-value\">99</td>", html)
    assert '<td>5</td><td class="dw-value">********51</td>' in html
    assert "Rows held back, by rule: invalid_nhs_number 1; value_not_allowed 2." in page
    # the other provider's file is not on RX1's page
    assert "RX2_20250131" not in html


def test_a_rejected_file_is_named_with_its_rule_and_reason(run):
    ics, outcomes = run
    (rejected,) = [o for o in outcomes if o.file_name == MISSING_COLUMN_FILE]
    page = text_of(provider_page(ics.config, "run-1", "RX1").read_text(encoding="utf-8"))
    assert f"{MISSING_COLUMN_FILE} Rejected" in page
    assert "Rule: required_column_missing" in page
    assert "admission_date" in rejected.reason and rejected.reason in page
    run_page = text_of(quality_run_page(ics.config, "run-1").read_text(encoding="utf-8"))
    assert "Files whose name names no provider" in run_page and UNNAMED_FILE in run_page
    # 4 files: the RX1 month that failed and the unnamed one rejected; 3 rows held back
    assert "4 files received; 2 rejected whole; 3 rows held back" in run_page


def test_markup_is_text_and_no_nhs_number_is_in_any_page(run):
    ics, _ = run
    for page in quality_dir(ics.config).rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        assert "<img" not in html.lower()
        for number in [nhs(i) for i in range(8)] + [BAD_NHS]:
            assert number not in html, page.name
    html = provider_page(ics.config, "run-1", "RX1").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_same_content_renders_without_a_warehouse(run):
    """What `diewell check --page` renders: the outcomes alone (first values per rule)."""
    _, outcomes = run
    page = render_file_pages(outcomes, "Check of 4 files", {"RX1": "Acute Trust"})
    text = text_of(page)
    assert "value_not_allowed on admission_method: 2 rows" in text
    assert '<td>5</td><td class="dw-value">********51</td>' in page
    assert "Rule: required_column_missing" in text
    assert "<img" not in page.lower() and BAD_NHS not in page


def test_a_digit_run_that_is_an_nhs_number_is_masked_wherever_it_is_shown():
    from diewell.expectations.report.quality.pages import shown

    assert shown("ref 9990000018 sent") == "ref ********18 sent"
    assert shown("20250131") == "20250131"  # a date is not an NHS number
    assert shown(None) == "(empty)"


def test_a_layouts_filtered_rows_and_default_codes_are_shown_as_notes_not_errors():
    """sources.md v3: rows a national layout filters, and codes it sends to a default, are
    said beside the file, with what the provider may do; a code a sender wrote is escaped."""
    from types import SimpleNamespace

    outcome = SimpleNamespace(
        file_name="ae_attendances_RX1_20250131.csv",
        status="loaded",
        extract="ae_attendances",
        provider="RX1",
        period_end=None,
        rows_read=12,
        rows_loaded=8,
        rows_quarantined=1,
        rule=None,
        reason=None,
        validation=None,
        layout="ncdr_ecds",
        rows_filtered=3,
        filtered_by_reason={"planned_follow_up": 2, "dead_on_arrival": 1},
        warnings=[
            {"rule": "service_team_type_other", "column": "Team_Type", "code": ALERT, "rows": 2}
        ],
    )
    page = render_file_pages([outcome], "Check of 1 file", {"RX1": "Acute Trust"})
    assert "3 rows filtered out by national layouts" in page
    assert "Loaded (layout ncdr_ecds)" in page
    note = page.split('data-layout-notes="ae_attendances_RX1_20250131.csv"', 1)[1]
    note = note.split("</div>", 1)[0]
    assert "dead_on_arrival 1; planned_follow_up 2." in note
    assert "Warning, service_team_type_other: 2 rows" in note and "Team_Type" in note
    assert ALERT not in page and "&lt;img src=x onerror=alert(1)&gt;" in note


def _check_in_browser(chromium, url: str, profile: Path, shot: Path | None):  # noqa: F811
    async def work(page):
        await page.open(url)
        await page.evaluate(AXE.read_text(encoding="utf-8") + ";true")
        if shot is not None:
            await page.screenshot(shot, full_page=False, scale=0.5)
        axe = await page.evaluate(
            "axe.run(document).then(r => r.violations.map(v => ({id: v.id, impact: v.impact})))"
        )
        imgs = await page.evaluate("document.querySelectorAll('img').length")
        text = await page.evaluate("document.body.innerText")
        return page.log, axe, imgs, text

    return with_page(chromium, profile, work)


def test_in_a_browser_offline_accessible_and_screenshotted(run, chromium, tmp_path):  # noqa: F811
    ics, _ = run
    for page, shot in (
        (quality_run_page(ics.config, "run-1"), None),
        (provider_page(ics.config, "run-1", "RX1"), tmp_path / "quality.png"),
    ):
        log, violations, imgs, text = _check_in_browser(
            chromium, page.as_uri(), tmp_path / f"profile-{page.stem}", shot
        )
        assert log.console_errors == []
        assert [u for u in log.requests if u != page.as_uri()] == []  # only the page itself
        assert [v for v in violations if v["impact"] in ("serious", "critical")] == []
        assert imgs == 0
        assert ALERT in text  # shown literally
    if os.environ.get(UPDATE_SCREENSHOTS):  # the picture in docs/, refreshed on request only
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tmp_path / "quality.png", SHOT)


def test_an_identical_re_send_is_shown_as_unchanged_with_its_period(tmp_path, pseudo_key):
    ics = Ics(tmp_path / "ics")
    ics.deliver(GOOD_FILE, spells(2), COLUMNS)
    ics.run("run-1")
    ics.deliver(GOOD_FILE, spells(2), COLUMNS)
    ics.run("run-2")
    page = text_of(provider_page(ics.config, "run-2", "RX1").read_text(encoding="utf-8"))
    assert f"2025-01-31 {GOOD_FILE} Unchanged (identical to the file already loaded)" in page
