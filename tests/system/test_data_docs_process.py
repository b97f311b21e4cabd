"""The run's Data Docs are built by a process of their own, started with ingest at the lowest
CPU priority, which imports GX while the files load (diewell.expectations.report.data_docs_process)."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from diewell.expectations.report.data_docs_process import (
    LOWEST_PRIORITY,
    DataDocsFailed,
    DataDocsProcess,
)
from diewell.expectations.report.validation_report import data_docs_index
from diewell.sources import ingest
from tests.conftest import REPO, TEST_KEY
from tests.integration.validation.conftest import COLUMNS, spells

PROJECT = REPO

A_RUN_IN_A_FRESH_INTERPRETER = """
import json, sys
from pathlib import Path
from diewell.sources import ingest
from tests.integration.validation.conftest import COLUMNS, Ics, spells
ingest.DATA_DOCS_APART_FROM_BYTES = 0  # its own process for a run of any size
from diewell.expectations.report.validation_report import data_docs_index
ics = Ics(Path(sys.argv[1]))
ics.deliver("apc_spells_RX1_20250131.csv", spells(6, bad_method_rows=(2,)), COLUMNS)
outcomes = ics.run("run-1")
print(json.dumps({
    "outcomes": [(o.status, o.rows_loaded, o.rows_quarantined) for o in outcomes],
    "gx_imported": "great_expectations" in sys.modules,
    "index": data_docs_index(ics.config).is_file(),
    "validation_pages": len(list(data_docs_index(ics.config).parent.glob(
        "validations/apc_spells/run-1/*/*.html"))),
}))
"""


def test_a_run_builds_its_data_docs_without_importing_gx_itself(tmp_path):
    """GX costs some 3 s to import in a fresh process; the run's own process never pays it."""
    done = subprocess.run(
        [sys.executable, "-c", A_RUN_IN_A_FRESH_INTERPRETER, str(tmp_path / "ics")],
        cwd=PROJECT,
        env=os.environ | {"DIEWELL_PSEUDO_KEY": TEST_KEY},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["outcomes"] == [["loaded", 5, 1]]
    assert figures["gx_imported"] is False
    assert figures["index"] is True
    assert figures["validation_pages"] == 1


def _nice(pid: int) -> int:
    # /proc/<pid>/stat: the 19th field is the nice value (after the command in parentheses)
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[16])


def test_the_process_runs_at_the_lowest_priority_and_ends_when_stopped(ics):
    process = DataDocsProcess().start(ics.config, 200)
    pid = process.pid
    assert pid is not None and pid != os.getpid()
    deadline = time.monotonic() + 30
    while _nice(pid) != LOWEST_PRIORITY and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _nice(pid) == LOWEST_PRIORITY
    assert _nice(os.getpid()) != LOWEST_PRIORITY  # the run's process keeps its own
    # the run's environment, less its secrets: the key is in this one (pseudo_key), not there
    assert os.environ["DIEWELL_PSEUDO_KEY"] == TEST_KEY
    environment = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    assert not any(v.startswith(b"DIEWELL_PSEUDO_KEY=") for v in environment)
    assert any(v.startswith(b"PATH=") for v in environment)
    process.stop()
    assert not Path(f"/proc/{pid}").exists()  # waited for: nothing is left behind


@pytest.fixture(autouse=True)
def apart_for_any_run(monkeypatch):
    """Its own process for a run of any size (of 64 MiB of files or more by default)."""
    monkeypatch.setattr(ingest, "DATA_DOCS_APART_FROM_BYTES", 0)


def test_a_failure_to_build_the_pages_fails_the_run_with_the_reason_after_the_load(ics):
    """A file where the Data Docs folder should be: GX cannot write the site. The run fails,
    naming why, and what it loaded stays loaded (the next run builds the pages again)."""
    data_docs_index(ics.config).parent.parent.mkdir(parents=True, exist_ok=True)
    data_docs_index(ics.config).parent.write_text("not a folder")
    ics.deliver("apc_spells_RX1_20250131.csv", spells(6), COLUMNS)
    with pytest.raises(DataDocsFailed, match="the validation reports were not built: .*Error"):
        ics.run("run-1")
    assert ics.query("SELECT status, rows_loaded FROM landing_files") == [("loaded", 6)]


def test_a_process_lost_before_the_run_was_ready_is_replaced_by_building_here(
    ics, monkeypatch, caplog
):
    started = DataDocsProcess.start

    def start_then_lose_it(self, *args):
        started(self, *args)
        os.kill(self.pid, signal.SIGKILL)
        self._child.wait()
        return self

    monkeypatch.setattr(DataDocsProcess, "start", start_then_lose_it)
    ics.deliver("apc_spells_RX1_20250131.csv", spells(6, bad_method_rows=(2,)), COLUMNS)
    with caplog.at_level(logging.WARNING, logger="diewell.validation"):
        outcomes = ics.run("run-1")
    assert [(o.status, o.rows_quarantined) for o in outcomes] == [("loaded", 1)]
    assert data_docs_index(ics.config).is_file()
    assert len(list(data_docs_index(ics.config).parent.glob("validations/apc_spells/*/*/*"))) == 1
    assert any("built here instead" in r.getMessage() for r in caplog.records)


def test_a_process_that_ends_without_answering_fails_the_build_with_its_exit_code(ics):
    process = DataDocsProcess()
    process._child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.buffer.read(); sys.exit(3)"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    with pytest.raises(DataDocsFailed, match=r"ended without finishing \(exit code 3\)"):
        process.build(ics.config, "run-1", [], {"files_listed": 100, "shown": 20})


def test_only_a_run_of_the_threshold_s_bytes_or_more_starts_the_process(ics, monkeypatch):
    """A small run is over before the process could import GX: it builds its pages itself."""
    started = []
    start = DataDocsProcess.start
    monkeypatch.setattr(
        DataDocsProcess, "start", lambda self, *args: started.append(1) or start(self, *args)
    )
    first = ics.deliver("apc_spells_RX1_20250131.csv", spells(6), COLUMNS)
    monkeypatch.setattr(ingest, "DATA_DOCS_APART_FROM_BYTES", first.stat().st_size + 1)
    ics.run("run-1")
    assert started == []
    ics.deliver("apc_spells_RX1_20250228.csv", spells(6), COLUMNS)
    ics.deliver("apc_spells_RX1_20250331.csv", spells(6), COLUMNS)
    ics.run("run-2")
    assert started == [1]
    index = data_docs_index(ics.config).read_text(encoding="utf-8")
    assert "run-1" in index and "run-2" in index
