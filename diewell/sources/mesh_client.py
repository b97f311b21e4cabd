"""The ICS's MESH mailbox: the client, made from the config's `mesh` section and the secrets the
environment holds (never the YAML), and what diewell needs of a mailbox and a message."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mesh_client import MeshClient

from diewell.settings import ConfigError
from diewell.settings import every as environment
from diewell.transforms.sender_text import sender_logger

if TYPE_CHECKING:
    from diewell.config import MeshSettings


log = sender_logger("diewell.sources.mesh")


class MeshConfigError(ConfigError):
    """The mesh section or the environment variables it names are missing or unusable."""


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


def mesh_client_for(settings: MeshSettings, environ: Mapping[str, str] | None = None) -> MeshClient:
    """A mesh_client.MeshClient for the configured mailbox, secrets read from the environment.

    This is the default `client_factory` of `pull_from_mesh`.
    """
    env = environment() if environ is None else environ
    password = required_env(env, settings.password_env, "the MESH mailbox password")
    shared_key = required_env(env, settings.shared_key_env, "the MESH environment's shared key")
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


def required_env(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name)
    if not value:
        raise MeshConfigError(f"{what} is not set: put it in the environment variable {name}")
    return value
