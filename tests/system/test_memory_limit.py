"""A run's warehouse connection holds DuckDB to limits.warehouse_memory_mib (config.md's
`limits`, docs/CONFIGURATION.md), so its memory does not grow with the population."""

from __future__ import annotations

import dataclasses

from diewell import pipeline
from diewell.config import load_config
from tests.conftest import REPO, TinyIcs

PROVIDERS = [{"code": "QTT", "name": "ICB", "extracts": ["deaths"]}]


def _limit_mib(con) -> float:
    # DuckDB reports the setting in its own units, e.g. '1.0 GiB' or '512.0 MiB'
    text = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    number, unit = text.split()
    return float(number) * {"MiB": 1, "GiB": 1024}[unit]


def test_the_run_connection_has_the_configured_memory_limit(tmp_path, pseudo_key):
    config = load_config(TinyIcs(tmp_path / "ics", PROVIDERS).config_path)
    for mib in (config.warehouse_memory_mib, 512):
        con = pipeline.open_warehouse(dataclasses.replace(config, warehouse_memory_mib=mib))
        try:
            assert _limit_mib(con) == mib
        finally:
            pipeline.close_warehouse(con)


# Run in a process of its own, so that its resident set is DuckDB's work alone. It sorts 5M
# rows (some 500 MiB) into Arrow, lets them go and drops their table, then watches the
# resident set for up to 10 s.
GIVE_BACK = """
import sys, time
from pathlib import Path
import warehouse

def resident_mib():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) // 1024

con = warehouse.connect(Path(sys.argv[1]), memory_mib=2048)
base = resident_mib()
con.execute("CREATE TABLE t AS SELECT i, md5(i::VARCHAR) AS s FROM range(5000000) r(i)")
rows = con.sql("SELECT * FROM t ORDER BY s").to_arrow_table()
worked = resident_mib()
del rows
con.execute("DROP TABLE t")
after = resident_mib()
for _ in range(40):
    if after - base <= (worked - base) / 3:
        break
    time.sleep(0.25)
    after = resident_mib()
print("resident", base, worked, after)
"""


def test_memory_duckdb_frees_goes_back_to_the_system(tmp_path):
    """DuckDB's allocator keeps what it frees unless its background threads purge it: without
    them a run's resident set after disclosure control stayed some 1 GiB above what DuckDB
    held (benchmarks/README.md), and that memory added to every later step's peak."""
    import subprocess
    import sys

    repo = REPO
    done = subprocess.run(
        [sys.executable, "-c", GIVE_BACK, str(tmp_path / "w.duckdb")],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("resident"))
    base, worked, after = map(int, line.split()[1:])
    assert worked - base > 300  # the work held some hundreds of MiB
    # within 10 s, at least two thirds of them are given back
    assert after - base <= (worked - base) / 3, (base, worked, after)
