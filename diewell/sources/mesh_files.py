"""Landing a MESH message durably: streamed to a hidden part file, fsynced, renamed under its
contract name (or into the rejected area with its reason); one pull at a time (a lock)."""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diewell.config import Config
from diewell.expectations.files import (
    FILE_NAME,
    FileRejected,
    is_plain_name,
    sha256_of,
    shown_name,
)
from diewell.sources.mesh_client import MeshMessage
from diewell.transforms.sender_text import sender_logger

log = sender_logger("diewell.sources.mesh")

READ_BLOCK = 1 << 20  # bytes read from the message stream at a time


LOCK_NAME = ".mesh-pull.lock"


PART_PREFIX = ".mesh-"


PART_SUFFIX = ".part"


def write_landed(
    config: Config, message: MeshMessage, message_id: str, sender: str | None, name: str
) -> MeshMessageOutcome:
    target = config.landing / name
    if target.parent != config.landing:  # _check_contract refuses such names; be sure
        raise ValueError("a landing file name must not hold a folder path")
    part, sha, size = stream_to_part(message, config.landing, message_id)
    outcome = MeshMessageOutcome(
        message_id, "landed", sender=sender, file_name=name, path=target, size=size, sha256=sha
    )
    if os.path.lexists(target):
        if target.is_file() and not target.is_symlink() and sha256_of(target) == sha:
            part.unlink()
            outcome.status = "already_landed"
            log.info("MESH message %s: %s already landed; acknowledging", message_id, name)
            return outcome
        outcome.replaced_unprocessed = True
        log.warning(
            "MESH message %s: %s replaces a different delivery of that name not yet ingested",
            message_id,
            name,
        )
    commit(part, target)
    log.info("MESH message %s landed as %s (%d bytes)", message_id, name, size)
    return outcome


def write_rejected(
    config: Config,
    message: MeshMessage,
    message_id: str,
    sender: str | None,
    name: str | None,
    rejection: FileRejected,
    run_id: str,
) -> MeshMessageOutcome:
    folder = config.rejected
    part, sha, size = stream_to_part(message, folder, message_id)
    target = folder / safe_name(name, message_id)
    if os.path.lexists(target) and not holds(target, sha):
        target = target.with_name(f"{target.stem}.{sha[:12]}{target.suffix}")
    if holds(target, sha):
        part.unlink()  # the same bytes were written before (a crash before acknowledging)
    else:
        commit(part, target)
    # Reprocess may move the file back under its recorded name: only ever a plain one.
    recorded = name if name is not None and is_plain_name(name) else target.name
    detail = {
        "file_name": recorded,
        "sha256": sha,
        "rule": rejection.rule,
        "reason": rejection.reason,
        "run_id": run_id,
        "rejected_at": now().isoformat(timespec="seconds"),
        "source": "mesh",
        "mesh_message_id": message_id,
        "mesh_sender": sender,
        "stored_as": target.name,
    }
    if name is not None and recorded != name:
        detail["mesh_file_name"] = shown_name(name)
    write_text_durably(Path(f"{target}.reason.json"), json.dumps(detail, indent=2) + "\n")
    write_text_durably(
        Path(f"{target}.reason.txt"),
        f"{recorded} was rejected whole and nothing of it was loaded.\n"
        f"Reason ({rejection.rule}): {rejection.reason}\n"
        f"It arrived as MESH message {message_id} from mailbox {sender or 'unknown'}, "
        "which has been acknowledged.\n",
    )
    log.warning(
        "MESH message %s from %s rejected (%s); stored as %s",
        message_id,
        sender or "an unknown mailbox",
        rejection.rule,
        target.name if FILE_NAME.match(target.name) else "a sanitised name",
    )
    return MeshMessageOutcome(
        message_id,
        "rejected",
        sender=sender,
        file_name=target.name,
        path=target,
        size=size,
        sha256=sha,
        rule=rejection.rule,
        reason=rejection.reason,
    )


def holds(target: Path, sha: str) -> bool:
    """True when target is a regular file (not a link) holding the bytes with this checksum."""
    return target.is_file() and not target.is_symlink() and sha256_of(target) == sha


def safe_name(name: str | None, message_id: str) -> str:
    """A file name safe to create in the rejected folder, whatever the message called itself."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name or "")[:120].lstrip(".")
    return cleaned or f"{re.sub(r'[^A-Za-z0-9]', '_', message_id)}.dat"


def part_path(folder: Path, message_id: str) -> Path:
    return folder / f"{PART_PREFIX}{re.sub(r'[^A-Za-z0-9_-]', '_', message_id)}{PART_SUFFIX}"


def stream_to_part(message: MeshMessage, folder: Path, message_id: str) -> tuple[Path, str, int]:
    """Stream the message into a hidden temporary file in folder; fsync it; return path, sha, size."""
    folder.mkdir(parents=True, exist_ok=True)
    part = part_path(folder, message_id)
    digest = hashlib.sha256()
    size = 0
    try:
        with part.open("wb") as f:
            while True:
                block = message.read(READ_BLOCK)
                if not block:
                    break
                f.write(block)
                digest.update(block)
                size += len(block)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return part, digest.hexdigest(), size


def commit(part: Path, target: Path) -> None:
    os.replace(part, target)
    fsync_dir(target.parent)


def write_text_durably(target: Path, text: str) -> None:
    part = target.with_name(f"{PART_PREFIX}{target.name}{PART_SUFFIX}")
    with part.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    commit(part, target)


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_parts(folder: Path) -> None:
    """Temporary files a crashed pull left behind (safe: we hold the pull lock)."""
    if folder.is_dir():
        for part in folder.glob(f"{PART_PREFIX}*{PART_SUFFIX}"):
            part.unlink(missing_ok=True)


@contextmanager
def exclusive(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as lock:
        try:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise MeshPullError(
                f"another MESH pull is running on {lock_path.parent} (it holds {lock_path.name})"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class MeshPullError(RuntimeError):
    """The mailbox could not be polled at all (unreachable, refused, or a pull already running)."""


@dataclass
class MeshMessageOutcome:
    """What happened to one message.

    status: `landed` (new file in landing), `already_landed` (identical bytes were already
    there: acknowledged only), `rejected` (written to the rejected area with a reason),
    `report` (a MESH report, not data: acknowledged, nothing written) or `failed` (left in the
    mailbox, or landed but not acknowledged: `stage` says which; the next pull retries it).
    """

    message_id: str
    status: str
    sender: str | None = None
    file_name: str | None = None  # the contract name (landed) or the stored name (rejected)
    path: Path | None = None
    size: int = 0
    sha256: str | None = None
    replaced_unprocessed: bool = False  # landed over a different, not yet ingested delivery
    rule: str | None = None
    reason: str | None = None
    stage: str | None = None  # for failed: retrieve | write | acknowledge
    error: str | None = None  # for failed: the exception's type and message
