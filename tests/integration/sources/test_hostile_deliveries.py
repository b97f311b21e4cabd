"""Hostile deliveries at the landing folder (issue 11): the hostile cases of the bad-input
corpus, and the race between the MESH pull and the nightly load.

Each hostile case (tests/corpus/cases.yaml, `hostile: true`) is built in a fresh ICS's landing
folder by make_corpus.build_hostile, beside one good delivery. It must be rejected whole with
its reason and never read (a link's target is never opened, and its first line is nowhere),
the good delivery must load, and the next run must not be stopped by it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
import pytest
import yaml

from diewell import warehouse
from diewell.config import load_config
from diewell.expectations.files import FileRejected, sha256_of
from diewell.expectations.validate import Validated
from diewell.sources import ingest, load
from diewell.sources import landing as landing_folder
from diewell.sources.ingest import ingest_landing
from diewell.warehouse.landing_files import LandingIndex
from tests.corpus import make_corpus
from tests.integration.sources.test_bad_input_corpus import CORPUS, HOSTILE_CASES

GOOD = "apc_spells_RX1_20241231.csv"
GOOD_TEXT = (
    "spell_id,nhs_number,admission_date,admission_method\n"
    "S1,9990000018,2024-12-01,21\n"
    "S2,9990000026,2024-12-02,21\n"
)
# Cases rejected on what the file system says alone, before the file is opened.
NEVER_OPENED = {
    "symbolic_link_to_file",
    "dangling_symbolic_link",
    "symbolic_link_to_folder",
    "file_name_not_utf8",
    "named_pipe",
    "file_larger_than_limit",
}


def _ics(root: Path, limit: int | None = None):
    """A fresh ICS from the corpus configuration (with limits.max_file_bytes if given)."""
    root.mkdir()
    raw = yaml.safe_load((CORPUS / "diewell.yaml").read_text(encoding="utf-8"))
    if limit is not None:
        raw["limits"] = {"max_file_bytes": limit}
    (root / "diewell.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    (root / "landing").mkdir()
    config = load_config(root / "diewell.yaml")
    config.warehouse.parent.mkdir(parents=True)
    return config


def _run(config, run_id: str):
    con = warehouse.connect(config.warehouse)
    try:
        warehouse.migrate(con)
        return ingest_landing(con, config, run_id, report=False)
    finally:
        con.close()


def _query(config, sql: str, params=None):
    con = warehouse.connect(config.warehouse)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def _tree(folder: Path) -> dict[str, bytes | str]:
    """Every entry under folder (links as 'link -> target', never followed), for comparison."""
    out: dict[str, bytes | str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = f"link -> {os.readlink(p)}"
            elif p.is_file():
                out[rel] = p.read_bytes()
    return out


@pytest.mark.parametrize("case", HOSTILE_CASES, ids=[c["case"] for c in HOSTILE_CASES])
def test_hostile_delivery_is_rejected_unread_and_stops_nothing(case, tmp_path, pseudo_key):
    config = _ics(tmp_path / "ics", case.get("limit"))
    outside = tmp_path / "outside"
    outside.mkdir()
    make_corpus.build_hostile(case["case"], config.landing, outside)
    outside_before = _tree(outside)
    (config.landing / GOOD).write_text(GOOD_TEXT, encoding="utf-8")
    expect = case["expect"]

    outcomes = _run(config, "run-1")

    by_status = {o.status: o for o in outcomes}
    assert sorted(o.status for o in outcomes) == ["loaded", "rejected"], outcomes
    assert by_status["loaded"].file_name == GOOD
    rejected = by_status["rejected"]
    assert rejected.rule == expect["rule"], rejected.reason
    assert expect["reason"] in rejected.reason
    [(name, rule, reason, sha)] = _query(
        config,
        "SELECT file_name, reject_rule, reject_reason, sha256 FROM landing_files "
        "WHERE status = 'rejected'",
    )
    assert (name, rule, reason) == (rejected.file_name, rejected.rule, rejected.reason)
    assert name.encode("utf-8")  # what is recorded is always text
    # The good delivery beside it loaded; nothing of the hostile one reached staging.
    assert _query(config, "SELECT count(*) FROM stg_apc_spells") == [(2,)]
    assert _query(config, "SELECT count(*) FROM stg_deaths") == [(0,)]
    # Nothing is left in landing, nothing outside it changed, and no target was read.
    assert [p for p in config.landing.iterdir() if not p.name.startswith(".")] == []
    assert _tree(outside) == outside_before
    [reason_json] = list(config.rejected.glob("*.reason.json"))
    detail = json.loads(reason_json.read_text(encoding="utf-8"))
    assert (detail["rule"], detail["reason"]) == (rejected.rule, rejected.reason)
    stored = Path(str(reason_json)[: -len(".reason.json")])
    assert os.path.lexists(stored) and stored.parent == config.rejected
    assert stored.is_symlink() == case["case"].startswith(("symbolic", "dangling"))
    written = [p.read_text(encoding="utf-8") for p in config.rejected.glob("*.reason.*")]
    assert not any(make_corpus.SECRET_LINE in text for text in [*written, reason])
    if case["case"] in NEVER_OPENED:  # not even checksummed
        assert sha == ""
    # The next run is not stopped by what happened.
    assert _run(config, "run-2") == []


def test_a_redelivery_landing_while_the_first_is_loaded_is_not_lost(
    tmp_path, pseudo_key, monkeypatch
):
    """The MESH pull replaces a landed file after ingest read it and before it archived it.

    Driven deterministically: the pull's replacement (os.replace of a complete file, as
    diewell.sources.mesh does) runs right after ingest has read and validated the window.
    """
    config = _ics(tmp_path / "ics")
    first = GOOD_TEXT
    second = GOOD_TEXT + "S3,9990000034,2024-12-03,21\n"  # the provider's corrected re-send
    (config.landing / GOOD).write_text(first, encoding="utf-8")
    real_validate = ingest.validate_window

    def validate_then_redeliver(*args, **kwargs):
        validated = real_validate(*args, **kwargs)
        part = config.landing / ".mesh-message.part"
        part.write_text(second, encoding="utf-8")
        os.replace(part, config.landing / GOOD)
        return validated

    monkeypatch.setattr(ingest, "validate_window", validate_then_redeliver)
    [outcome] = _run(config, "run-1")
    monkeypatch.setattr(ingest, "validate_window", real_validate)

    assert (outcome.status, outcome.rows_read) == ("loaded", 2)
    archived = config.archive / "apc_spells" / "RX1" / GOOD
    assert archived.read_text(encoding="utf-8") == first  # exactly the bytes that were loaded
    assert (config.landing / GOOD).read_text(encoding="utf-8") == second  # still waiting
    [(sha,)] = _query(config, "SELECT sha256 FROM landing_files WHERE status = 'loaded'")
    assert sha == sha256_of(archived)

    [outcome] = _run(config, "run-2")
    assert (outcome.status, outcome.rows_read) == ("loaded", 3)
    assert _query(config, "SELECT count(*) FROM stg_apc_spells") == [(3,)]
    assert archived.read_text(encoding="utf-8") == second


def test_a_failure_inside_a_window_rolls_the_whole_window_back(tmp_path, pseudo_key, monkeypatch):
    """A window of files is one transaction. A record that cannot be written (here the
    rejection of the window's second file, refused by the warehouse) rolls back the first
    file's load too: nothing of either is recorded or moved, both stay claimed, no
    transaction is left open, and the same connection goes on to load them."""
    config = _ics(tmp_path / "ics")
    (config.landing / GOOD).write_text(GOOD_TEXT, encoding="utf-8")
    (config.landing / "deaths_QXX_20241231.csv").write_bytes(b"")
    window = [
        landing_folder.claim(config, config.landing / name)
        for name in (GOOD, "deaths_QXX_20241231.csv")
    ]
    refused = FileRejected("empty_file", "the file is zero bytes")
    real_record = load._record_rejection

    def cannot_store(*args):
        raise duckdb.ConversionException("the warehouse cannot store this record")

    monkeypatch.setattr(load, "_record_rejection", cannot_store)
    con = warehouse.connect(config.warehouse)
    try:
        warehouse.migrate(con)
        landing = LandingIndex.read(con)
        validated = {window[1]: Validated(sha="", rejection=refused)}
        with pytest.raises(duckdb.ConversionException):
            load.load_files(con, config, window, validated, "run-1", set(), landing)
        monkeypatch.setattr(load, "_record_rejection", real_record)
        assert con.execute("SELECT count(*) FROM landing_files").fetchall() == [(0,)]
        assert con.execute("SELECT count(*) FROM stg_apc_spells").fetchall() == [(0,)]
        assert all(path.is_file() for path in window)  # still claimed, nothing archived
        assert not config.archive.exists() or not any(config.archive.rglob("*.csv"))
        outcomes = ingest_landing(con, config, "run-2", report=False)
    finally:
        con.close()
    assert sorted((o.file_name, o.status) for o in outcomes) == [
        (GOOD, "loaded"),
        ("deaths_QXX_20241231.csv", "rejected"),
    ]
