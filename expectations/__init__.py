"""The Great Expectations suites, one per extract (suites/<extract>.json): the extract contracts.

The suites present are the extracts: `extract_names()` lists them, and everything that is
per extract (the extract names a configuration may use, the staging tables, the current-record
rules, the data dictionary of their columns) follows from them. diewell reads the project's
suites, or the folder `$DIEWELL_SUITES_DIR` names (read here, once, when diewell starts).
"""

from __future__ import annotations

from pathlib import Path

from diewell import settings

SUITES_ENV = settings.SUITES_DIR
PROJECT_SUITES = Path(__file__).resolve().parent / "suites"


def suites_dir() -> Path:
    """The folder of suites diewell reads: $DIEWELL_SUITES_DIR when set, else the project's."""
    return settings.path(SUITES_ENV) or PROJECT_SUITES


def extract_names(folder: Path | None = None) -> tuple[str, ...]:
    """The extracts, one per suite file, in name order."""
    return tuple(sorted(p.stem for p in (folder or suites_dir()).glob("*.json")))
