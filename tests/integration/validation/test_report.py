"""Every run: the validation summary per provider in the warehouse, GX results and Data Docs."""

from __future__ import annotations

import json
import re

from diewell import warehouse
from diewell.expectations.report.validation_report import data_docs_index, validation_results_dir
from tests.conftest import nhs
from tests.integration.validation.conftest import COLUMNS, Ics, spells


def test_a_run_records_its_summary_and_builds_data_docs_without_nhs_numbers(ics):
    rows = spells(6, bad_method_rows=(2,))
    rows[3]["nhs_number"] = nhs(3)[:-1] + str((int(nhs(3)[-1]) + 1) % 10)  # bad check digit
    ics.deliver("apc_spells_RX1_20250131.csv", rows, COLUMNS)
    ics.deliver("apc_spells_RX1_20250228.csv", spells(6, bad_method_rows=(1, 2, 3, 4)), COLUMNS)
    ics.run("run-1")

    con = warehouse.connect(ics.config.warehouse)
    summary = con.sql(
        "SELECT provider, extract, files, files_loaded, files_rejected, rows_read, rows_loaded, "
        "rows_quarantined, quarantined_by_rule, rejected_by_rule "
        "FROM meta_validation_summary WHERE run_id = 'run-1'"
    ).pl()
    con.close()
    assert summary.height == 1
    r = summary.row(0, named=True)
    assert (r["provider"], r["extract"], r["files"], r["files_loaded"], r["files_rejected"]) == (
        "RX1",
        "apc_spells",
        2,
        1,
        1,
    )
    assert (r["rows_read"], r["rows_loaded"], r["rows_quarantined"]) == (6, 4, 2)
    assert r["rows_read"] == r["rows_loaded"] + r["rows_quarantined"]
    assert r["quarantined_by_rule"] == {"invalid_nhs_number": 1, "value_not_allowed": 1}
    assert r["rejected_by_rule"] == {"too_many_rows_failing": 1}

    index = data_docs_index(ics.config)
    assert index.is_file() and index.parent == ics.root / "data_docs"
    # One GX result per run and extract: both files of apc_spells in one.
    (stored,) = validation_results_dir(ics.config).rglob("*.json")
    result = json.loads(stored.read_text())
    ours = result["meta"]["diewell"]
    assert ours["providers"] == ["RX1"]
    assert ours["rows_held_back_are_listed_in"] == "quality/run-run-1.html"
    assert (ics.root / ours["rows_held_back_are_listed_in"]).is_file()
    assert [
        (f["file_name"], f["provider"], f["outcome"], f["rows_read"], f["file_rule"])
        for f in ours["files"]
    ] == [
        ("apc_spells_RX1_20250131.csv", "RX1", "loaded", 6, None),
        ("apc_spells_RX1_20250228.csv", "RX1", "rejected", 6, "too_many_rows_failing"),
    ]
    assert ours["rows_read"] == 12 and ours["rows_quarantined"] == 2 + 4
    assert result["success"] is False  # a file of it was rejected
    failed = {
        r["expectation_config"]["meta"]["rule"]: r["result"]
        for r in result["results"]
        if not r["success"]
    }
    assert failed.keys() == {"invalid_nhs_number", "value_not_allowed"}
    # method 99 in January's row 2 and February's rows 1-4, over the 12 rows of both files
    assert failed["value_not_allowed"]["unexpected_count"] == 5
    assert failed["value_not_allowed"]["element_count"] == 12
    assert failed["value_not_allowed"]["partial_unexpected_list"] == [
        "99 (in apc_spells_RX1_20250131.csv, row 2)",
        *(f"99 (in apc_spells_RX1_20250228.csv, row {n})" for n in (1, 2, 3, 4)),
    ]
    assert failed["invalid_nhs_number"]["unexpected_count"] == 1
    assert failed["invalid_nhs_number"]["partial_unexpected_list"] == [
        "********" + rows[3]["nhs_number"][-2:] + " (in apc_spells_RX1_20250131.csv, row 4)"
    ]
    # No NHS number appears anywhere in the report, results or pages.
    every = "".join(
        p.read_text(errors="ignore") for p in ics.root.rglob("*") if p.suffix in (".json", ".html")
    )
    assert not re.search(r"(?<![0-9])9{3}[0-9]{7}(?![0-9])", every)


def _twelve_providers(tmp_path) -> tuple[Ics, list[str]]:
    import calendar

    providers = [
        {"code": f"R{n:02d}", "name": f"Acute {n}", "extracts": ["apc_spells"]} for n in range(12)
    ]
    month_ends = [
        f"{year}{month:02d}{calendar.monthrange(year, month)[1]:02d}"
        for year in (2025, 2026)
        for month in range(1, 13)
    ]
    return Ics(tmp_path / "ics", providers), month_ends


def test_a_run_has_one_page_per_extract_whatever_the_providers_and_the_index_keeps_each_run(
    tmp_path, pseudo_key
):
    """A page per run and extract (not per file, nor per provider, so a run's pages do not
    grow with the ICS): 12 providers' 13 files of apc_spells in run 1 are one page, naming
    every file; 3 files of 3 of them in run 2 are another; the index lists both runs."""
    ics, month_ends = _twelve_providers(tmp_path)
    first = [(f"R{n:02d}", month_ends[n]) for n in range(12)] + [("R00", month_ends[12])]
    second = [(f"R{n:02d}", month_ends[13 + n]) for n in range(3)]
    for code, end in first:
        ics.deliver(f"apc_spells_{code}_{end}.csv", spells(6), COLUMNS)
    ics.run("run-1")
    for code, end in second:
        ics.deliver(f"apc_spells_{code}_{end}.csv", spells(6), COLUMNS)
    ics.run("run-2")

    site = data_docs_index(ics.config).parent
    pages = sorted(
        (p.parts[-3], p.name) for p in (site / "validations" / "apc_spells").rglob("*.html")
    )
    assert pages == [("run-1", "all_providers.html"), ("run-2", "all_providers.html")]
    (run_1,) = site.glob("validations/apc_spells/run-1/*/all_providers.html")
    text = run_1.read_text(encoding="utf-8")
    assert all(f"apc_spells_{code}_{end}.csv" in text for code, end in first)
    assert not any(f"apc_spells_{code}_{end}.csv" in text for code, end in second)
    (stored,) = validation_results_dir(ics.config).glob("apc_spells/run-1/*/*.json")
    ours = json.loads(stored.read_text())["meta"]["diewell"]
    assert ours["providers"] == [f"R{n:02d}" for n in range(12)]
    assert ours["rows_read"] == 13 * 6
    index = data_docs_index(ics.config).read_text()
    assert "run-1" in index and "run-2" in index


def test_the_index_lists_the_newest_results_only_and_keeps_older_pages(
    tmp_path, pseudo_key, monkeypatch
):
    """GX reads back every result its index lists, every run: an index of every run ever
    would cost more each night. It lists the newest INDEX_RESULTS; older pages stay."""
    from diewell.expectations.report import validation_report

    monkeypatch.setattr(validation_report, "INDEX_RESULTS", 2)
    ics, month_ends = _twelve_providers(tmp_path)
    for n, run_id in enumerate(("run-1", "run-2", "run-3")):
        ics.deliver(f"apc_spells_R{n:02d}_{month_ends[n]}.csv", spells(6), COLUMNS)
        ics.run(run_id)

    site = data_docs_index(ics.config).parent
    index = data_docs_index(ics.config).read_text()
    assert "run-2" in index and "run-3" in index
    assert "run-1" not in index
    assert len(list(site.glob("validations/apc_spells/run-1/*/all_providers.html"))) == 1


def test_every_local_link_of_the_data_docs_leads_to_a_page(ics):
    """GX links each validation page and the index to its suite's page
    (expectations/<extract>.html): the suites are rendered too, so no link is dead."""
    import html as html_lib
    from urllib.parse import unquote

    ics.deliver("apc_spells_RX1_20250131.csv", spells(6, bad_method_rows=(2,)), COLUMNS)
    ics.run("run-1")
    site = data_docs_index(ics.config).parent
    pages = [p for p in site.rglob("*.html") if "static" not in p.parts]
    assert (site / "expectations" / "apc_spells.html") in pages
    checked = 0
    for page in pages:
        for href in re.findall(r'href="([^"#]+)"', page.read_text(encoding="utf-8")):
            href = unquote(html_lib.unescape(href))
            if href.startswith(("data:", "javascript:")) or not href.endswith(".html"):
                continue
            assert (page.parent / href).resolve().is_file(), (page.relative_to(site), href)
            checked += 1
    assert checked >= 3  # index -> suite, index -> validation page, page -> suite


def test_a_result_lists_a_bounded_number_of_files_the_rejected_first_and_counts_the_rest(
    ics, monkeypatch
):
    """GX serialises and renders every value of a result: a result naming each of an
    extract's files cost GX some 0.15 ms a file (15.8 s for 96,000 files, about a 20M-person
    first load). It names at most FILES_LISTED files, choosing every rejected one before any
    loaded one, and says how many it left out and which page lists every file (the run's
    quality page)."""
    from diewell.expectations.report import validation_report

    monkeypatch.setattr(validation_report, "FILES_LISTED", 3)
    names = [f"apc_spells_RX1_2025{m:02d}{d}.csv" for m, d in ((1, 31), (2, 28), (3, 31), (4, 30))]
    for name in names:
        ics.deliver(name, spells(6), COLUMNS)
    rejected = "apc_spells_RX1_20250531.csv"  # 4 of its 6 rows fail: rejected whole
    ics.deliver(rejected, spells(6, bad_method_rows=(1, 2, 3, 4)), COLUMNS)
    ics.run("run-1")

    (stored,) = validation_results_dir(ics.config).rglob("*.json")
    result = json.loads(stored.read_text())
    ours = result["meta"]["diewell"]
    # the rejected file and the first two loaded (not the first three), in the run's order
    assert [(f["file_name"], f["outcome"]) for f in ours["files"]] == [
        (names[0], "loaded"),
        (names[1], "loaded"),
        (rejected, "rejected"),
    ]
    assert ours["files_not_listed"] == 2
    assert ours["every_file_is_listed_in"] == "quality/run-run-1.html"
    assert result["suite_parameters"]["files"] == 5
    assert ours["rows_read"] == 5 * 6  # the counts are of every file, listed or not
    assert result["meta"]["batch_spec"]["files"] == [names[0], names[1], rejected]
    (page,) = data_docs_index(ics.config).parent.glob("validations/apc_spells/run-1/*/*.html")
    text = page.read_text(encoding="utf-8")
    assert names[0] in text and rejected in text
    assert names[2] not in text and names[3] not in text
    run_page = (ics.root / ours["every_file_is_listed_in"]).read_text(encoding="utf-8")
    assert all(name in run_page for name in [*names, rejected])
