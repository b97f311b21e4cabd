"""Who may read what diewell writes: identifiable data is the service account's alone.

The archive (raw extracts: NHS numbers, dates of birth, causes of death), the rejected files,
the warehouse folder (the warehouse, its working copy, the cached results, the lock) hold
identifiable or row-level data. Every entry point (the CLI, each flow) sets the umask to
PRIVATE_UMASK, so whatever diewell creates is the owner's only (folders 0700, files 0600);
`protect` also tightens folders and files made before that rule, saying so in the log.
A published release is disclosure-controlled and made to be shared: `share` opens it to
everyone on the machine for reading.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from diewell.transforms.sender_text import sender_logger

log = sender_logger("diewell")

PRIVATE_UMASK = 0o077  # nothing diewell creates is readable by group or others
PRIVATE_FOLDER = 0o700
PRIVATE_FILE = 0o600
SHARED_FOLDER = 0o755
SHARED_FILE = 0o644
OPEN_TO_OTHERS = 0o077  # the group and other bits


def private_umask() -> None:
    """Make everything this process creates from now on readable by its owner only."""
    os.umask(PRIVATE_UMASK)


def _set_mode(path: Path, folder_mode: int, file_mode: int) -> bool:
    """Set a folder's or regular file's mode (never through a link); True when it changed."""
    info = path.lstat()
    if stat.S_ISDIR(info.st_mode):
        wanted = folder_mode
    elif stat.S_ISREG(info.st_mode):
        wanted = file_mode
    else:
        return False  # a link or anything else: its target is not ours to change
    if stat.S_IMODE(info.st_mode) == wanted:
        return False
    os.chmod(path, wanted)
    return True


def _walk(folder: Path):
    yield folder
    for root, dirs, files in os.walk(folder):
        for name in (*dirs, *files):
            yield Path(root, name)


def protect(*folders: Path, announce: bool = True) -> int:
    """Create each folder 0700 and tighten what it holds (folders 0700, files 0600).

    Returns how many modes were changed; with `announce`, logs one line per folder that
    needed it (on start: data left open by an earlier version or by hand).
    """
    total = 0
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        changed = sum(_set_mode(p, PRIVATE_FOLDER, PRIVATE_FILE) for p in _walk(folder))
        if changed and announce:
            log.warning(
                "permissions: %s held %d folder(s) or file(s) others could read; now the "
                "owner's only (folders 0700, files 0600)",
                folder,
                changed,
            )
        total += changed
    return total


def share(release: Path, root: Path) -> None:
    """Open a published (disclosure-controlled) release for everyone to read: its folders and
    files, and the folders from `root` down to it."""
    for p in _walk(release):
        _set_mode(p, SHARED_FOLDER, SHARED_FILE)
    for parent in release.parents:
        if not parent.is_relative_to(root):
            break
        _set_mode(parent, SHARED_FOLDER, SHARED_FILE)
