"""A release's identity: derived from everything that determines its content, so the same
inputs and code publish byte-identical files under the same id, and a code fix a new one."""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from diewell import __version__
from diewell.expectations import PROJECT_SUITES
from diewell.expectations.contracts import SUITES_DIR
from diewell.release.benchmarking import benchmarks_path

if TYPE_CHECKING:
    from diewell.config import Config

# The code that shapes a published figure: the packages whose source goes into the release
# id. Every file of these kinds under them counts, so a fix to a statistic, to disclosure
# control, to a trend or to how a row loads gives a new release.
CODE_PACKAGES = ("diewell", "diewell.transforms", "diewell.warehouse", "diewell.expectations")


CODE_SUFFIXES = (".py", ".sql", ".yaml", ".json")


def code_roots() -> list[Path]:
    """The folders of CODE_PACKAGES wherever they are installed (each its own folder:
    diewell.transforms is transforms/ beside diewell/), and the suites read when they are
    another folder's ($DIEWELL_SUITES_DIR): a suite shapes what loads."""
    roots = [
        Path(importlib.import_module(name).__file__).resolve().parent for name in CODE_PACKAGES
    ]
    if SUITES_DIR.resolve() != PROJECT_SUITES.resolve():
        roots.append(SUITES_DIR)
    return roots


def code_digest(roots: list[Path] | None = None) -> str:
    """A digest of every source file (CODE_SUFFIXES) under the code roots, by path and bytes."""
    digest = hashlib.sha256()
    for root in code_roots() if roots is None else roots:
        for path in sorted(root.rglob("*")):
            if path.suffix in CODE_SUFFIXES and path.is_file() and "__pycache__" not in path.parts:
                digest.update(f"{root.name}/{path.relative_to(root).as_posix()}".encode())
                digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def release_id(con: duckdb.DuckDBPyConnection, config: Config) -> str:
    """The publication's identifier, derived from everything that determines its content.

    The current input files (their checksums), the source of the code that shapes the
    figures (code_digest: statistics, disclosure control, trend, SII, loading, the SQL, the
    catalogue and the suites), the benchmarks file (benchmarks_digest), the code version, the ICS's code and name, the disclosure
    settings, and which provider is registered for which extract (a period is data_complete
    only once every registered provider has delivered for it, so registering or removing one
    changes published rows with the same files). Running the pipeline again on the same
    inputs with the same code gives the same release id and therefore byte-identical
    published files; a code fix gives a new one. Provider names are not published: a renamed
    provider keeps the id.
    """
    digest = hashlib.sha256()
    rows = con.execute(
        "SELECT sha256 FROM landing_files WHERE status = 'loaded' ORDER BY sha256"
    ).fetchall()
    for (sha,) in rows:
        digest.update(sha.encode())
    digest.update(code_digest().encode())
    digest.update(benchmarks_digest(config).encode())
    settings = (
        __version__,
        config.ics_code,
        config.ics_name,
        config.suppress_up_to,
        config.round_to,
        registrations(config),
    )
    digest.update(repr(settings).encode())
    return "r" + digest.hexdigest()[:16]


def benchmarks_digest(config: Config) -> str:
    """The benchmarks file's bytes (the ICS's, or the project's England figures): they are
    published beside the rows (benchmarks.parquet). A missing file digests as such; the
    disclosure control step then fails the run naming it."""
    path = benchmarks_path(config)
    if not path.is_file():
        return f"missing:{path.name}"
    return hashlib.sha256(path.read_bytes()).hexdigest()


def registrations(config: Config) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Each registered provider's code and extracts, in a fixed order: the part of the
    providers' configuration that shapes published rows (data_complete)."""
    return tuple(sorted((p.code, tuple(sorted(p.extracts))) for p in config.providers))
