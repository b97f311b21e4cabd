"""`diewell reprocess`: a fixed rejected file, or a file re-validated after a contract change,
loads its rows exactly once (rows read = rows loaded + rows quarantined throughout)."""

from __future__ import annotations

import csv
import dataclasses
import json

from diewell.cli import main
from diewell.expectations import validate
from diewell.expectations.contracts import load_contract
from diewell.sources import load
from tests.integration.validation.conftest import COLUMNS, spells

NAME = "apc_spells_RX1_20250131.csv"


def _accounting(ics):
    return ics.query(
        "SELECT status, rows_read, rows_loaded, rows_quarantined FROM landing_files "
        "WHERE file_name = ? ORDER BY file_id",
        [NAME],
    )


def test_a_rejected_file_fixed_and_reprocessed_loads_once(ics, capsys):
    short = [{k: v for k, v in r.items() if k != "admission_method"} for r in spells(4)]
    ics.deliver(NAME, short, COLUMNS[:-1])  # admission_method missing: rejected whole
    assert [o.status for o in ics.run("run-1")] == ["rejected"]
    stored = ics.config.rejected / NAME
    assert (ics.config.rejected / f"{NAME}.reason.json").is_file()
    # The provider's data manager (or a contract fix) repairs the file in the rejected area.
    with stored.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(spells(4))
    assert main(["reprocess", "--config", str(ics.config_path), "--rejected"]) == 0
    assert "1 file(s) queued" in capsys.readouterr().out
    assert not (ics.config.rejected / f"{NAME}.reason.json").exists()
    assert [o.status for o in ics.run("run-2")] == ["loaded"]
    # Nothing left to reprocess; a second run changes nothing.
    assert main(["reprocess", "--config", str(ics.config_path), "--rejected"]) == 0
    assert ics.run("run-3") == []
    assert ics.query("SELECT count(*) FROM stg_apc_spells") == [(4,)]
    assert _accounting(ics)[-1] == ("loaded", 4, 4, 0)


def test_a_quarantined_file_reprocessed_after_a_contract_change_loads_its_rows_once(
    ics, monkeypatch
):
    ics.deliver(NAME, spells(5, bad_method_rows=(2,)), COLUMNS)
    assert [o.rows_quarantined for o in ics.run("run-1")] == [1]
    assert ics.query("SELECT count(*) FROM stg_apc_spells") == [(4,)]

    # Without reprocessing, the same bytes again change nothing (the checksum shortcut).
    assert (
        main(["reprocess", "--config", str(ics.config_path), "--quarantined", "--file", "x.csv"])
        == 0
    )
    assert ics.run("run-2") == []

    # The contract is changed to allow admission method 99 ...
    contract = load_contract("apc_spells")
    columns = tuple(
        dataclasses.replace(c, allowed=(*c.allowed, "99")) if c.name == "admission_method" else c
        for c in contract.columns
    )
    changed = dataclasses.replace(contract, columns=columns)
    for module in (load, validate):  # the load and the row rules read the contract
        monkeypatch.setattr(module, "load_contract", lambda extract: changed)
    assert main(["reprocess", "--config", str(ics.config_path), "--quarantined"]) == 0
    outcomes = ics.run("run-3")
    assert [(o.status, o.rows_read, o.rows_loaded, o.rows_quarantined) for o in outcomes] == [
        ("loaded", 5, 5, 0)
    ]
    assert ics.query("SELECT count(*), count(DISTINCT spell_id) FROM stg_apc_spells") == [(5, 5)]
    assert _accounting(ics) == [("superseded", 5, 4, 1), ("loaded", 5, 5, 0)]
    # The mark is gone: the next run leaves the file alone.
    assert ics.run("run-4") == []
    assert ics.query("SELECT count(*) FROM stg_apc_spells") == [(5,)]


def test_a_small_delivery_confirmed_complete_loads_once_and_only_when_named(ics, capsys):
    config = str(ics.config_path)
    ics.deliver(NAME, spells(60), COLUMNS)
    feb = "apc_spells_RX1_20250228.csv"
    quiet = [dict(r, spell_id=f"F{i}") for i, r in enumerate(spells(1))]  # 1 row after 60
    ics.deliver(feb, quiet, COLUMNS)
    assert [(o.status, o.rule) for o in ics.run("run-1")] == [
        ("loaded", None),
        ("rejected", "volume_drop"),
    ]

    # Re-queued without the acceptance, the true 1-row month is rejected again.
    assert main(["reprocess", "--config", config, "--rejected"]) == 0
    assert [(o.status, o.rule) for o in ics.run("run-2")] == [("rejected", "volume_drop")]

    # Acceptance needs each file named.
    assert main(["reprocess", "--config", config, "--rejected", "--accept-low-volume"]) == 2
    assert "--file" in capsys.readouterr().err
    assert (ics.config.rejected / feb).is_file()

    assert (
        main(["reprocess", "--config", config, "--rejected", "--accept-low-volume", "--file", feb])
        == 0
    )
    assert "accepted as complete" in capsys.readouterr().out
    outcomes = ics.run("run-3")
    assert [(o.status, o.rows_read, o.rows_loaded, o.rows_quarantined) for o in outcomes] == [
        ("loaded", 1, 1, 0)
    ]
    assert ics.query("SELECT count(*) FROM stg_apc_spells WHERE period_end = '2025-02-28'") == [
        (1,)
    ]
    assert not (ics.config.landing / ".accept-low-volume" / feb).exists()
    # The acceptance was for that delivery only: a later truncated re-delivery of the same
    # period (0 of 1 rows is header-only, so use a new month after a full one) is rejected.
    ics.deliver("apc_spells_RX1_20250331.csv", spells(60), COLUMNS)
    ics.deliver("apc_spells_RX1_20250430.csv", spells(1), COLUMNS)
    assert [(o.status, o.rule) for o in ics.run("run-4")] == [
        ("loaded", None),
        ("rejected", "volume_drop"),
    ]


def test_acceptance_of_low_volume_never_moves_a_file_rejected_for_another_rule(ics, capsys):
    short = [{k: v for k, v in r.items() if k != "admission_method"} for r in spells(4)]
    ics.deliver(NAME, short, COLUMNS[:-1])  # required column missing
    assert [o.rule for o in ics.run("run-1")] == ["required_column_missing"]
    args = ["reprocess", "--config", str(ics.config_path), "--rejected", "--accept-low-volume"]
    assert main([*args, "--file", NAME]) == 0
    out = capsys.readouterr().out
    assert "skipped" in out and "not for its volume" in out
    assert (ics.config.rejected / NAME).is_file()
    assert not (ics.config.landing / NAME).exists()


def test_a_recorded_name_that_is_not_a_plain_file_name_is_never_used_as_a_path(
    ics, tmp_path, capsys
):
    """A reason file naming '../x' or an absolute path (as a MESH message's name was once
    recorded) never steers where reprocess writes: the file stays in the rejected area."""
    escaped = tmp_path / "escaped_apc_spells_RX1_20250131.csv"
    recorded = {
        "_.._outside.csv": "../outside.csv",
        "escaped_apc_spells_RX1_20250131.csv": str(escaped),
        "nul.csv": "apc_spells_RX1_20250131.csv\x00.sh",
    }
    rejected = ics.config.rejected
    rejected.mkdir(parents=True)
    for stored, name in recorded.items():
        (rejected / stored).write_text("spell_id\nS1\n", encoding="utf-8")
        detail = {"file_name": name, "sha256": "0" * 64, "rule": "file_name_invalid"}
        (rejected / f"{stored}.reason.json").write_text(json.dumps(detail), encoding="utf-8")

    assert main(["reprocess", "--config", str(ics.config_path), "--rejected"]) == 0

    out = capsys.readouterr().out
    assert out.count("not a plain file name") == 3, out
    assert not (ics.root / "outside.csv").exists()
    assert not escaped.exists()
    assert sorted(p.name for p in ics.config.landing.iterdir()) == []
    for stored in recorded:
        assert (rejected / stored).is_file() and (rejected / f"{stored}.reason.json").is_file()
