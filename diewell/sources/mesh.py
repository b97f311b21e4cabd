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

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from diewell.config import Config, MeshSettings
from diewell.expectations.files import (
    FILE_NAME,
    FileRejected,
    is_plain_name,
    parse_file_name,
    shown_name,
)
from diewell.sources.mesh_client import (
    ClientFactory,
    MeshConfigError,
    MeshMailbox,
    MeshMessage,
    mesh_client_for,
)
from diewell.sources.mesh_files import (
    LOCK_NAME,
    MeshMessageOutcome,
    MeshPullError,
    exclusive,
    now,
    remove_stale_parts,
    write_landed,
    write_rejected,
)
from diewell.transforms.sender_text import sender_logger

log = sender_logger("diewell.sources.mesh")


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
    run_id = run_id or "mesh-" + now().strftime("%Y%m%dT%H%M%SZ")
    factory = client_factory or mesh_client_for
    summary = MeshPullSummary(mailbox=settings.mailbox, run_id=run_id)

    config.landing.mkdir(parents=True, exist_ok=True)
    with exclusive(config.landing / LOCK_NAME):
        for folder in (config.landing, config.rejected):
            remove_stale_parts(folder)
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
                outcome = write_rejected(
                    config, message, message_id, sender, name, rejection, run_id
                )
            else:
                outcome = write_landed(config, message, message_id, sender, name)
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


# --- durable files ------------------------------------------------------------------------
