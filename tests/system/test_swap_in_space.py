"""The swap-in when the disk cannot take the analysts' copy: the analysts' warehouse stays as it
was, nothing half-written is left beside it, and the error says why and what happens next. The
same for its twin, the rewrite of a warehouse into the storage format analysts' tools read.

A 30M-person benchmark's incremental run filled the disk at its swap-in and left a 16 GB
half-copy beside the analysts' file, holding the disk full until the next run.

Each swap-in (and rewrite) here runs in a child process whose file-size limit (RLIMIT_FSIZE) is 1 MiB: a
write past it fails with an OSError, as a full disk's does (EFBIG there, ENOSPC here), and the
limit keeps a swap-in that ignored the free space from writing more than that.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb

from diewell import warehouse
from tests.conftest import REPO

LIMIT_BYTES = 1024 * 1024

LIMITED = f"""
import json, resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails, not the process
resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT_BYTES}, resource.RLIM_INFINITY))
from diewell import warehouse
try:
    getattr(warehouse, sys.argv[1])(*map(Path, sys.argv[2:]))
    print(json.dumps({{"raised": None}}))
except Exception as exc:
    print(json.dumps({{"raised": type(exc).__name__, "message": str(exc)}}))
"""


def run_limited(function: str, *paths: Path) -> dict:
    """warehouse.<function>(*paths) in a child that may write no file past LIMIT_BYTES."""
    done = subprocess.run(
        [sys.executable, "-c", LIMITED, function, *map(str, paths)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def analysts_warehouse(folder: Path) -> Path:
    analysts = folder / "diewell.duckdb"
    con = duckdb.connect(str(analysts))
    con.execute("CREATE TABLE last_month AS SELECT 42 AS deaths")
    con.close()
    return analysts


def random_numbers(path: Path) -> None:
    """Some 4 MB of random numbers (they do not compress): more than the child may write."""
    con = duckdb.connect(str(path))  # DuckDB's newest storage format, not the analysts'
    con.execute("CREATE TABLE this_month AS SELECT random() AS r FROM range(500000)")
    con.close()
    assert path.stat().st_size > 2 * LIMIT_BYTES


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_a_copy_the_disk_cannot_take_leaves_nothing_beside_the_analysts_file(tmp_path):
    analysts = analysts_warehouse(tmp_path)
    before = analysts.read_bytes()
    working = warehouse.working_path(analysts)
    working.parent.mkdir()
    random_numbers(working)

    outcome = run_limited("publish_snapshot", working, analysts)

    assert outcome["raised"] == "SwapInFailed"
    assert "the analysts' warehouse is unchanged" in outcome["message"]
    assert "the next run swaps it in" in outcome["message"]
    assert str(tmp_path) not in outcome["message"]  # the file's name, not the machine's path
    assert leftovers(tmp_path) == []
    assert analysts.read_bytes() == before
    assert working.exists()  # this run's warehouse is kept for the next run to swap in


def test_a_copy_larger_than_the_free_disk_is_not_started(tmp_path):
    analysts = analysts_warehouse(tmp_path)
    before = analysts.read_bytes()
    working = warehouse.working_path(analysts)
    working.parent.mkdir()
    # A sparse file whose size is 1 GiB more than the disk has free: it takes no space itself.
    free = shutil.disk_usage(tmp_path).free
    with working.open("wb") as f:
        f.truncate(free + 1024**3)

    outcome = run_limited("publish_snapshot", working, analysts)

    assert outcome["raised"] == "SwapInFailed"
    needed_mib = (free + 1024**3) // 1024**2
    assert "needs" in outcome["message"] and f"{needed_mib:,} MiB" in outcome["message"]
    assert "free" in outcome["message"]
    assert "the analysts' warehouse is unchanged" in outcome["message"]
    assert leftovers(tmp_path) == []
    assert analysts.read_bytes() == before


def test_a_rewrite_for_analysts_tools_the_disk_cannot_take_leaves_nothing_beside_the_file(
    tmp_path,
):
    working = warehouse.working_path(tmp_path / "diewell.duckdb")
    working.parent.mkdir()
    random_numbers(working)
    before = working.read_bytes()

    outcome = run_limited("keep_readable_by_analysts", working)

    assert outcome["raised"] is not None  # the rewrite could not be written
    assert sorted(p.name for p in working.parent.iterdir()) == ["diewell.duckdb"]
    assert working.read_bytes() == before
