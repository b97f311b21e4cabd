"""The benchmark's analyst script (benchmarks/analyst_pandas.py) gives diewell's numbers.

A small synthetic ICS with no row defects is generated; the pandas + GX script computes its 13
indicators from the landing folder, then diewell runs on the same files, and the two must
agree exactly on every numerator and denominator (ICS, breakdown all, the latest rolling 12
months) in diewell's warehouse (mart_indicator_values). Both apply the same file rules (the
script skips a truncated export as diewell's volume_drop rule rejects it); with no defects
generated, no file is rejected and no row quarantined.
"""

from __future__ import annotations

import datetime as dt
import importlib.util

import duckdb
import pytest

from diewell import pipeline
from diewell.config import load_config
from diewell.synth import synthesize
from tests.conftest import REPO

pytestmark = pytest.mark.slow

SCRIPT = REPO / "benchmarks" / "analyst_pandas.py"
PERIOD_END = dt.date(2026, 9, 30)  # the generator's last period end: the latest rolling 12 months


def _analyst_script():
    spec = importlib.util.spec_from_file_location("analyst_pandas", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_analyst_script_gives_diewells_13_numerators_and_denominators(tmp_path, monkeypatch):
    monkeypatch.setenv("DIEWELL_PSEUDO_KEY", "analyst-comparison-key-0123456789abcdef")
    config_path = synthesize(
        tmp_path, seed=1, population=20_000, years=2, end_date=PERIOD_END, defect_rate=0.0
    )
    config = load_config(config_path)
    analyst = _analyst_script()
    # First, as the pipeline moves the files out of the landing folder once loaded.
    expected_by_pandas = analyst.compute(config.landing, PERIOD_END)

    summary = pipeline.RunSummary(pipeline.new_run_id())
    pipeline.refresh(config, summary, publish=False)
    assert summary.rows_quarantined == 0  # no row defects: the comparison is about indicators
    assert summary.count("rejected") == 0  # quiet months at small services load (50-row minimum)

    con = duckdb.connect(str(config.warehouse), read_only=True)
    rows = con.execute(
        """SELECT indicator_id, numerator, denominator FROM mart_indicator_values
           WHERE geography_level = 'ics' AND breakdown = 'all'
             AND period_type = 'rolling_12m' AND period_end = ?""",
        [PERIOD_END],
    ).fetchall()
    con.close()
    by_diewell = {i: (int(n), int(d)) for i, n, d in rows if i in analyst.INDICATORS}

    assert sorted(expected_by_pandas) == sorted(analyst.INDICATORS)
    assert len(analyst.INDICATORS) == 13
    assert by_diewell == expected_by_pandas
    # Independent of both: the five places of death share one denominator and sum to it.
    places = [expected_by_pandas[f"PD0{i}"] for i in range(1, 6)]
    assert sum(n for n, _ in places) == places[0][1] > 0
