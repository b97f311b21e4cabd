"""A refresh in a process of its own, for the crash test: it prints a line at each step so
the test can kill it with SIGKILL at a chosen point.

    python -m tests.warehouse.crash_worker CONFIG RUN_ID
"""

from __future__ import annotations

import sys

from diewell import pipeline
from diewell.config import load_config
from diewell.ingest import ingest_landing


def say(line: str) -> None:
    print(line, flush=True)


def main(config_path: str, run_id: str) -> None:
    config = load_config(config_path)
    con = pipeline.open_warehouse(config)
    pipeline.start_run(con, config, run_id)
    ingest_landing(con, config, run_id, lambda done, total, outcome: say(f"file {done}"))
    say("build")
    pipeline.build(con)
    say("compute")
    release = pipeline.release_id(con, config)
    values = pipeline.compute(con, config, release)
    say("publish")
    pipeline.publish_release(con, values, config, release)
    summary = pipeline.RunSummary(run_id, release_id=release)
    pipeline.finish_run(con, summary, "completed")
    pipeline.close_warehouse(con)
    say("swap")
    pipeline.publish_warehouse(config)
    say("done")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
