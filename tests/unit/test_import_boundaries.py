"""Each part imports only what it may (docs/DEVELOPERS.md, "The map").

- transforms/ holds pure functions: it imports nothing of the project but itself, and no
  I/O or orchestration library (no DuckDB, Prefect, GX, pyarrow's file readers).
- Nothing outside flows/ knows the orchestrator: only flows/ and the command line (which
  starts a flow) import Prefect or flows/.
- flows/ holds no business logic: it calls diewell's functions, never the SQL layer's or
  the rules' internals directly (no duckdb queries of its own beyond passing a connection).

Imports are read from the source (every `import` and `from ... import`, at any depth, so an
import inside a function counts too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PROJECT = ("diewell", "transforms", "flows", "warehouse", "expectations")
ORCHESTRATION = ("prefect", "flows")
# What transforms/ may import besides itself: the standard library and these.
PURE_LIBRARIES = ("numpy", "scipy", "polars")
STANDARD_LIBRARY = {"__future__", "collections", "dataclasses", "datetime", "functools"}
STANDARD_LIBRARY |= {"hashlib", "hmac", "math", "typing", "statistics", "itertools", "enum"}
STANDARD_LIBRARY |= {"calendar", "re", "abc", "numbers", "operator", "decimal", "fractions"}


def imports(path: Path) -> set[str]:
    """The top-level names of every module path imports (absolute imports only)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def sources(part: str) -> list[Path]:
    return sorted((REPO / part).rglob("*.py"))


def top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize("path", sources("transforms"), ids=lambda p: p.name)
def test_transforms_are_pure(path):
    allowed = {"transforms", *PURE_LIBRARIES, *STANDARD_LIBRARY}
    unexpected = sorted(m for m in imports(path) if top(m) not in allowed)
    assert not unexpected, f"transforms/{path.name} imports {unexpected}"


ORCHESTRATOR_FREE = [
    p for part in ("diewell", "transforms", "warehouse", "expectations") for p in sources(part)
]
ENTRY_POINTS = {REPO / "diewell" / "cli.py"}  # starts a flow, so it may import one


@pytest.mark.parametrize(
    "path",
    [p for p in ORCHESTRATOR_FREE if p not in ENTRY_POINTS],
    ids=lambda p: p.relative_to(REPO).as_posix(),
)
def test_nothing_but_the_flows_knows_the_orchestrator(path):
    unexpected = sorted(m for m in imports(path) if top(m) in ORCHESTRATION)
    assert not unexpected, f"{path.relative_to(REPO)} imports {unexpected}"


def test_the_checks_look_at_real_files():
    # The parametrised tests above would pass vacuously on an empty list.
    assert len(sources("transforms")) >= 8
    assert len(ORCHESTRATOR_FREE) >= 20
    assert {"prefect", "flows"} & {top(m) for m in imports(REPO / "diewell" / "cli.py")}


def test_a_forbidden_import_is_caught(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from diewell import warehouse\n    import prefect\n")
    assert {"diewell", "prefect"} <= {top(m) for m in imports(bad)}
