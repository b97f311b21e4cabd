"""An analyst reading the warehouse while the refresh runs: neither blocks the other, and every
read sees one complete warehouse, never a half-refreshed one. Real processes on a real file."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from diewell.config import load_config
from tests.conftest import REPO
from tests.system.test_crash_safety import KEY, run_to_completion, start_worker


def split_landing(landing, later, cutoff: str) -> int:
    """Move deliveries with a period end after `cutoff` (YYYYMMDD) aside for a second run."""
    moved = 0
    for path in sorted(p for p in landing.rglob("*") if p.is_file()):
        period = path.stem.rsplit("_", 1)[-1]
        if period > cutoff:
            target = later / path.relative_to(landing)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
            moved += 1
    return moved


def test_an_analyst_reads_throughout_a_refresh(tmp_path):
    from diewell.synth import synthesize

    os.environ.setdefault("DIEWELL_PSEUDO_KEY", KEY)
    config_path = synthesize(tmp_path / "ics", seed=33, population=3000, years=2)
    config = load_config(config_path)
    assert split_landing(config.landing, tmp_path / "later", "20251231") > 0
    run_to_completion(config_path, "first")  # the analysts' warehouse exists from here on
    shutil.copytree(tmp_path / "later", config.landing, dirs_exist_ok=True)

    stop = tmp_path / "stop"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    readers = {
        mode: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.system.reader_worker",
                str(config.warehouse),
                str(stop),
                str(tmp_path / f"{mode}.json"),
                mode,
            ],
            cwd=REPO,
            env=env,
        )
        for mode in ("hold", "poll")
    }
    try:
        time.sleep(3)  # both readers are reading before the refresh starts
        writer = start_worker(config_path, "second")
        output, _ = writer.communicate(timeout=600)
        assert writer.returncode == 0 and output.strip().endswith("done"), output[-500:]
        time.sleep(1.5)  # a few reads of the new warehouse
    finally:
        stop.touch()
        for reader in readers.values():
            reader.wait(timeout=60)
    held = json.loads((tmp_path / "hold.json").read_text())
    polled = json.loads((tmp_path / "poll.json").read_text())

    assert held["errors"] == [] and polled["errors"] == []
    for reads in (held["reads"], polled["reads"]):
        assert len(reads) >= 10
        for r in reads:  # every read is one complete warehouse
            assert r["running_runs"] == 0
            assert r["cohort"] == r["adult_deaths"] > 0
            assert r["releases_in_mart"] == 1 and r["mart_matches_latest_run"] == 0
            assert r["unbalanced_files"] == 0
    versions = [r["completed_runs"] for r in polled["reads"]]
    assert versions[0] == 1 and versions[-1] == 2  # fresh connections see the new warehouse
    assert versions == sorted(versions)  # and never an older state again
    before = polled["reads"][0]
    assert polled["reads"][-1]["cohort"] > before["cohort"]  # the second run added deaths
    # The connection held across the refresh kept its consistent, older snapshot throughout.
    assert all(r == before for r in held["reads"])


@pytest.mark.parametrize("mode", ["read_only"])
def test_a_reader_cannot_write(tmp_path, mode):
    import duckdb

    path = tmp_path / "w.duckdb"
    duckdb.connect(str(path)).close()
    con = duckdb.connect(str(path), read_only=True)
    with pytest.raises(duckdb.Error):
        con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
