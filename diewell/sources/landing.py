"""The landing folder: which files wait, in what order, and where each goes after its load.

Before a file is read it is claimed: renamed out of the landing folder into a private slot
(`landing/.ingesting/<slot>/`), so a re-delivery that lands while the file is being loaded
(the MESH pull runs beside the load) arrives as a new file for the next run, and what is
archived is exactly what was loaded. However a run ends, what it claimed and did not finish
goes back to the landing folder (a file a killed run left claimed takes its place by arrival
in the next run). Among the files of one extract, provider and period end waiting at once,
the one that arrived last is the delivery (extracts.md v3). Files are taken a window at a
time (WINDOW_FILES, WINDOW_BYTES); a loaded file moves to the archive, a rejected one to the
rejected area with its reason beside it."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from diewell.expectations.files import (
    Delivery,
    FileRejected,
    discover,
    parse_file_name,
    sha256_of,
    shown_name,
    stored_name,
)
from diewell.transforms.sender_text import sender_logger

if TYPE_CHECKING:
    from diewell.config import Config


# Files are read and validated a window at a time (one query per extract in the window), then
# loaded one by one: many small files cost little more than one large one, and memory stays
# bounded by the window.
WINDOW_FILES = 256


WINDOW_BYTES = 256 << 20

log = sender_logger("diewell.sources.landing")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


CLAIM_DIR = ".ingesting"  # under the landing folder; hidden, so never listed as a delivery


def landing_in_order(config: Config) -> tuple[list[Path], list[tuple[Path, Path]]]:
    """Every file to ingest, reference data first, then by period (a file whose name does not
    parse first, to be rejected), and the deliveries superseded on arrival, each with the one
    that supersedes it.

    Among the files of one extract, provider and period end waiting at once, in whatever
    sub-folders (or left claimed by a run that was killed), the one that arrived last
    (modification time, then name) is the delivery (extracts.md v3)."""
    paths = [*left_claimed(config), *discover(config.landing)]
    named: list[tuple[tuple, Path]] = []
    waiting: dict[tuple, list[tuple[int, str, str, Path]]] = {}
    for path in paths:
        try:
            delivery = parse_file_name(path, config)
            info = path.lstat()
        except FileRejected:
            named.append(((-1, dt.date.min, "", "", shown_name(path.name)), path))
            continue
        except FileNotFoundError:  # gone since it was listed
            continue
        if not stat.S_ISREG(info.st_mode):  # a link, a pipe: rejected unread on its own
            named.append((delivery.sort_key, path))
            continue
        key = (delivery.extract, delivery.provider, delivery.period_end)
        waiting.setdefault(key, []).append((info.st_mtime_ns, path.name, str(path), path))
    superseded: list[tuple[Path, Path]] = []
    for files in waiting.values():
        *earlier, (_, _, _, latest) = sorted(files)
        named.append((parse_file_name(latest, config).sort_key, latest))
        superseded += [(path, latest) for _, _, _, path in earlier]
    return [path for _, path in sorted(named, key=lambda t: t[0])], superseded


def archive_superseded(config: Config, d: Delivery, path: Path, sha: str) -> None:
    folder = config.archive / d.extract / d.provider
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{path.name}.{sha[:12] or 'unread'}.superseded"
    if target.exists() and sha and sha256_of(target) == sha:
        path.unlink()
        return
    shutil.move(str(path), free_name(target, sha, 0))


def claim(config: Config, path: Path) -> Path | None:
    """Rename a listed file into a private slot of its own before it is read; None if it has
    gone since it was listed. A file already claimed (left by a crash) stays where it is."""
    claims = config.landing / CLAIM_DIR
    if path.parent.parent == claims:
        return path
    claims.mkdir(mode=0o700, exist_ok=True)
    slot = Path(tempfile.mkdtemp(dir=claims))  # 0700, a unique name
    claimed = slot / path.name
    try:
        os.rename(path, claimed)  # atomic, and moves a link itself, never its target
    except FileNotFoundError:
        slot.rmdir()
        return None
    return claimed


def release_slot(claimed: Path) -> None:
    """Remove the claimed file's slot once the file has been archived or rejected."""
    slot = claimed.parent
    if slot.parent.name == CLAIM_DIR and slot.is_dir() and not any(slot.iterdir()):
        slot.rmdir()


def release_claims(config: Config, claimed: set[Path]) -> None:
    """Put files this run claimed back in the landing folder, unless a file of the same name
    has landed since (then the claim stays, and the next run takes the later arrival)."""
    for path in sorted(claimed):
        target = config.landing / path.name
        try:
            if os.path.lexists(path) and not os.path.lexists(target):
                os.rename(path, target)
            release_slot(path)
        except OSError:
            log.warning("%s: left claimed; the next run takes it", shown_name(path.name))


def left_claimed(config: Config) -> list[Path]:
    """Files claimed by a run that did not finish, oldest claim first."""
    claims = config.landing / CLAIM_DIR
    if not claims.is_dir():
        return []
    slots = sorted(
        (s for s in claims.iterdir() if s.is_dir() and not s.is_symlink()),
        key=lambda s: s.lstat().st_mtime_ns,
    )
    left = []
    for slot in slots:
        entries = list(slot.iterdir())
        if not entries:
            slot.rmdir()
        left.extend(entries)
    return left


def landing_bytes(paths: list[Path]) -> int:
    """The files' sizes added up (an entry gone since it was listed counts nothing)."""
    total = 0
    for path in paths:
        try:
            total += path.lstat().st_size
        except FileNotFoundError:
            continue
    return total


def windows(paths: list[Path]) -> list[list[Path]]:
    """Consecutive runs of files, each at most WINDOW_FILES files and (but for a single larger
    file) WINDOW_BYTES bytes."""
    windows: list[list[Path]] = []
    current: list[Path] = []
    size = 0
    for path in paths:
        n = path.lstat().st_size
        if current and (len(current) >= WINDOW_FILES or size + n > WINDOW_BYTES):
            windows.append(current)
            current, size = [], 0
        current.append(path)
        size += n
    if current:
        windows.append(current)
    return windows


def move_rejected(config, path, sha, file_id: int, run_id, rejection: FileRejected) -> None:
    """Move a rejected file, its rejection committed, to the rejected area under a safe
    name, its reason files beside it."""
    shown = shown_name(path.name)
    config.rejected.mkdir(parents=True, exist_ok=True)
    target = free_name(config.rejected / stored_name(path.name, f"file-{file_id}"), sha, file_id)
    shutil.move(path, target)  # a link is moved as a link, a pipe refused: neither is opened
    detail = {
        "file_name": shown,
        "sha256": sha or None,
        "rule": rejection.rule,
        "reason": rejection.reason,
        "run_id": run_id,
        "rejected_at": _now().isoformat(timespec="seconds"),
    }
    if target.name != path.name:
        detail["stored_as"] = target.name
    Path(f"{target}.reason.json").write_text(json.dumps(detail, indent=2) + "\n", encoding="utf-8")
    Path(f"{target}.reason.txt").write_text(
        f"{shown} was rejected whole and nothing of it was loaded.\n"
        f"Reason ({rejection.rule}): {rejection.reason}\n",
        encoding="utf-8",
    )


def free_name(target: Path, sha: str, file_id: int) -> Path:
    """target, or target with the checksum (else the file id) inserted when that name is taken."""
    if os.path.lexists(target):
        return target.with_name(f"{target.stem}.{sha[:12] or file_id}{target.suffix}")
    return target


def archiving(config: Config, d: Delivery, path: Path, sha: str) -> Callable[[], None]:
    """The move of a loaded (or unchanged) file into the archive, to make once committed."""
    return lambda: archive(config, d, path, sha)


def archive(config: Config, d: Delivery, path: Path, sha: str) -> None:
    folder = config.archive / d.extract / d.provider
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        old = sha256_of(target)
        if old == sha:
            target.unlink()
        else:  # keep the replaced delivery beside it, named by its checksum
            target.rename(folder / f"{path.name}.{old[:12]}.superseded")
    shutil.move(str(path), target)


def is_reference(path: Path, config: Config) -> bool:
    """True for a delivery of reference data (an extract whose latest delivery replaces the
    whole table): it loads first in a run."""
    try:
        return parse_file_name(path, config).sort_key[0] == 0
    except FileRejected:
        return False
