"""A refresh in a process of its own, for the crash test: it prints a line at each step so
the test can kill it with SIGKILL at a chosen point.

    python -m tests.system.crash_worker CONFIG RUN_ID
"""

from __future__ import annotations

import sys

from diewell import pipeline
from diewell.config import load_config


def say(line: str) -> None:
    print(line, flush=True)


def announced(name, fn, *args):
    """The step runner: say the step's name, then run it."""
    say(name)
    return fn(*args)


def main(config_path: str, run_id: str) -> None:
    config = load_config(config_path)
    pipeline.refresh(
        config,
        pipeline.RunSummary(run_id),
        step=announced,
        progress=lambda done, total, outcome: say(f"file {done}"),
    )
    say("done")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
