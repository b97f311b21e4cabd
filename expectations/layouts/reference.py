"""Code lists and lookup files: CSV data with a provenance sidecar.

Every data file `<stem>.csv` has a sidecar `<stem>.source` beside it: a small YAML mapping
whose `source` names the public source (in words and addresses); other keys (`version`,
`copied_from`, `retrieved`, `derived`, `notes`) are kept as they are. A data file without its
sidecar, or a sidecar without `source`, does not load: data without provenance is not used.

A code list file has a header row and a `code` column (another column may be named); a file
holding several lists has a `list` column, and a layout names the list it means. A lookup
file has a key column and, for a map, a value column. Values are trimmed text.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import yaml

from diewell.expectations.layouts.model import Provenance, problem

SIDECAR_SUFFIX = ".source"
DETAIL_KEYS = ("version", "copied_from", "retrieved", "derived", "licence", "notes")


def sidecar(path: Path) -> Path:
    return path.with_suffix(SIDECAR_SUFFIX)


def read_provenance(path: Path, layout_file: Path, key: str) -> Provenance:
    """The provenance of a data file, from its sidecar (which must name a source)."""
    side = sidecar(path)
    if not side.is_file():
        raise problem(
            layout_file,
            key,
            f"{path.name} has no provenance: add {side.name} beside it with a `source:` line "
            "naming the public source it comes from",
        )
    try:
        meta = yaml.safe_load(side.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise problem(layout_file, key, f"{side.name} is not YAML: {exc}") from None
    if not isinstance(meta, dict) or not str(meta.get("source") or "").strip():
        raise problem(layout_file, key, f"{side.name} must name its `source:`")
    details = {k: str(meta[k]).strip() for k in DETAIL_KEYS if meta.get(k) is not None}
    return Provenance(file=path.name, source=str(meta["source"]).strip(), details=details)


def read_table(path: Path, layout_file: Path, key: str) -> list[dict[str, str]]:
    """A CSV data file's rows (header names and values trimmed)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(csv.DictReader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise problem(layout_file, key, f"{path.name} cannot be read: {exc}") from None
    return [
        {(k or "").strip(): (v or "").strip() for k, v in row.items() if k is not None}
        for row in rows
    ]


def find_file(name: str, folders: Sequence[Path], layout_file: Path, key: str) -> Path:
    """The first folder's file of that name (a plain file name, no folders in it)."""
    if Path(name).name != name or name in ("", ".", ".."):
        raise problem(layout_file, key, f"{name!r} must be a file name, with no folder")
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    raise problem(
        layout_file,
        key,
        f"no file {name} beside the layout or among the built-in data ({len(folders)} "
        "folders looked in)",
    )


def _column(rows: list[dict[str, str]], path: Path, column: str, layout_file: Path, key: str):
    if rows and column not in rows[0]:
        raise problem(layout_file, key, f"{path.name} has no column {column!r}")


def read_codes(
    path: Path, layout_file: Path, key: str, column: str = "code", list_name: str | None = None
) -> tuple[frozenset[str], Provenance]:
    """The codes of a code list file (of one list in it, when list_name is given)."""
    provenance = read_provenance(path, layout_file, key)
    rows = read_table(path, layout_file, key)
    _column(rows, path, column, layout_file, key)
    if list_name is not None:
        _column(rows, path, "list", layout_file, key)
        rows = [r for r in rows if r["list"] == list_name]
        if not rows:
            raise problem(layout_file, key, f"{path.name} has no list {list_name!r}")
    return frozenset(r[column] for r in rows if r[column]), provenance


def read_lookup(
    path: Path, layout_file: Path, key: str, key_column: str, value_column: str | None
) -> tuple[dict[str, str] | frozenset[str], Provenance]:
    """A lookup file as a map (key -> value) or, without a value column, a set of keys."""
    provenance = read_provenance(path, layout_file, key)
    rows = read_table(path, layout_file, key)
    _column(rows, path, key_column, layout_file, key)
    if value_column is None:
        return frozenset(r[key_column] for r in rows if r[key_column]), provenance
    _column(rows, path, value_column, layout_file, key)
    return {r[key_column]: r[value_column] for r in rows if r[key_column]}, provenance
