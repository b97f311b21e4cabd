"""`diewell suites --check | --write`: the suite files are in the canonical form their contracts
build, on a copy of the project's suites (the real ones are never touched)."""

from __future__ import annotations

import json
import shutil

import pytest

from diewell.cli import main
from diewell.expectations import PROJECT_SUITES


@pytest.fixture
def suites(tmp_path):
    folder = tmp_path / "suites"
    shutil.copytree(PROJECT_SUITES, folder)
    return folder


def run(capsys, *argv: str) -> tuple[int, str]:
    code = main(["suites", *argv])
    return code, capsys.readouterr().out


def test_the_projects_suites_are_canonical(capsys, suites):
    code, out = run(capsys, "--check", "--folder", str(suites))
    assert code == 0
    assert "17 suite(s)" in out and "17 canonical, 0 not" in out


def test_check_lists_each_suite_not_in_canonical_form_with_a_reason(capsys, suites):
    apc = suites / "apc_spells.json"
    original = apc.read_text(encoding="utf-8")
    # The same JSON, re-indented by an editor: GX reads it the same, but it is not canonical.
    apc.write_text(json.dumps(json.loads(original), indent=4) + "\n", encoding="utf-8")
    (suites / "ref_lsoa.json").write_text("{not json", encoding="utf-8")
    before = {p.name: p.read_bytes() for p in suites.iterdir()}

    code, out = run(capsys, "--check", "--folder", str(suites))
    assert code == 1
    listed = [line.strip() for line in out.splitlines() if line.startswith("  ")]
    assert len(listed) == 2
    assert listed[0].startswith("apc_spells.json: line 2 is ")
    assert "where the canonical form has" in listed[0]
    assert listed[1].startswith("ref_lsoa.json: cannot be read as a suite (JSONDecodeError")
    assert "15 canonical, 2 not" in out
    assert {p.name: p.read_bytes() for p in suites.iterdir()} == before  # --check writes nothing


def test_write_rewrites_the_suites_in_canonical_form_and_says_which_changed(capsys, suites):
    apc = suites / "apc_spells.json"
    original = apc.read_text(encoding="utf-8")
    apc.write_text(json.dumps(json.loads(original), indent=4) + "\n", encoding="utf-8")
    deaths = suites / "deaths.json"
    deaths.write_text(deaths.read_text(encoding="utf-8").rstrip("\n"), encoding="utf-8")

    code, out = run(capsys, "--write", "--folder", str(suites))
    assert code == 0
    rewrote = sorted(line.split(":")[0].strip() for line in out.splitlines() if "rewrote" in line)
    assert rewrote == ["rewrote apc_spells.json", "rewrote deaths.json"]
    assert "2 rewritten in canonical form, 0 cannot be read" in out
    assert apc.read_text(encoding="utf-8") == original
    assert deaths.read_text(encoding="utf-8") == (PROJECT_SUITES / "deaths.json").read_text(
        encoding="utf-8"
    )
    assert run(capsys, "--check", "--folder", str(suites))[0] == 0


def test_write_leaves_an_unreadable_suite_alone_and_fails(capsys, suites):
    broken = suites / "spoc_calls.json"
    raw = json.loads(broken.read_text(encoding="utf-8"))
    raw["meta"]["diewell"]["load"] = "append"
    text = json.dumps(raw, indent=2) + "\n"
    broken.write_text(text, encoding="utf-8")
    code, out = run(capsys, "--write", "--folder", str(suites))
    assert code == 1
    assert "spoc_calls.json: cannot be read as a suite: suite spoc_calls: load 'append'" in out
    assert broken.read_text(encoding="utf-8") == text


def test_a_suite_named_for_another_extract_is_refused(capsys, suites):
    shutil.copy(suites / "deaths.json", suites / "deaths_v2.json")
    code, out = run(capsys, "--check", "--folder", str(suites))
    assert code == 1
    assert "deaths_v2.json: its meta.diewell.extract is 'deaths', not the file's name" in out
