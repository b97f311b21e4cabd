"""Each part imports only what it may (docs/DEVELOPERS.md, "The map").

- transforms/ holds pure functions: it imports nothing of the project but itself, and no
  I/O or orchestration library (no DuckDB, Prefect, GX, pyarrow's file readers).
- Nothing outside flows/ knows the orchestrator: only flows/ and the command line (which
  starts a flow) import Prefect or flows/.
- The parts are one distribution: flows/, transforms/, expectations/ and warehouse/ install as
  diewell.flows, diewell.transforms, diewell.expectations and diewell.warehouse (pyproject.toml
  maps each folder), and nothing imports them by a bare generic name such as `flows`.
- flows/ holds no business logic: it calls diewell's functions, never the SQL layer's or
  the rules' internals directly (no duckdb queries of its own beyond passing a connection).

Imports are read from the source (every `import` and `from ... import`, at any depth, so an
import inside a function counts too).
"""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FOLDERS = ("flows", "transforms", "expectations", "warehouse")  # each installs as diewell.<folder>
ORCHESTRATION = ("prefect", "diewell.flows")
# What transforms/ may import besides itself: the standard library and these.
PURE_LIBRARIES = ("numpy", "scipy", "polars")
STANDARD_LIBRARY = {"__future__", "collections", "dataclasses", "datetime", "functools"}
STANDARD_LIBRARY |= {"hashlib", "hmac", "math", "typing", "statistics", "itertools", "enum"}
STANDARD_LIBRARY |= {"calendar", "re", "abc", "numbers", "operator", "decimal", "fractions"}
STANDARD_LIBRARY |= {"html", "logging"}  # sender_text: neutral text for pages and log lines


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
    """The part a module belongs to: `diewell.flows` for diewell.flows.tasks, else its
    top-level name (`diewell` for diewell.pipeline, `prefect` for prefect.deployments)."""
    first, _, rest = module.partition(".")
    second = rest.split(".")[0]
    return f"{first}.{second}" if first == "diewell" and second in FOLDERS else first


@pytest.mark.parametrize("path", sources("transforms"), ids=lambda p: p.name)
def test_transforms_are_pure(path):
    allowed = {"diewell.transforms", *PURE_LIBRARIES, *STANDARD_LIBRARY}
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
    assert {"prefect", "diewell.flows"} & {top(m) for m in imports(REPO / "diewell" / "cli.py")}


def test_a_forbidden_import_is_caught(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from diewell import warehouse\n    import prefect\n")
    assert {"diewell", "prefect"} <= {top(m) for m in imports(bad)}


EVERY_SOURCE = [
    p
    for part in ("diewell", *FOLDERS, "tests", "benchmarks")
    for p in sources(part)
    if ".venv" not in p.parts
]


@pytest.mark.parametrize("path", EVERY_SOURCE, ids=lambda p: p.relative_to(REPO).as_posix())
def test_the_parts_are_imported_by_their_installed_names(path):
    # From the checkout `import flows` would work (the repository is on sys.path); installed,
    # only diewell.flows exists.
    bare = sorted(m for m in imports(path) if m.split(".")[0] in FOLDERS)
    assert not bare, f"{path.relative_to(REPO)} imports {bare}: use diewell.<part>"


def test_the_distribution_lists_every_package_under_one_name():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    mapped = setuptools["package-dir"]
    assert mapped == {f"diewell.{folder}": folder for folder in FOLDERS}
    on_disk = {
        ".".join(("diewell", *init.parent.relative_to(REPO / "diewell").parts))
        for init in (REPO / "diewell").rglob("__init__.py")
    }
    on_disk |= {
        f"diewell.{folder}" for folder in FOLDERS if (REPO / folder / "__init__.py").is_file()
    }
    assert set(setuptools["packages"]) == on_disk
    assert all(name == "diewell" or name.startswith("diewell.") for name in setuptools["packages"])


PROJECT_SOURCES = [p for part in ("diewell", *FOLDERS) for p in sources(part)]


@pytest.mark.parametrize("path", PROJECT_SOURCES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_logger_writes_what_a_sender_wrote_neutral(path):
    """A module's logger is made by transforms.sender_text.sender_logger, whose filter masks
    NHS-number shapes and escapes control characters in every message (extracts.md v3):
    a logger made with logging.getLogger would let a sender's text reach the log raw."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Attribute)
            and node.value.func.attr == "getLogger"
            and any(isinstance(t, ast.Name) and t.id in ("log", "logger") for t in node.targets)
        ):
            pytest.fail(f"{path.relative_to(REPO)}:{node.lineno}: use sender_logger(name)")
