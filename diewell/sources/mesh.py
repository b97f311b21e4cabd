"""Pull: download every message in the ICS's MESH mailbox into the landing folder.

`pull_from_mesh(config)` polls the mailbox named in the config's `mesh` section (config.md)
and, for each message, in the order the mailbox lists them:

1. streams its content (every chunk, transparently decompressed by mesh-client) to a hidden
   temporary file in the target folder, hashing it on the way (never held whole in memory);
2. flushes and fsyncs that file, renames it over its final name (`os.replace`) and fsyncs
   the folder, so the file is either wholly there or not there at all;
3. and only then acknowledges the message, which removes it from the mailbox.

The target is `paths.landing/<contract file name>` when the message's file name (MESH
`Mex-FileName`, else its subject) is a plain file name that follows extracts.md, names a
provider registered for that extract, and comes from a mailbox that `mesh.senders` maps to
that provider. A pull with no `mesh.senders` is refused: the provider would rest on the
file's name alone, so any mailbox could deliver as any provider. Otherwise the message is written to `paths.rejected` with
`<file>.reason.json` and `<file>.reason.txt` beside it, in the shape ingest uses, and is
acknowledged too, so one bad message never blocks the mailbox.

Crash safety: a crash before step 2 completes leaves the message in the mailbox (and at most
a hidden `.mesh-*.part` file, removed by the next pull); a crash between steps 2 and 3 leaves
the landed file, and the next pull finds the same bytes already there and just acknowledges.
A message whose landed name already holds *different* bytes that ingest has not yet taken is a
re-delivery: the newer message replaces the file (the contract's latest-delivery-wins rule)
and the outcome says so.

Secrets come from environment variables named in the config (`mesh.password_env`,
`mesh.shared_key_env`; client certificate, key and CA bundle paths from
`mesh.client_cert_env`, `mesh.client_key_env`, `mesh.ca_cert_env`), never from the YAML.
Logs carry message ids, contract file names, rules and counts: never message contents, and
never the text of a name that failed the contract (it could hold anything). A sender's name
is never used as a path unless it is a plain base name (`delivery.is_plain_name`); the
reason files record a rejected message by the plain name it was stored under, with the
sender's own name escaped beside it (`mesh_file_name`).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mesh_client import MeshClient

from diewell.settings import ConfigError

if TYPE_CHECKING:
    from diewell.config import Config, MeshSettings
from diewell.expectations.files import (
    FILE_NAME,
    FileRejected,
    is_plain_name,
    parse_file_name,
    sha256_of,
    shown_name,
)
from diewell.transforms.sender_text import sender_logger

log = sender_logger("diewell.sources.mesh")

READ_BLOCK = 1 << 20  # bytes read from the message stream at a time
LOCK_NAME = ".mesh-pull.lock"
PART_PREFIX = ".mesh-"
PART_SUFFIX = ".part"


class MeshConfigError(ConfigError):
    """The mesh section or the environment variables it names are missing or unusable."""


class MeshPullError(RuntimeError):
    """The mailbox could not be polled at all (unreachable, refused, or a pull already running)."""


class MeshMessage(Protocol):
    """What the pull needs of a received message (mesh_client.Message fits)."""

    message_type: str | None
    sender: str | None
    filename: str | None
    subject: str | None

    def read(self, n: int | None = None) -> bytes: ...

    def close(self) -> None: ...


class MeshMailbox(Protocol):
    """What the pull needs of a MESH client (mesh_client.MeshClient fits)."""

    def handshake(self) -> object: ...

    def list_messages(self) -> list[str]: ...

    def retrieve_message(self, message_id: str) -> MeshMessage: ...

    def acknowledge_message(self, message_id: str) -> None: ...

    def close(self) -> None: ...


ClientFactory = Callable[["MeshSettings"], MeshMailbox]


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


@dataclass
class MeshPullSummary:
    """The result of one pull; `ok` is False when any message failed (it stays for next time)."""

    mailbox: str
    run_id: str
    outcomes: list[MeshMessageOutcome] = field(default_factory=list)

    def _count(self, status: str) -> int:
        return sum(1 for o in self.outcomes if o.status == status)

    @property
    def landed(self) -> int:
        return self._count("landed")

    @property
    def already_landed(self) -> int:
        return self._count("already_landed")

    @property
    def rejected(self) -> int:
        return self._count("rejected")

    @property
    def reports(self) -> int:
        return self._count("report")

    @property
    def failed(self) -> int:
        return self._count("failed")

    @property
    def acknowledged(self) -> int:
        return len(self.outcomes) - self.failed

    @property
    def bytes_landed(self) -> int:
        return sum(o.size for o in self.outcomes if o.status == "landed")

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def counts(self) -> dict[str, int]:
        return {
            "messages": len(self.outcomes),
            "landed": self.landed,
            "already_landed": self.already_landed,
            "rejected": self.rejected,
            "reports": self.reports,
            "failed": self.failed,
            "bytes_landed": self.bytes_landed,
        }

    def raise_if_failed(self) -> None:
        if self.failed:
            stages = sorted({o.stage or "?" for o in self.outcomes if o.status == "failed"})
            raise MeshPullError(
                f"{self.failed} MESH message(s) could not be taken ({', '.join(stages)}); "
                "they stay in the mailbox for the next pull"
            )


def mesh_client_for(settings: MeshSettings, environ: Mapping[str, str] | None = None) -> MeshClient:
    """A mesh_client.MeshClient for the configured mailbox, secrets read from the environment.

    This is the default `client_factory` of `pull_from_mesh`.
    """
    env = os.environ if environ is None else environ
    password = _required_env(env, settings.password_env, "the MESH mailbox password")
    shared_key = _required_env(env, settings.shared_key_env, "the MESH environment's shared key")
    cert_path = env.get(settings.client_cert_env) or None
    key_path = env.get(settings.client_key_env) or None
    if bool(cert_path) != bool(key_path):
        raise MeshConfigError(
            f"set both {settings.client_cert_env} (client certificate) and "
            f"{settings.client_key_env} (its private key), or neither"
        )
    ca_path = env.get(settings.ca_cert_env) or None
    for var, value in (
        (settings.client_cert_env, cert_path),
        (settings.client_key_env, key_path),
        (settings.ca_cert_env, ca_path),
    ):
        if value and not Path(value).is_file():
            raise MeshConfigError(f"{var} names {value}, which is not a file")
    if settings.url.lower().startswith("https://") and not cert_path:
        log.warning(
            "MESH client certificate not set (%s/%s); the live MESH service requires one",
            settings.client_cert_env,
            settings.client_key_env,
        )
    return MeshClient(
        settings.url,
        settings.mailbox,
        password,
        shared_key=shared_key.encode("utf-8"),
        cert=(cert_path, key_path) if cert_path else None,
        verify=ca_path,
        application_name="diewell",
    )


def _required_env(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name)
    if not value:
        raise MeshConfigError(f"{what} is not set: put it in the environment variable {name}")
    return value


def pull_from_mesh(
    config: Config,
    *,
    client_factory: ClientFactory | None = None,
    run_id: str | None = None,
) -> MeshPullSummary:
    """Download every message in the configured MESH mailbox into the landing folder.

    Args:
        config: the loaded ICS configuration; its `mesh` section must be present.
        client_factory: builds the MESH client from `config.mesh` (default `mesh_client_for`,
            which reads the secrets from the environment). The client is closed afterwards.
        run_id: recorded in the reason files of rejected messages (default `mesh-<UTC time>`).

    Returns:
        A MeshPullSummary with one outcome per message. A message that could not be taken
        (download or acknowledgement failed) is reported as `failed` and left for the next
        pull; call `summary.raise_if_failed()` to turn that into an error.

    Raises:
        MeshConfigError: no mesh section, or a secret's environment variable is unset.
        MeshPullError: the mailbox cannot be reached or listed, or another pull is running
            on the same landing folder.
    """
    settings = config.mesh
    if settings is None:
        raise MeshConfigError(f"{config.path}: no 'mesh' section, so there is no mailbox to pull")
    if not settings.senders:
        raise MeshConfigError(
            f"{config.path}: mesh.senders must map each provider's ODS code to the MESH "
            "mailbox id(s) it sends from (for example senders: {RD1: [RD1OT001]}); without it "
            "a file's provider would rest on its name alone, so any mailbox could deliver as "
            "any provider"
        )
    run_id = run_id or "mesh-" + _now().strftime("%Y%m%dT%H%M%SZ")
    factory = client_factory or mesh_client_for
    summary = MeshPullSummary(mailbox=settings.mailbox, run_id=run_id)

    config.landing.mkdir(parents=True, exist_ok=True)
    with _exclusive(config.landing / LOCK_NAME):
        for folder in (config.landing, config.rejected):
            _remove_stale_parts(folder)
        client = factory(settings)
        try:
            try:
                client.handshake()
            except Exception as exc:
                raise MeshPullError(
                    f"MESH mailbox {settings.mailbox} at {settings.url} refused the handshake: "
                    f"{_describe(exc)}"
                ) from exc
            seen: set[str] = set()
            while True:
                try:
                    listed = client.list_messages()
                except Exception as exc:
                    raise MeshPullError(
                        f"cannot list MESH mailbox {settings.mailbox}: {_describe(exc)}"
                    ) from exc
                batch = [m for m in listed if m not in seen]
                if not batch:
                    break
                for message_id in batch:
                    seen.add(message_id)
                    outcome = _take(client, config, settings, message_id, run_id)
                    summary.outcomes.append(outcome)
        finally:
            client.close()

    log.info(
        "MESH %s: %d messages: %d landed (%d bytes), %d already landed, %d rejected, "
        "%d reports, %d failed",
        settings.mailbox,
        len(summary.outcomes),
        summary.landed,
        summary.bytes_landed,
        summary.already_landed,
        summary.rejected,
        summary.reports,
        summary.failed,
    )
    return summary


def _take(
    client: MeshMailbox, config: Config, settings: MeshSettings, message_id: str, run_id: str
) -> MeshMessageOutcome:
    """Write one message durably (landing or rejected), then acknowledge it."""
    try:
        message = client.retrieve_message(message_id)
    except Exception as exc:
        return _failed(message_id, None, "retrieve", exc)
    sender = _mailbox(message.sender)
    try:
        if (message.message_type or "DATA").upper() != "DATA":
            outcome = MeshMessageOutcome(message_id, "report", sender=sender)
            log.warning(
                "MESH message %s is a %s message, not data: acknowledged, nothing landed",
                message_id,
                message.message_type,
            )
        else:
            name = _message_name(message)
            try:
                _check_contract(config, settings, name, sender)
            except FileRejected as rejection:
                outcome = _write_rejected(
                    config, message, message_id, sender, name, rejection, run_id
                )
            else:
                outcome = _write_landed(config, message, message_id, sender, name)
    except Exception as exc:
        return _failed(message_id, sender, "write", exc)
    finally:
        message.close()

    try:
        client.acknowledge_message(message_id)
    except Exception as exc:
        failed = _failed(message_id, sender, "acknowledge", exc)
        failed.file_name, failed.path, failed.sha256 = (
            outcome.file_name,
            outcome.path,
            outcome.sha256,
        )
        return failed
    return outcome


def _failed(message_id: str, sender: str | None, stage: str, exc: Exception) -> MeshMessageOutcome:
    log.warning(
        "MESH message %s not taken (%s failed: %s); it stays for the next pull",
        message_id,
        stage,
        type(exc).__name__,
    )
    return MeshMessageOutcome(
        message_id, "failed", sender=sender, stage=stage, error=_describe(exc)
    )


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _mailbox(sender: str | None) -> str | None:
    """The sending mailbox id as the server gave it, upper case; escaped if not a plain id."""
    text = (sender or "").strip().upper()
    return shown_name(text)[:40] if text else None


def _message_name(message: MeshMessage) -> str | None:
    """The delivery's file name: Mex-FileName, else the subject, whichever follows the contract."""
    names = [n.strip() for n in (message.filename, message.subject) if n and n.strip()]
    for name in names:
        if FILE_NAME.match(name):
            return name
    return names[0] if names else None


def _check_contract(
    config: Config, settings: MeshSettings, name: str | None, sender: str | None
) -> None:
    """Raise FileRejected unless the name parses, the provider may send it, from this mailbox."""
    if name is None:
        raise FileRejected(
            "file_name_invalid",
            "the MESH message has no file name (Mex-FileName) or subject; send it named "
            "<extract>_<provider ODS code>_<YYYYMMDD>.csv or .parquet "
            "(for example apc_spells_RD1_20250331.csv)",
        )
    if not is_plain_name(name):
        # a folder path (or '..', a NUL, bytes that are not text): never a path to write to
        raise FileRejected(
            "file_name_invalid",
            f"the MESH message's file name '{shown_name(name)}' is not a plain file name (it "
            "holds a folder path or characters that are not text); send a plain file name "
            "<extract>_<provider ODS code>_<YYYYMMDD>.csv or .parquet "
            "(for example apc_spells_RD1_20250331.csv)",
        )
    delivery = parse_file_name(Path(name), config)
    allowed = settings.senders.get(delivery.provider, ())
    if sender not in allowed:
        mailbox = f"mailbox {sender}" if sender else "an unknown mailbox"
        accepted = (
            f"are accepted only from MESH mailbox(es) {', '.join(allowed)}"
            if allowed
            else "are accepted from no MESH mailbox (mesh.senders names none for it)"
        )
        raise FileRejected(
            "sender_mailbox_not_allowed",
            f"{name} names provider {delivery.provider}, whose extracts {accepted}; this "
            f"message came from {mailbox}; ask the ICB to add the mailbox to mesh.senders if "
            f"it is {delivery.provider}'s",
        )


def _write_landed(
    config: Config, message: MeshMessage, message_id: str, sender: str | None, name: str
) -> MeshMessageOutcome:
    target = config.landing / name
    if target.parent != config.landing:  # _check_contract refuses such names; be sure
        raise ValueError("a landing file name must not hold a folder path")
    part, sha, size = _stream_to_part(message, config.landing, message_id)
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
    _commit(part, target)
    log.info("MESH message %s landed as %s (%d bytes)", message_id, name, size)
    return outcome


def _write_rejected(
    config: Config,
    message: MeshMessage,
    message_id: str,
    sender: str | None,
    name: str | None,
    rejection: FileRejected,
    run_id: str,
) -> MeshMessageOutcome:
    folder = config.rejected
    part, sha, size = _stream_to_part(message, folder, message_id)
    target = folder / _safe_name(name, message_id)
    if os.path.lexists(target) and not _holds(target, sha):
        target = target.with_name(f"{target.stem}.{sha[:12]}{target.suffix}")
    if _holds(target, sha):
        part.unlink()  # the same bytes were written before (a crash before acknowledging)
    else:
        _commit(part, target)
    # Reprocess may move the file back under its recorded name: only ever a plain one.
    recorded = name if name is not None and is_plain_name(name) else target.name
    detail = {
        "file_name": recorded,
        "sha256": sha,
        "rule": rejection.rule,
        "reason": rejection.reason,
        "run_id": run_id,
        "rejected_at": _now().isoformat(timespec="seconds"),
        "source": "mesh",
        "mesh_message_id": message_id,
        "mesh_sender": sender,
        "stored_as": target.name,
    }
    if name is not None and recorded != name:
        detail["mesh_file_name"] = shown_name(name)
    _write_text_durably(Path(f"{target}.reason.json"), json.dumps(detail, indent=2) + "\n")
    _write_text_durably(
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


def _holds(target: Path, sha: str) -> bool:
    """True when target is a regular file (not a link) holding the bytes with this checksum."""
    return target.is_file() and not target.is_symlink() and sha256_of(target) == sha


def _safe_name(name: str | None, message_id: str) -> str:
    """A file name safe to create in the rejected folder, whatever the message called itself."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", name or "")[:120].lstrip(".")
    return cleaned or f"{re.sub(r'[^A-Za-z0-9]', '_', message_id)}.dat"


# --- durable files ------------------------------------------------------------------------


def _part_path(folder: Path, message_id: str) -> Path:
    return folder / f"{PART_PREFIX}{re.sub(r'[^A-Za-z0-9_-]', '_', message_id)}{PART_SUFFIX}"


def _stream_to_part(message: MeshMessage, folder: Path, message_id: str) -> tuple[Path, str, int]:
    """Stream the message into a hidden temporary file in folder; fsync it; return path, sha, size."""
    folder.mkdir(parents=True, exist_ok=True)
    part = _part_path(folder, message_id)
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


def _commit(part: Path, target: Path) -> None:
    os.replace(part, target)
    _fsync_dir(target.parent)


def _write_text_durably(target: Path, text: str) -> None:
    part = target.with_name(f"{PART_PREFIX}{target.name}{PART_SUFFIX}")
    with part.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    _commit(part, target)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_parts(folder: Path) -> None:
    """Temporary files a crashed pull left behind (safe: we hold the pull lock)."""
    if folder.is_dir():
        for part in folder.glob(f"{PART_PREFIX}*{PART_SUFFIX}"):
            part.unlink(missing_ok=True)


@contextmanager
def _exclusive(lock_path: Path) -> Iterator[None]:
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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)
