"""Finding and loading layout files: the ICS's folders first, then the built-in layouts.

A layout `<name>` is the file `<name>.yaml` in one of the ICS's folders (in the order given)
or in `builtin/`. The code list and lookup files it names are looked for beside it (and in a
`codelists/` or `lookups/` folder beside it), then among the built-in ones, so an ICS layout
may use its own lists or the project's. `extends: <layout>` starts from another layout (the
next one of that name when a file extends its own name, so an ICS can add to a built-in).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from diewell.expectations.layouts import reference
from diewell.expectations.layouts.model import (
    CodeList,
    Layout,
    LayoutError,
    LayoutNotFound,
    Lookup,
    problem,
)
from diewell.expectations.layouts.validate import Checker
from diewell.expectations.layouts.validate_target import check_target

HERE = Path(__file__).resolve().parent
BUILTIN_LAYOUTS = HERE / "builtin"
BUILTIN_CODELISTS = HERE / "codelists"
BUILTIN_LOOKUPS = HERE / "lookups"
SUFFIX = ".yaml"
TOP_KEYS = {"layout", "description", "extends", "source", "codelists", "lookups", "targets"}
MERGED_BY_ENTRY = ("codelists", "lookups", "targets")


def builtin_layout_names() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in BUILTIN_LAYOUTS.glob(f"*{SUFFIX}")))


def _candidates(name: str, extra_folders: Sequence[Path]) -> list[Path]:
    folders = [Path(f) for f in extra_folders] + [BUILTIN_LAYOUTS]
    return [f / f"{name}{SUFFIX}" for f in folders if (f / f"{name}{SUFFIX}").is_file()]


def find_layout(name: str, extra_folders: Sequence[Path] = (), after: Path | None = None) -> Path:
    """The file of layout `name` (the first after `after`, when a file extends its own name)."""
    if not isinstance(name, str) or Path(name).name != name or not name:
        raise LayoutNotFound(f"{name!r} is not a layout name")
    found = _candidates(name, extra_folders)
    if after is not None:
        resolved = [p.resolve() for p in found]
        found = (
            found[resolved.index(after.resolve()) + 1 :] if after.resolve() in resolved else found
        )
    if not found:
        known = sorted(
            {
                p.stem
                for f in [*map(Path, extra_folders), BUILTIN_LAYOUTS]
                for p in f.glob(f"*{SUFFIX}")
            }
        )
        raise LayoutNotFound(
            f"no layout {name!r} in the configuration's layout folders or the built-in layouts "
            f"(known: {', '.join(known)})"
        )
    return found[0]


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise problem(path, "", f"cannot be read: {exc}") from None
    except yaml.YAMLError as exc:
        raise problem(path, "", f"is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise problem(path, "", "must be a YAML mapping (layout:, source:, targets: ...)")
    unknown = sorted(set(raw) - TOP_KEYS)
    if unknown:
        raise problem(path, unknown[0], f"unknown key (known: {sorted(TOP_KEYS)})")
    if raw.get("layout") != path.stem:
        raise problem(path, "layout", f"must be the file's name, {path.stem!r}")
    return raw


def _codelist(name: str, value: Any, path: Path) -> CodeList:
    parts = value if isinstance(value, list) else [value]
    folders = [path.parent / "codelists", path.parent, BUILTIN_CODELISTS]
    codes: set[str] = set()
    provenance = []
    for i, part in enumerate(parts):
        key = f"codelists.{name}" + (f"[{i}]" if isinstance(value, list) else "")
        if not isinstance(part, dict) or not isinstance(part.get("file"), str):
            raise problem(path, key, "must be {file: <name>.csv} (with list: or column: if needed)")
        if set(part) - {"file", "list", "column"}:
            raise problem(path, key, "knows only file, list and column")
        found = reference.find_file(part["file"], folders, path, key)
        got, prov = reference.read_codes(
            found, path, key, str(part.get("column", "code")), part.get("list")
        )
        codes |= got
        provenance.append(prov)
    if not codes:
        raise problem(path, f"codelists.{name}", "holds no codes")
    return CodeList(name, frozenset(codes), tuple(provenance))


def _lookup(name: str, value: Any, path: Path) -> Lookup:
    key = f"lookups.{name}"
    if not isinstance(value, dict):
        raise problem(path, key, "must be {supplied: true} or {file: <name>.csv, key: <column>}")
    if value.get("supplied") is True:
        if set(value) - {"supplied", "required"}:
            raise problem(path, key, "a supplied lookup knows only supplied and required")
        return Lookup(name, supplied=True, required=bool(value.get("required", False)))
    if not isinstance(value.get("file"), str) or not isinstance(value.get("key"), str):
        raise problem(path, key, "needs file and key (and value, for a map), or supplied: true")
    if set(value) - {"file", "key", "value"}:
        raise problem(path, key, "a file lookup knows only file, key and value")
    folders = [path.parent / "lookups", path.parent, BUILTIN_LOOKUPS]
    found = reference.find_file(value["file"], folders, path, key)
    data, prov = reference.read_lookup(found, path, key, value["key"], value.get("value"))
    if isinstance(data, dict):
        return Lookup(name, supplied=False, values=data, provenance=(prov,))
    return Lookup(name, supplied=False, keys=data, provenance=(prov,))


def _entries(raw: dict, section: str, path: Path) -> dict:
    value = raw.get(section) or {}
    if not isinstance(value, dict):
        raise problem(path, section, "must be a mapping")
    return value


def _load_merged(path: Path, extra_folders: Sequence[Path], chain: tuple[Path, ...]) -> dict:
    """The file's sections, with the layout it extends underneath (code lists and lookups
    already read, each relative to the file that names it)."""
    if path.resolve() in chain:
        raise problem(path, "extends", "layouts extend each other in a circle")
    raw = _read(path)
    own = {
        "description": raw.get("description"),
        "source": raw.get("source"),
        "codelists": {
            n: _codelist(n, v, path) for n, v in _entries(raw, "codelists", path).items()
        },
        "lookups": {n: _lookup(n, v, path) for n, v in _entries(raw, "lookups", path).items()},
        "targets": dict(_entries(raw, "targets", path)),
    }
    if raw.get("extends") is None:
        return own
    try:
        parent_path = find_layout(str(raw["extends"]), extra_folders, after=path)
    except LayoutNotFound as exc:
        raise problem(path, "extends", str(exc)) from None
    merged = _load_merged(parent_path, extra_folders, (*chain, path.resolve()))
    for section in MERGED_BY_ENTRY:
        merged[section] = {**merged[section], **own[section]}
    if own["source"] is not None:
        merged["source"] = {**(merged["source"] or {}), **own["source"]}
    merged["description"] = own["description"] or merged["description"]
    return merged


def _source(value: Any, path: Path) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if not isinstance(value, dict) or not value.get("required"):
        raise problem(path, "source", "must list the required source columns (required: [...])")
    if set(value) - {"required", "optional"}:
        raise problem(path, "source", "knows only required and optional")
    out = []
    for part in ("required", "optional"):
        names = value.get(part) or []
        if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
            raise problem(path, f"source.{part}", "must be a list of column names")
        out.append(tuple(n.strip() for n in names))
    lowered = [n.lower() for n in out[0] + out[1]]
    if len(set(lowered)) != len(lowered):
        raise problem(path, "source", "names a column twice (names are matched ignoring case)")
    return out[0], out[1]


def load_layout(name: str, extra_folders: Sequence[Path] = ()) -> Layout:
    """The layout `name`, from the ICS's folders first, then the built-in layouts, validated."""
    path = find_layout(name, extra_folders)
    merged = _load_merged(path, extra_folders, ())
    required, optional = _source(merged["source"], path)
    if not merged["targets"]:
        raise problem(path, "targets", "must name at least one contract extract")
    checker = Checker(path, [*required, *optional], set(merged["codelists"]), merged["lookups"])
    targets = {}
    for extract, spec in merged["targets"].items():
        if not isinstance(extract, str):
            raise problem(path, "targets", f"{extract!r} is not an extract name")
        targets[extract] = check_target(checker, extract, spec, f"targets.{extract}")
    description = merged["description"]
    if description is not None and not isinstance(description, str):
        raise LayoutError(f"layout file {path}: description: must be text")
    return Layout(
        name=name,
        description=(description or "").strip(),
        path=path,
        required=required,
        optional=optional,
        codelists=merged["codelists"],
        lookups=merged["lookups"],
        targets=targets,
    )
