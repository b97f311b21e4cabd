"""GX takes some 3 s of Python to import: a run imports it on a thread while it validates and
loads (DuckDB and Polars, outside the GIL), so the report at the end of ingest does not wait
for it. Each case runs in a fresh interpreter, where GX is not yet imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_KEY

PROJECT = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys, threading
from pathlib import Path
from diewell import ingest, warehouse
from diewell.validation_report import validation_results_dir
from tests.validation.conftest import COLUMNS, Ics, spells

ics = Ics(Path(sys.argv[1]))
ics.deliver("apc_spells_RX1_20250131.csv", spells(6), COLUMNS)
seen = {}
real_load = ingest.load_files

def load_files(*args):
    if not seen:  # at the first load: is GX being imported, or imported, already?
        seen["gx_thread"] = any(t.name == "diewell-gx-import" for t in threading.enumerate())
        seen["gx_at_first_load"] = seen["gx_thread"] or "great_expectations" in sys.modules
    return real_load(*args)

ingest.load_files = load_files
ics.config.warehouse.parent.mkdir(parents=True, exist_ok=True)
con = warehouse.connect(ics.config.warehouse)
warehouse.migrate(con)
outcomes = ingest.ingest_landing(con, ics.config, "run-1", report=sys.argv[2] == "report")
con.close()
seen["loaded"] = [o.status for o in outcomes]
seen["gx_imported"] = "great_expectations" in sys.modules
seen["results"] = len(list(validation_results_dir(ics.config).rglob("*.json")))
print(json.dumps(seen))
"""


def _run(tmp_path, report: str) -> dict:
    env = os.environ | {"DIEWELL_PSEUDO_KEY": TEST_KEY, "PYTHONPATH": str(PROJECT)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "ics"), report],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_run_with_files_imports_gx_before_its_first_load_and_still_reports(tmp_path):
    seen = _run(tmp_path, "report")
    assert seen["loaded"] == ["loaded"]
    assert seen["gx_at_first_load"] is True  # under way (or done) before the load began
    assert seen["results"] == 1  # and the report it was imported for was built


def test_a_run_without_a_report_never_imports_gx(tmp_path):
    seen = _run(tmp_path, "no-report")
    assert seen["loaded"] == ["loaded"]
    assert seen == seen | {"gx_thread": False, "gx_at_first_load": False, "gx_imported": False}
    assert seen["results"] == 0
