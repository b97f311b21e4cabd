"""`diewell check` on every case of the bad-input corpus: the same rule and reason as a run.

Each case's expected outcome (tests/corpus/cases.yaml) is what a run gives: the bad-input
corpus test (tests/integration/sources/test_bad_input_corpus.py) and the hostile deliveries test hold
the run to it. Here `diewell check` runs (in this process, as cli.main; one test runs the real command) on the case's file, with the corpus
configuration, and must name the same rule and reason (a rejection) or the same rows held
back, by rule, column and wording (a load). The rules that need the warehouse (volume_drop,
duplicate_death, and a byte-identical re-delivery) are reported as not checked. No raw NHS
number of a case's file appears in what it prints.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO, diewell_in_process
from tests.corpus import make_corpus
from tests.integration.sources.test_bad_input_corpus import (
    CASES,
    CORPUS,
    HOSTILE_CASES,
    _case_folder,
    _files,
    generated,  # noqa: F401  (the module fixture that builds the big cases)
    raw_nhs_numbers,
)

CONFIG = CORPUS / "diewell.yaml"
WAREHOUSE_ONLY = {"volume_drop", "duplicate_death"}
NOT_CHECKED = "not checked without the warehouse"


def check(*args, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`diewell check ARGS` in this process (cli.main), without the pseudonymisation key,
    which check never needs."""
    env = {k: v for k, v in os.environ.items() if k != "DIEWELL_PSEUDO_KEY"}
    return diewell_in_process("check", *args, env=env, cwd=cwd)


def check_process(*args, cwd: Path = REPO) -> subprocess.CompletedProcess:
    """`diewell check ARGS` as a subprocess, as a provider's data manager would run it."""
    env = {k: v for k, v in os.environ.items() if k != "DIEWELL_PSEUDO_KEY"}  # no key needed
    env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, "-m", "diewell.cli", "check", *map(os.fsencode, args)],
        capture_output=True,
        text=True,
        errors="backslashreplace",
        env=env,
        cwd=cwd,
        timeout=600,
    )


def assert_rejected(out: subprocess.CompletedProcess, expect: dict) -> None:
    assert out.returncode == 1, out.stdout + out.stderr
    assert f"would be rejected whole ({expect['rule']})" in out.stdout, out.stdout
    assert expect["reason"] in out.stdout, out.stdout


def _case_param(c: dict):
    slow = c.get("generate") == "one_million_rows_one_bad"
    return pytest.param(c, marks=pytest.mark.slow) if slow else c


@pytest.mark.parametrize("case", [_case_param(c) for c in CASES], ids=[c["case"] for c in CASES])
def test_check_gives_the_runs_outcome(case, generated):  # noqa: F811
    [source] = _files(_case_folder(case, generated))
    expect = case["expect"]

    out = check(str(source), "--config", str(CONFIG))

    forbidden = raw_nhs_numbers(source)
    assert not [v for v in forbidden if v in out.stdout + out.stderr], "an NHS number unmasked"
    if expect["status"] == "rejected" and expect["rule"] not in WAREHOUSE_ONLY:
        assert_rejected(out, expect)
        return
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{source.name}: would load:" in out.stdout
    assert f"{NOT_CHECKED}: volume_drop" in out.stdout
    if source.name.startswith("deaths_"):
        assert f"{NOT_CHECKED}: duplicate_death" in out.stdout
    if expect["status"] != "loaded":  # a volume drop, or a byte-identical re-delivery
        return
    findings = [q for q in expect["quarantine"] if q["rule"] not in WAREHOUSE_ONLY]
    held = len({q["row"] for q in findings})
    loadable = expect["rows_read"] - held
    assert (
        f"{expect['rows_read']} row(s) read, {loadable} would load, {held} would be held back"
        in out.stdout
    ), out.stdout
    lines = [line for line in out.stdout.splitlines() if line.startswith("  held back: ")]
    assert len(lines) == len(findings), out.stdout
    for q in findings:
        start = f"  held back: row {q['row']}, {q['rule']} on {q['column']}, value "
        [line] = [line for line in lines if line.startswith(start)]
        assert q["message"] in line


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[c["case"] for c in HOSTILE_CASES])
def test_check_rejects_hostile_deliveries_as_a_run_does(case, tmp_path):
    raw = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    if case.get("limit") is not None:
        raw["limits"] = {"max_file_bytes": case["limit"]}
    config = tmp_path / "diewell.yaml"
    config.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    landing, outside = tmp_path / "landing", tmp_path / "outside"
    landing.mkdir()
    outside.mkdir()
    make_corpus.build_hostile(case["case"], landing, outside)
    [entry] = list(landing.iterdir())

    out = check(str(entry), "--config", str(config))

    assert_rejected(out, case["expect"])
    assert make_corpus.SECRET_LINE not in out.stdout  # a link's target is never read


def test_without_config_the_registration_is_not_checked_and_said_so():
    [source] = _files(CORPUS / "unregistered_provider")
    out = check(str(source))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "registration (provider_not_registered) is not checked" in out.stdout
    assert f"{source.name}: would load: 3 row(s) read, 3 would load, 0 would be held back" in (
        out.stdout
    )


def test_several_files_one_rejected_exits_1_and_counts_them():
    good = _files(CORPUS / "nhs_number_bad_checksum")[0]
    bad = _files(CORPUS / "zero_byte")[0]
    out = check_process(str(good), str(bad), "--config", str(CONFIG))  # the real command
    assert out.returncode == 1
    assert "2 file(s) checked: 1 would load, 1 would be rejected" in out.stdout


def test_terminal_control_characters_a_sender_wrote_are_printed_escaped(tmp_path):
    """A value (or a name) holding an escape sequence cannot drive the reader's terminal."""
    spells = tmp_path / "apc_spells_RX1_20241231.csv"
    spells.write_text(
        "spell_id,nhs_number,admission_date,admission_method\n"
        "S1,9990000018,2024-12-01,21\n"
        "S2,9990000026,2024-12-02,\x1b[2J21\n",
        encoding="utf-8",
    )
    named = tmp_path / "deaths_QXX_20241231.csv\x1b[31m"
    named.write_text("", encoding="utf-8")
    out = check(str(spells), str(named), "--config", str(CONFIG))
    assert "\x1b" not in out.stdout + out.stderr
    assert "held back: row 2, value_not_allowed on admission_method, value \\x1b[2J21:" in (
        out.stdout
    )
    assert "deaths_QXX_20241231.csv\\x1b[31m: would be rejected whole (file_name_invalid)" in (
        out.stdout
    )


def test_check_writes_the_data_quality_page_a_run_would_give(tmp_path):
    """--page writes the providers' page for the files checked: the held-back row with its
    rule and row number, a rejected file with its reason, no raw NHS number, nothing to fetch."""
    held_back = _files(CORPUS / "nhs_number_bad_checksum")[0]
    rejected = _files(CORPUS / "unknown_extract_name")[0]
    page = tmp_path / "check.html"
    out = check(str(held_back), str(rejected), "--config", str(CONFIG), "--page", str(page))
    assert out.returncode == 1, out.stdout + out.stderr  # one file would be rejected
    assert f"Data quality page: {page}" in out.stdout
    html = page.read_text(encoding="utf-8")
    assert "invalid_nhs_number" in html and "fails the modulus 11 check" in html
    assert "unknown_extract" in html and "did you mean ae_attendances?" in html
    assert not raw_nhs_numbers(held_back) & set(re.findall(r"\d{10}", html))
    assert not re.search(r"""(src|href)=["']?https?:""", html)
