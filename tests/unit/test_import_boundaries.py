"""Each part imports only what it may (docs/DEVELOPERS.md, "The map").

Imports point down, never up or sideways:

    flows -> the entry (diewell: cli, config, pipeline, permissions)
          -> sources (landing, MESH, reprocess, ingest) | release (disclosure control, files,
             audit, promotion, region, report) | synth
          -> warehouse -> expectations -> transforms, and the leaves diewell.steps and
             diewell.settings

- transforms/ holds pure functions: nothing of the project but itself, no I/O library.
- Only flows/ (and the command line, which starts a flow) knows the orchestrator (Prefect).
- No import cycle, between modules as between parts.
- The parts are one distribution: flows/, transforms/, expectations/ and warehouse/ install as
  diewell.flows, diewell.transforms, diewell.expectations and diewell.warehouse, and nothing
  imports them by a bare generic name such as `flows`.
- Every logger is a sender_logger (what a sender wrote reaches no log raw).

Imports are read from the source (every `import` and `from ... import`, at any depth, so an
import inside a function counts too), except those under `if TYPE_CHECKING:`, which name a
type for an annotation and import nothing when the code runs.
"""

from __future__ import annotations

import ast
import tomllib
from collections import defaultdict
from pathlib import Path

import pytest

from tests.conftest import REPO

FOLDERS = ("flows", "transforms", "expectations", "warehouse")  # each installs as diewell.<folder>
ORCHESTRATION = ("prefect", "prefect_dask", "diewell.flows")
# What transforms/ may import besides itself: the standard library and these.
PURE_LIBRARIES = ("numpy", "scipy", "polars")
STANDARD_LIBRARY = {"__future__", "collections", "dataclasses", "datetime", "functools"}
STANDARD_LIBRARY |= {"hashlib", "hmac", "math", "typing", "statistics", "itertools", "enum"}
STANDARD_LIBRARY |= {"calendar", "re", "abc", "numbers", "operator", "decimal", "fractions"}
STANDARD_LIBRARY |= {"html", "logging"}  # sender_text: neutral text for pages and log lines

# The parts, each with the parts it may import (besides itself and third-party libraries).
# Leaves: pure functions, and modules of diewell/ that import nothing of the project but
# transforms (the step runner, the settings, the version, the folders' permissions).
LEAVES = {
    "diewell.transforms",
    "diewell.steps",
    "diewell.settings",
    "diewell.__init__",
    "diewell.permissions",
}
MAY_IMPORT = {
    "diewell.transforms": set(),
    "diewell.steps": set(),
    "diewell.settings": set(),
    "diewell.__init__": set(),
    "diewell.permissions": {"diewell.transforms"},
    "diewell.expectations": LEAVES,
    "diewell.warehouse": {"diewell.expectations"} | LEAVES,
    "diewell.sources": {"diewell.warehouse", "diewell.expectations"} | LEAVES,
    "diewell.release": {"diewell.warehouse", "diewell.expectations"} | LEAVES,
    "diewell.synth": {"diewell.expectations"} | LEAVES,
}
PARTS = tuple(MAY_IMPORT)
ENTRY = "diewell"  # cli, config, pipeline, docs: may import every part but flows
ENTRY_MODULES = {"cli", "pipeline", "docs", "permissions", "steps", "settings", "__init__"}


def imports(path: Path) -> set[str]:
    """The modules `path` imports when it runs (absolute imports; not under TYPE_CHECKING)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped |= {id(n) for inner in node.body for n in ast.walk(inner)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "diewell":  # `from diewell import pipeline`: each a module
                found |= {f"diewell.{alias.name}" for alias in node.names}
            else:
                found.add(node.module)
    return found


def sources(part: str) -> list[Path]:
    return sorted(p for p in (REPO / part).rglob("*.py") if ".venv" not in p.parts)


def module_name(path: Path) -> str:
    """The installed name of a source file: diewell.flows.refresh for flows/refresh.py."""
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[0] in FOLDERS:
        parts = ["diewell", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def part_of(module: str) -> str:
    """The part a module belongs to: diewell.sources for diewell.sources.ingest, diewell.flows
    for flows, `diewell` for an entry module, else the top-level library name."""
    names = module.split(".")
    if names[0] != "diewell":
        return names[0]
    if len(names) == 1:
        return ENTRY
    second = f"diewell.{names[1]}"
    if second in PARTS or names[1] == "flows":
        return second
    if names[1] == "__version__":
        return "diewell.__init__"
    return ENTRY


PRODUCT = [p for part in ("diewell", *FOLDERS) for p in sources(part)]


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: p.relative_to(REPO).as_posix())
def test_each_part_imports_only_the_parts_below_it(path):
    mine = part_of(module_name(path))
    if mine in (ENTRY, "diewell.flows"):
        return  # the entry may import every part; flows may import the entry
    allowed = MAY_IMPORT[mine] | {mine}
    wrong = sorted(
        m for m in imports(path) if part_of(m).startswith("diewell") and part_of(m) not in allowed
    )
    assert not wrong, f"{path.relative_to(REPO)} ({mine}) imports {wrong}: imports point down"


@pytest.mark.parametrize(
    "path", sorted(REPO.joinpath("diewell").glob("*.py")), ids=lambda p: p.name
)
def test_only_the_entry_lies_directly_in_diewell(path):
    assert path.stem in ENTRY_MODULES, f"diewell/{path.name}: give it a part's folder"


@pytest.mark.parametrize("path", sources("transforms"), ids=lambda p: p.name)
def test_transforms_are_pure(path):
    allowed = {"diewell.transforms", *PURE_LIBRARIES, *STANDARD_LIBRARY}
    unexpected = sorted(
        m for m in imports(path) if m.split(".")[0] not in allowed and part_of(m) not in allowed
    )
    assert not unexpected, f"transforms/{path.name} imports {unexpected}"


ENTRY_POINTS = set(sources("diewell/cli"))  # the command line starts a flow: it may import one


@pytest.mark.parametrize(
    "path",
    [p for p in PRODUCT if p not in ENTRY_POINTS and part_of(module_name(p)) != "diewell.flows"],
    ids=lambda p: p.relative_to(REPO).as_posix(),
)
def test_nothing_but_the_flows_knows_the_orchestrator(path):
    unexpected = sorted(
        m for m in imports(path) if m.split(".")[0] in ORCHESTRATION or part_of(m) in ORCHESTRATION
    )
    assert not unexpected, f"{path.relative_to(REPO)} imports {unexpected}"


def _graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (a package import counts as its __init__).
    A package's __init__ re-exporting its own modules is not an edge: importing any module
    of a package runs its __init__ first anyway."""
    names = {module_name(p): p for p in PRODUCT}
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in names.items():
        package = path.name == "__init__.py"
        for m in imports(path):
            while m and m not in names:  # `from x.y import z` where z is not a module
                m = m.rpartition(".")[0]
            if m and m != name and not (package and m.startswith(name + ".")):
                graph[name].add(m)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every import cycle, each as the modules around it (Tarjan's strongly connected parts)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            part = []
            while True:
                top = stack.pop()
                part.append(top)
                if top == node:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back():
    assert cycles(_graph()) == [], "import cycles"


def test_the_cycle_check_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_checks_look_at_real_files():
    # The parametrised tests above would pass vacuously on an empty list.
    assert len(sources("transforms")) >= 8
    assert len(PRODUCT) >= 60
    assert {"prefect", "diewell.flows"} & {
        part_of(m) for m in imports(REPO / "diewell" / "cli" / "commands.py")
    } | {m.split(".")[0] for m in imports(REPO / "diewell" / "cli" / "commands.py")}


def test_a_forbidden_import_is_caught(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from diewell.config import Config\n"
        "def f():\n    from diewell import warehouse\n    import prefect\n"
    )
    assert imports(bad) == {"typing", "diewell.warehouse", "prefect"}


EVERY_SOURCE = [p for part in ("diewell", *FOLDERS, "tests", "benchmarks") for p in sources(part)]


@pytest.mark.parametrize("path", EVERY_SOURCE, ids=lambda p: p.relative_to(REPO).as_posix())
def test_the_parts_are_imported_by_their_installed_names(path):
    # From the checkout `import flows` would work (the repository is on sys.path); installed,
    # only diewell.flows exists.
    bare = sorted(m for m in imports(path) if m.split(".")[0] in FOLDERS)
    assert not bare, f"{path.relative_to(REPO)} imports {bare}: use diewell.<part>"


def test_the_distribution_lists_every_package_under_one_name():
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    setuptools = config["tool"]["setuptools"]
    assert setuptools["package-dir"] == {f"diewell.{folder}": folder for folder in FOLDERS}
    on_disk = {module_name(init) for part in ("diewell", *FOLDERS) for init in
               (REPO / part).rglob("__init__.py")}  # fmt: skip
    assert set(setuptools["packages"]) == on_disk
    assert all(name == "diewell" or name.startswith("diewell.") for name in setuptools["packages"])


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(REPO)))
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


@pytest.mark.parametrize("path", PRODUCT, ids=lambda p: str(p.relative_to(REPO)))
def test_only_the_settings_module_reads_the_environment(path):
    """Every environment variable is resolved in diewell/settings.py, once and named there."""
    if path == REPO / "diewell" / "settings.py":
        return
    text = path.read_text(encoding="utf-8")
    assert "os.environ" not in text and "getenv(" not in text, (
        f"{path.relative_to(REPO)} reads the environment: use diewell.settings"
    )


@pytest.mark.parametrize("path", sources("flows"), ids=lambda p: p.name)
def test_the_flows_run_no_sql(path):
    """A flow reads like a table of contents: the SQL lives in warehouse/."""
    text = path.read_text(encoding="utf-8")
    assert ".execute(" not in text and ".sql(" not in text, f"flows/{path.name} runs SQL"
