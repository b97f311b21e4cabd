"""The benchmark's incremental month (benchmarks/run.py): held back from the one generated
ICS, so the full run sees every month but the last and the incremental run that month alone.

Hand-made landing folders: file names only matter (the contents are one line each).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from pathlib import Path

from tests.conftest import REPO

SCRIPT = REPO / "benchmarks" / "run.py"
LAST = dt.date(2026, 10, 31)  # the generated ICS's last month: held back
BEFORE = dt.date(2026, 9, 30)  # the full run's last period end


def _run_script():
    spec = importlib.util.spec_from_file_location("benchmark_run", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


def _landing(tmp_path: Path) -> Path:
    landing = tmp_path / "landing"
    names = [
        "deaths/deaths_QSY_20260831.csv",
        "deaths/deaths_QSY_20260930.csv",
        "deaths/deaths_QSY_20261031.csv",
        "apc_spells/apc_spells_RZ03_20261031.parquet",
        "ref_lsoa/ref_lsoa_QSY_20261031.csv",
        "ref_practice/ref_practice_QSY_20261031.csv",
    ]
    for name in names:
        path = landing / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"{name}\n")
    return landing


def test_the_last_month_is_held_back_and_the_reference_data_stays_dated_a_month_before(
    tmp_path,
):
    run = _run_script()
    landing, held = _landing(tmp_path), tmp_path / "next-month"

    assert run.hold_back_month(landing, held, LAST, BEFORE) == 4

    assert _files(landing) == {
        "deaths/deaths_QSY_20260831.csv",
        "deaths/deaths_QSY_20260930.csv",
        "ref_lsoa/ref_lsoa_QSY_20260930.csv",
        "ref_practice/ref_practice_QSY_20260930.csv",
    }
    assert _files(held) == {
        "deaths/deaths_QSY_20261031.csv",
        "apc_spells/apc_spells_RZ03_20261031.parquet",
        "ref_lsoa/ref_lsoa_QSY_20261031.csv",
        "ref_practice/ref_practice_QSY_20261031.csv",
    }
    # the reference data the full run sees is the generated snapshot itself
    kept = (landing / "ref_lsoa/ref_lsoa_QSY_20260930.csv").read_text()
    assert kept == "ref_lsoa/ref_lsoa_QSY_20261031.csv\n"


def test_the_held_month_is_delivered_whole_into_landing(tmp_path):
    run = _run_script()
    landing, held = _landing(tmp_path), tmp_path / "next-month"
    run.hold_back_month(landing, held, LAST, BEFORE)

    assert run.deliver_month(held, landing) == 4

    assert _files(held) == set()
    assert _files(landing) == {
        "deaths/deaths_QSY_20260831.csv",
        "deaths/deaths_QSY_20260930.csv",
        "deaths/deaths_QSY_20261031.csv",
        "apc_spells/apc_spells_RZ03_20261031.parquet",
        "ref_lsoa/ref_lsoa_QSY_20260930.csv",
        "ref_lsoa/ref_lsoa_QSY_20261031.csv",
        "ref_practice/ref_practice_QSY_20260930.csv",
        "ref_practice/ref_practice_QSY_20261031.csv",
    }
