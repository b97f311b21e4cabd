"""The run's in-memory view of landing_files (LandingIndex) says what the table says.

Ingest no longer asks the warehouse, for each file, whether it is byte-identical to its loaded
delivery and which delivery its volume follows: it reads landing_files once and follows each
load. Hand-worked: the rows below, and after each load what the table itself would give.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from diewell import warehouse
from diewell.expectations.files import Delivery
from diewell.sources.ingest import LandingIndex
from diewell.warehouse.landing_files import LandingState
from tests.integration.validation.conftest import COLUMNS, Ics, spells

JAN, FEB, MAR = dt.date(2025, 1, 31), dt.date(2025, 2, 28), dt.date(2025, 3, 31)


def delivery(period: dt.date, provider: str = "RX1", extract: str = "apc_spells") -> Delivery:
    name = f"{extract}_{provider}_{period:%Y%m%d}.csv"
    return Delivery(Path(name), extract, provider, period, "csv")


def test_state_follows_loads_and_re_deliveries():
    index = LandingIndex(
        [  # extract, provider, period_end, file_id, file_name, rows_read, status, sha256
            ("apc_spells", "RX1", JAN, 1, "jan-first", 100, "superseded", "a"),
            ("apc_spells", "RX1", JAN, 4, "jan-again", 90, "loaded", "b"),
            ("apc_spells", "RX2", FEB, 2, "other-provider", 500, "loaded", "c"),
            ("ae_attendances", "RX1", FEB, 3, "other-extract", 700, "loaded", "d"),
        ]
    )
    # January's loaded delivery is the re-delivery (b); the previous is the newest (file 4)
    assert index.state(delivery(JAN)) == LandingState("b", ("jan-again", 90))
    # February: nothing loaded for RX1's apc_spells; it follows January's latest
    assert index.state(delivery(FEB)) == LandingState(None, ("jan-again", 90))
    # a period before any delivery has no previous one
    assert index.state(delivery(dt.date(2024, 12, 31))) == LandingState(None, None)
    assert index.loaded() == {
        ("apc_spells", "RX1", JAN, "b"),
        ("apc_spells", "RX2", FEB, "c"),
        ("ae_attendances", "RX1", FEB, "d"),
    }

    index.record_load(delivery(FEB), 5, 80, "e")
    assert index.state(delivery(FEB)) == LandingState("e", ("apc_spells_RX1_20250228.csv", 80))
    assert index.state(delivery(MAR)) == LandingState(None, ("apc_spells_RX1_20250228.csv", 80))
    index.record_load(delivery(FEB), 6, 85, "f")  # February re-delivered: e is superseded
    assert index.state(delivery(FEB)) == LandingState("f", ("apc_spells_RX1_20250228.csv", 85))
    assert ("apc_spells", "RX1", FEB, "e") not in index.loaded()
    assert ("apc_spells", "RX1", FEB, "f") in index.loaded()


def test_after_runs_the_index_read_back_equals_what_the_loads_recorded(tmp_path, pseudo_key):
    """Two runs: January and February, then February re-delivered and March. The index read
    from the table after them gives the states the loads followed."""
    ics = Ics(tmp_path / "ics")
    ics.deliver("apc_spells_RX1_20250131.csv", spells(6), COLUMNS)
    ics.deliver("apc_spells_RX1_20250228.csv", spells(8), COLUMNS)
    ics.run("run-1")
    ics.deliver("apc_spells_RX1_20250228.csv", spells(7), COLUMNS)  # a re-delivery
    ics.deliver("apc_spells_RX1_20250331.csv", spells(9), COLUMNS)
    ics.run("run-2")

    con = warehouse.connect(ics.config.warehouse)
    try:
        statuses = con.execute(
            "SELECT file_name, period_end, status, rows_read FROM landing_files ORDER BY file_id"
        ).fetchall()
        index = LandingIndex.read(con)
    finally:
        con.close()
    assert [(s[1], s[2], s[3]) for s in statuses] == [
        (JAN, "loaded", 6),
        (FEB, "superseded", 8),
        (FEB, "loaded", 7),
        (MAR, "loaded", 9),
    ]
    assert index.state(delivery(FEB)).previous == ("apc_spells_RX1_20250228.csv", 7)
    assert index.state(delivery(MAR)).previous == ("apc_spells_RX1_20250331.csv", 9)
    assert index.state(delivery(dt.date(2025, 4, 30))).loaded_sha is None
    assert len(index.loaded()) == 3
