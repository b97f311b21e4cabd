"""The ICS configuration file (../shared/spec/config.md): one YAML file per deployment.

Paths inside the file are relative to the file. Keys beyond the agreed minimum are optional
and have defaults; they are listed in docs/configuration.md.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

EXTRACTS = (
    "deaths",
    "palliative_register",
    "apc_spells",
    "ae_attendances",
    "hospice_referrals",
    "hospice_contacts",
    "community_contacts",
    "spoc_calls",
    "outcome_assessments",
    "gp_population",
    "ref_lsoa",
    "ref_practice",
)

ODS_CODE = re.compile(r"^[A-Z0-9]{3,6}$")


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or does not follow config.md."""


@dataclass(frozen=True)
class Provider:
    code: str
    name: str
    extracts: tuple[str, ...]


@dataclass(frozen=True)
class MeshSettings:
    """The `mesh` section: the ICS's MESH mailbox that diewell.mesh pulls into paths.landing.

    Secrets and key material never come from the YAML: each `*_env` names the environment
    variable that holds the value (the certificate, key and CA entries hold file paths).
    `senders` optionally maps a provider's ODS code to the mailbox id(s) it sends from; a
    message naming that provider from any other mailbox is rejected.
    """

    url: str
    mailbox: str
    password_env: str = "MESH_PASSWORD"
    shared_key_env: str = "MESH_SHARED_KEY"
    client_cert_env: str = "MESH_CLIENT_CERT"
    client_key_env: str = "MESH_CLIENT_KEY"
    ca_cert_env: str = "MESH_CA_CERT"
    senders: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Config:
    path: Path
    ics_code: str
    ics_name: str
    landing: Path
    warehouse: Path
    outputs: Path
    archive: Path
    rejected: Path
    providers: tuple[Provider, ...]
    suppress_up_to: int = 7
    round_to: int = 5
    key_env: str = "DIEWELL_PSEUDO_KEY"
    key_file: Path | None = None
    mesh: MeshSettings | None = None
    extra: dict = field(default_factory=dict)

    def provider(self, code: str) -> Provider | None:
        return next((p for p in self.providers if p.code == code), None)

    def providers_for(self, extract: str) -> list[Provider]:
        return [p for p in self.providers if extract in p.extracts]

    def is_registered(self, provider: str, extract: str) -> bool:
        p = self.provider(provider)
        return p is not None and extract in p.extracts

    def pseudonymisation_key(self) -> bytes:
        """The HMAC key: from the environment variable, else from the configured key file."""
        value = os.environ.get(self.key_env)
        if value:
            return value.encode("utf-8")
        if self.key_file is not None and self.key_file.exists():
            mode = self.key_file.stat().st_mode & 0o077
            if mode:
                raise ConfigError(
                    f"pseudonymisation key file {self.key_file} is readable by other users; "
                    "run: chmod 600 on it"
                )
            key = self.key_file.read_bytes().strip()
            if len(key) < 32:
                raise ConfigError(f"pseudonymisation key file {self.key_file} holds under 32 bytes")
            return key
        raise ConfigError(
            f"no pseudonymisation key: set the environment variable {self.key_env} "
            "(at least 32 characters), or name a key file in pseudonymisation.key_file"
        )


def _require(mapping: dict, key: str, where: str):
    if not isinstance(mapping, dict) or key not in mapping or mapping[key] in (None, ""):
        raise ConfigError(f"{where}: required key '{key}' is missing")
    return mapping[key]


def _mesh_senders(raw, providers: set[str], where: str) -> dict[str, tuple[str, ...]]:
    """mesh.senders: {provider ODS code: mailbox id or list of mailbox ids}."""
    if not raw:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: must map provider codes to MESH mailbox ids")
    senders = {}
    for code, mailboxes in raw.items():
        code = str(code)
        if code not in providers:
            raise ConfigError(f"{where}: '{code}' is not a provider listed in 'providers'")
        if isinstance(mailboxes, str):
            mailboxes = [mailboxes]
        if not isinstance(mailboxes, list) or not mailboxes or not all(mailboxes):
            raise ConfigError(f"{where}: {code} must name one mailbox id or a list of them")
        senders[code] = tuple(str(m).strip().upper() for m in mailboxes)
    return senders


def load_config(path: str | os.PathLike) -> Config:
    """Read and check an ICS configuration file; raise ConfigError with the first problem found."""
    path = Path(path).resolve()
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"configuration file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"configuration file {path} does not hold a mapping")
    base = path.parent

    ics = _require(raw, "ics", str(path))
    paths = _require(raw, "paths", str(path))
    providers_raw = _require(raw, "providers", str(path))
    if not isinstance(providers_raw, list) or not providers_raw:
        raise ConfigError(f"{path}: 'providers' must be a non-empty list")

    providers = []
    seen = set()
    for i, p in enumerate(providers_raw):
        where = f"{path}: providers[{i}]"
        code = str(_require(p, "code", where))
        if not ODS_CODE.match(code):
            raise ConfigError(
                f"{where}: code '{code}' is not an ODS code (3-6 upper-case letters/digits)"
            )
        if code in seen:
            raise ConfigError(f"{where}: provider {code} is listed twice")
        seen.add(code)
        extracts = _require(p, "extracts", where)
        unknown = [e for e in extracts if e not in EXTRACTS]
        if unknown:
            raise ConfigError(f"{where}: unknown extract(s) {unknown}; known: {list(EXTRACTS)}")
        providers.append(Provider(code, str(p.get("name", code)), tuple(extracts)))

    def resolve(value: str) -> Path:
        return (base / value).resolve()

    disclosure = raw.get("disclosure") or {}
    pseudo = raw.get("pseudonymisation") or {}
    mesh_raw = raw.get("mesh")
    mesh = None
    if mesh_raw:
        mesh = MeshSettings(
            url=str(_require(mesh_raw, "url", f"{path}: mesh")),
            mailbox=str(_require(mesh_raw, "mailbox", f"{path}: mesh")).strip().upper(),
            password_env=str(mesh_raw.get("password_env", "MESH_PASSWORD")),
            shared_key_env=str(mesh_raw.get("shared_key_env", "MESH_SHARED_KEY")),
            client_cert_env=str(mesh_raw.get("client_cert_env", "MESH_CLIENT_CERT")),
            client_key_env=str(mesh_raw.get("client_key_env", "MESH_CLIENT_KEY")),
            ca_cert_env=str(mesh_raw.get("ca_cert_env", "MESH_CA_CERT")),
            senders=_mesh_senders(mesh_raw.get("senders"), seen, f"{path}: mesh.senders"),
        )
    suppress_up_to = int(disclosure.get("suppress_up_to", 7))
    round_to = int(disclosure.get("round_to", 5))
    if suppress_up_to < 0 or round_to < 1:
        raise ConfigError(f"{path}: disclosure.suppress_up_to must be >= 0 and round_to >= 1")

    return Config(
        path=path,
        ics_code=str(_require(ics, "code", f"{path}: ics")),
        ics_name=str(_require(ics, "name", f"{path}: ics")),
        landing=resolve(_require(paths, "landing", f"{path}: paths")),
        warehouse=resolve(_require(paths, "warehouse", f"{path}: paths")),
        outputs=resolve(_require(paths, "outputs", f"{path}: paths")),
        archive=resolve(paths.get("archive", "archive")),
        rejected=resolve(paths.get("rejected", "rejected")),
        providers=tuple(providers),
        suppress_up_to=suppress_up_to,
        round_to=round_to,
        key_env=str(pseudo.get("key_env", "DIEWELL_PSEUDO_KEY")),
        key_file=resolve(pseudo["key_file"]) if pseudo.get("key_file") else None,
        mesh=mesh,
        extra={k: v for k, v in raw.items() if k not in {"ics", "paths", "providers"}},
    )
