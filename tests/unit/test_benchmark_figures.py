"""The benchmarks' own arithmetic, on hand-made inputs: the read floor's counts
(benchmarks/run.py) and the region's England projection (benchmarks/region.py).

The benchmarks measure and assert nothing; what they compute from their measurements is
checked here against figures worked out by hand.
"""

from __future__ import annotations

import importlib.util
import sys

import polars as pl
import pytest

from tests.conftest import REPO


def _script(name: str):
    path = REPO / "benchmarks" / f"{name}.py"
    sys.path.insert(0, str(path.parent))  # region.py imports run.py beside it
    try:
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(path.parent))


def test_the_read_floor_reads_every_csv_and_parquet_file_once(tmp_path):
    landing = tmp_path / "landing"
    (landing / "deaths").mkdir(parents=True)
    (landing / "apc_spells").mkdir()
    # 3 rows; a value Polars would read as a number, and one it could not, both read as text
    (landing / "deaths" / "deaths_QSY_20260930.csv").write_text(
        "nhs_number,date_of_death\n9990000018,2026-09-01\n0123,not a date\n9990000026,\n"
    )
    pl.DataFrame({"a": ["1", "2"]}).write_parquet(
        landing / "apc_spells" / "apc_spells_RZ03_20260930.parquet"
    )
    (landing / "deaths" / "notes.txt").write_text("not a delivery\n")  # not read
    floor = _script("run").read_floor(landing)
    assert (floor["files"], floor["rows"]) == (2, 5)
    assert floor["wall_s"] >= 0


def test_the_england_projection_is_the_least_squares_cost_per_ics_over_the_workers():
    """Two ICSs, 1M and 2M people, whose runs take 40 s and 70 s: 10 s + 30 s a million
    people. One worker's wall time 130 s, less the runs (110 s) and the regional
    publication (5 s), leaves 7.5 s a run for the worker to start it. England: 42 x (10 +
    7.5) + 30 x 57.1 = 2,448 s of ICS work; the regional publication 5 s for 2 ICSs is 105 s
    for 42. Disk 900 and 1,800 MB: 0 + 900 MB a million people, 51,390 MB for England."""
    region = _script("region")
    icss = {"QAA": {"population": 1_000_000}, "QBB": {"population": 2_000_000}}
    runs = [
        {
            "workers": 1,
            "state": "COMPLETED",
            "wall_s": 130.0,
            "regional_publication_s": 5.0,
            "ics": {
                "QAA": {"run_s": 40.0, "disk_mb": 900.0},
                "QBB": {"run_s": 70.0, "disk_mb": 1800.0},
            },
        },
        {"workers": 2, "state": "COMPLETED", "wall_s": 100.0, "ics": {}},
    ]
    p = region.projection(icss, runs)
    assert p["run_s_fixed"] == pytest.approx(10.0)
    assert p["run_s_per_million_people"] == pytest.approx(30.0)
    assert p["worker_start_s_per_ics"] == pytest.approx(7.5)
    assert p["disk_mb_fixed"] == pytest.approx(0.0, abs=0.05)
    assert p["disk_mb_per_million_people"] == pytest.approx(900.0)
    assert p["england_disk_gb"] == pytest.approx(51.4)
    assert p["england_mean_ics_disk_gb"] == pytest.approx(1.22)
    assert p["england_regional_publication_s"] == pytest.approx(105.0)
    assert p["england_wall_s"][1] == 2448 + 105
    assert p["england_wall_s"][2] == 1224 + 105
    assert p["england_wall_s"][42] == round(2448 / 42 + 105)
    assert p["two_workers_speed_up_measured"] == pytest.approx(1.3)


def test_no_projection_without_a_completed_one_worker_run():
    region = _script("region")
    failed = {"workers": 1, "state": "FAILED", "wall_s": 10.0, "ics": {}}
    assert region.projection({}, [failed]) == {}
