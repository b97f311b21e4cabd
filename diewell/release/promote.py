"""TODO docstring."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


STAGING = ".staging"


RELEASES = "releases"


CURRENT = "current"


def _fsync(path: Path) -> None:
    """Flush a file's or a folder's contents (a folder: its entries) to the disk."""
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if path.is_dir() else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(folder: Path) -> None:
    """Every file and folder under folder, and folder itself, flushed: the deepest first."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        _fsync(path)
    _fsync(folder)


def point_current_at(outputs: Path, run_id: str) -> None:
    """Switch `current` to releases/<run_id> in one step, durably (the folder flushed after)."""
    link_tmp = outputs / f".{CURRENT}-{run_id}"
    link_tmp.unlink(missing_ok=True)
    link_tmp.symlink_to(Path(RELEASES) / run_id)
    os.replace(link_tmp, outputs / CURRENT)  # replaces the old symlink in one step
    _fsync(outputs)


def promote(staging: Path, outputs: Path, run_id: str) -> Path:
    """Move an audited staging folder into releases/ and switch `current` to it atomically.

    Everything is flushed to the disk before each rename that makes it visible, so after a
    power cut `current` points at the old release or at the whole new one, never at files
    whose contents were still in memory.
    """
    releases = outputs / RELEASES
    releases.mkdir(parents=True, exist_ok=True)
    release = releases / run_id
    _fsync_tree(staging)
    os.replace(staging, release)  # a rename within outputs/: atomic
    _fsync(staging.parent)
    _fsync(releases)
    point_current_at(outputs, run_id)
    return release
