"""`diewell reprocess`: a fixed rejected file, or a file re-validated after a contract change,
loads its rows exactly once (rows read = rows loaded + rows quarantined throughout)."""

from __future__ import annotations

import csv
import dataclasses

from diewell import ingest
from diewell.cli import main
from tests.validation.conftest import COLUMNS, spells
from transforms.contracts import load_contract

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
    monkeypatch.setattr(
        ingest, "load_contract", lambda extract: dataclasses.replace(contract, columns=columns)
    )
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
