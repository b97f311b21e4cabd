"""Every run: the validation summary per provider in the warehouse, GX results and Data Docs."""

from __future__ import annotations

import json
import re

from diewell import warehouse
from diewell.validation_report import data_docs_index, validation_results_dir
from tests.conftest import nhs
from tests.validation.conftest import COLUMNS, spells


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
    stored = sorted(validation_results_dir(ics.config).rglob("*.json"))
    assert len(stored) == 2  # the loaded file and the one rejected after validation
    results = {json.loads(p.read_text())["meta"]["diewell"]["file_name"]: p for p in stored}
    loaded = json.loads(results["apc_spells_RX1_20250131.csv"].read_text())
    failed = {
        r["expectation_config"]["meta"]["rule"]: r["result"]
        for r in loaded["results"]
        if not r["success"]
    }
    assert failed.keys() == {"invalid_nhs_number", "value_not_allowed"}
    assert failed["value_not_allowed"]["unexpected_count"] == 1
    assert failed["value_not_allowed"]["partial_unexpected_list"] == ["99"]
    assert failed["invalid_nhs_number"]["partial_unexpected_list"] == [
        "********" + rows[3]["nhs_number"][-2:]
    ]
    # No NHS number appears anywhere in the report, results or pages.
    every = "".join(
        p.read_text(errors="ignore") for p in ics.root.rglob("*") if p.suffix in (".json", ".html")
    )
    assert not re.search(r"(?<![0-9])9{3}[0-9]{7}(?![0-9])", every)


def test_every_file_of_every_run_has_a_page_and_a_line_in_the_index(ics):
    """Pages are rendered a slice at a time: none may be lost, and the index keeps every run."""
    import calendar

    month_ends = [
        f"{year}{month:02d}{calendar.monthrange(year, month)[1]:02d}"
        for year in (2024, 2025)
        for month in range(1, 13)
    ]
    first, second = month_ends[:13], month_ends[13:16]
    for end in first:
        ics.deliver(f"apc_spells_RX1_{end}.csv", spells(6), COLUMNS)
    ics.run("run-1")
    for end in second:
        ics.deliver(f"apc_spells_RX1_{end}.csv", spells(6), COLUMNS)
    ics.run("run-2")

    site = data_docs_index(ics.config).parent
    pages = sorted(p.name for p in (site / "validations").rglob("*.html"))
    expected = sorted(f"apc_spells_RX1_{end}.csv.html" for end in first + second)
    assert pages == expected
    index = data_docs_index(ics.config).read_text()
    assert all(f"apc_spells_RX1_{end}.csv" in index for end in first + second)
