"""The ICS configuration file (docs/CONFIGURATION.md): one YAML file per deployment.

The file is checked whole, against one strict model, before anything runs: an unknown key,
a value of the wrong type, a provider code that is not an ODS code or an unknown extract
stops the run with one ConfigError that names the file, each key and what was expected.
Paths inside the file are relative to the file. Keys beyond the agreed minimum are optional
and have defaults; they are listed in docs/CONFIGURATION.md.

The pseudonymisation key is not in the file: `Config.pseudonymisation_key()` reads it (at
least 32 bytes) when a run starts, so commands that need no key can load the configuration
without one.
"""

from __future__ import annotations

import difflib
import os
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from diewell.expectations import extract_names

# The extracts of the contract: one per suite in expectations/suites (or $DIEWELL_SUITES_DIR),
# in name order. A new extract is a new suite file.
EXTRACTS = extract_names()

ODS_CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
ODS_CODE_LENGTH = range(3, 7)  # 3 to 6 characters (extracts.md)
MIN_KEY_BYTES = 32  # the pseudonymisation key's minimum length (config.md)
DEFAULT_MAX_FILE_BYTES = 2 * 1024**3  # limits.max_file_bytes: 2 GiB
# limits.warehouse_memory_mib: what DuckDB may hold in memory during a run before it spills
# to disk beside the warehouse (its default is 80% of the machine's memory, which grows with
# the population until the machine runs out)
DEFAULT_WAREHOUSE_MEMORY_MIB = 4096
SHOWN_VALUE_CHARS = 40  # a wrong value is quoted in the message up to this length


class ConfigError(ValueError):
    """The configuration file is missing, unreadable or does not follow config.md."""


# --- the file, as one strict model --------------------------------------------------------------


def _ods_code(value: str) -> str:
    if len(value) not in ODS_CODE_LENGTH or not set(value) <= ODS_CODE_CHARS:
        raise PydanticCustomError(
            "ods_code", "must be an ODS code: 3 to 6 upper-case letters or digits (such as RD1)"
        )
    return value


def _as_tuple(value: object) -> object:
    """YAML gives lists; the loaded settings hold tuples. Anything else is left to be refused."""
    return tuple(value) if isinstance(value, list) else value


def _one_or_more(value: object) -> object:
    """A mailbox id, or a list of them."""
    return (value,) if isinstance(value, str) else _as_tuple(value)


def _empty_is_default(value: object) -> object:
    """An optional section written with nothing under it (`disclosure:`) takes its defaults."""
    return {} if value is None else value


Text = Annotated[str, Field(min_length=1)]
OdsCode = Annotated[str, AfterValidator(_ods_code)]
Extract = Literal[EXTRACTS]
MailboxId = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1)]


class _Section(BaseModel):
    """Every part of the file: unknown keys are refused, and values are never coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class IcsSection(_Section):
    code: OdsCode
    name: Text


class PathsSection(_Section):
    landing: Text
    warehouse: Text
    outputs: Text
    archive: Text = "archive"
    rejected: Text = "rejected"


class Provider(_Section):
    """One sender and the extracts it may deliver; `name` defaults to the code."""

    code: OdsCode
    name: Text | None = None
    extracts: Annotated[tuple[Extract, ...], BeforeValidator(_as_tuple), Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _name_defaults_to_code(cls, data: object) -> object:
        if (
            isinstance(data, dict)
            and data.get("name") is None
            and isinstance(data.get("code"), str)
        ):
            return {**data, "name": data["code"]}
        return data


class MeshSettings(_Section):
    """The `mesh` section: the ICS's MESH mailbox that diewell.mesh pulls into paths.landing.

    Secrets and key material never come from the YAML: each `*_env` names the environment
    variable that holds the value (the certificate, key and CA entries hold file paths).
    `senders` optionally maps a provider's ODS code to the mailbox id(s) it sends from; a
    message naming that provider from any other mailbox is rejected.
    """

    url: Text
    mailbox: MailboxId
    password_env: Text = "MESH_PASSWORD"
    shared_key_env: Text = "MESH_SHARED_KEY"
    client_cert_env: Text = "MESH_CLIENT_CERT"
    client_key_env: Text = "MESH_CLIENT_KEY"
    ca_cert_env: Text = "MESH_CA_CERT"
    senders: dict[
        OdsCode,
        Annotated[tuple[MailboxId, ...], BeforeValidator(_one_or_more), Field(min_length=1)],
    ] = Field(default_factory=dict)


class DisclosureSection(_Section):
    suppress_up_to: Annotated[int, Field(ge=0)] = 7
    round_to: Annotated[int, Field(ge=1)] = 5


class PseudonymisationSection(_Section):
    key_env: Text = "DIEWELL_PSEUDO_KEY"
    key_file: Text | None = None


class LimitsSection(_Section):
    max_file_bytes: Annotated[int, Field(ge=1)] = DEFAULT_MAX_FILE_BYTES
    warehouse_memory_mib: Annotated[int, Field(ge=256)] = DEFAULT_WAREHOUSE_MEMORY_MIB


class ConfigFile(_Section):
    """The whole file (config.md): the agreed minimum, then the optional sections."""

    ics: IcsSection
    paths: PathsSection
    providers: Annotated[tuple[Provider, ...], BeforeValidator(_as_tuple), Field(min_length=1)]
    mesh: MeshSettings | None = None
    disclosure: Annotated[DisclosureSection, BeforeValidator(_empty_is_default)] = (
        DisclosureSection()
    )
    pseudonymisation: Annotated[PseudonymisationSection, BeforeValidator(_empty_is_default)] = (
        PseudonymisationSection()
    )
    limits: Annotated[LimitsSection, BeforeValidator(_empty_is_default)] = LimitsSection()


# --- the loaded settings ------------------------------------------------------------------------


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
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    warehouse_memory_mib: int = DEFAULT_WAREHOUSE_MEMORY_MIB

    def provider(self, code: str) -> Provider | None:
        return next((p for p in self.providers if p.code == code), None)

    def providers_for(self, extract: str) -> list[Provider]:
        return [p for p in self.providers if extract in p.extracts]

    def is_registered(self, provider: str, extract: str) -> bool:
        p = self.provider(provider)
        return p is not None and extract in p.extracts

    def secret_env_names(self) -> list[str]:
        """The environment variables that may hold this ICS's secrets: the pseudonymisation
        key, and the MESH password and shared key when it has a mailbox."""
        names = [self.key_env]
        if self.mesh is not None:
            names += [self.mesh.password_env, self.mesh.shared_key_env]
        return names

    def pseudonymisation_key(self) -> bytes:
        """The HMAC key: from the environment variable, else from the configured key file.

        Raises ConfigError when neither holds a key, when the key file is readable by other
        users, or when the key is shorter than MIN_KEY_BYTES. The message never holds the key.
        """
        value = os.environ.get(self.key_env)
        if value:
            key, where = value.encode("utf-8"), "pseudonymisation.key_env"
            source = f"the environment variable {self.key_env}"
        elif self.key_file is not None and self.key_file.exists():
            if self.key_file.stat().st_mode & 0o077:
                raise ConfigError(
                    f"{self.path}: pseudonymisation.key_file: the key file {self.key_file} is "
                    "readable by other users; run chmod 600 on it"
                )
            key, where = self.key_file.read_bytes().strip(), "pseudonymisation.key_file"
            source = f"the key file {self.key_file}"
        else:
            named = f"; the key file {self.key_file} does not exist" if self.key_file else ""
            raise ConfigError(
                f"{self.path}: pseudonymisation.key_env: no pseudonymisation key: set the "
                f"environment variable {self.key_env} (at least {MIN_KEY_BYTES} bytes), or name "
                f"a key file in pseudonymisation.key_file{named}"
            )
        if len(key) < MIN_KEY_BYTES:
            raise ConfigError(
                f"{self.path}: {where}: the pseudonymisation key in {source} is too short: "
                f"it must be at least {MIN_KEY_BYTES} bytes (for example 64 hex digits from "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`)"
            )
        return key


# --- reading and checking the file --------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, except that a key given twice in one mapping is refused."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise ConfigError(f"'{key}' is given twice (line {key_node.start_mark.line + 1})")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _key_path(loc: tuple) -> str:
    """('providers', 0, 'code') -> 'providers[0].code'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part != "[key]":
            text += f".{part}" if text else str(part)
    return text or "(the whole file)"


def _section_at(loc: tuple) -> type[BaseModel] | None:
    """The model whose keys are allowed at loc (the parent of an unknown key)."""
    model: type[BaseModel] = ConfigFile
    for part in loc:
        if isinstance(part, int):
            continue
        fields = model.model_fields
        if part not in fields:
            return None
        nested = _models_in(fields[part].annotation)
        if not nested:
            return None
        model = nested[0]
    return model


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]


def _shown(value: object) -> str:
    """A value from the file, quoted for a message: short, one line, never a whole section."""
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 3] + "..."


def _nearest(word: object, known: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(str(word), list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _problem(error: dict) -> str:
    """One pydantic error as 'key.path: what was expected'."""
    loc, kind, value = error["loc"], error["type"], error.get("input")
    where = _key_path(loc)
    if kind == "extra_forbidden":
        section = _section_at(loc[:-1])
        known = list(section.model_fields) if section else []
        hint = _nearest(loc[-1], known)
        listing = f"; known keys here: {', '.join(known)}" if known else ""
        return f"{where}: '{loc[-1]}' is not a known key{hint}{listing}"
    if kind == "missing":
        return f"{where}: this key is required but missing"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"{where}: must be a whole number, not {_shown(value)}"
    if kind == "string_type":
        return f"{where}: must be text (in quotes if it looks like a number), not {_shown(value)}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return f"{where}: must be a mapping of keys to values, not {_shown(value)}"
    if kind in ("tuple_type", "list_type"):
        return f"{where}: must be a list, not {_shown(value)}"
    if kind in ("too_short", "string_too_short"):
        return f"{where}: must not be empty"
    if kind in ("greater_than_equal", "greater_than"):
        bound = error["ctx"].get("ge", error["ctx"].get("gt"))
        at_least = "at least" if kind == "greater_than_equal" else "more than"
        return f"{where}: must be {at_least} {bound}, not {_shown(value)}"
    if kind == "literal_error":
        return (
            f"{where}: {_shown(value)} is not an extract of extracts.md{_nearest(value, EXTRACTS)}; "
            f"known: {', '.join(EXTRACTS)}"
        )
    if kind == "ods_code":
        return f"{where}: {error['msg']}, not {_shown(value)}"
    return f"{where}: {error['msg']} (got {_shown(value)})"


def _cross_checks(file: ConfigFile) -> list[str]:
    """What one key's value says about another: no provider twice, senders that are providers."""
    problems = []
    seen: set[str] = set()
    for i, provider in enumerate(file.providers):
        if provider.code in seen:
            problems.append(f"providers[{i}].code: provider {provider.code} is listed twice")
        seen.add(provider.code)
    if file.mesh is not None:
        for code in file.mesh.senders:
            if code not in seen:
                problems.append(
                    f"mesh.senders.{code}: {code} is not one of the codes listed in providers"
                )
    return problems


def _overlapping(landing: Path, others: dict[str, Path]) -> list[str]:
    """The folders that overlap the landing folder (config.md v3): the landing folder must
    hold none of the warehouse (a file: its working copy, lock and cache lie beside it),
    outputs, archive or rejected folders, and lie inside none of them, or a run would take
    its own files for deliveries."""
    problems = []
    for key, other in others.items():
        if other == landing or other.is_relative_to(landing):
            problems.append(
                f"{key}: {other} lies inside paths.landing ({landing}); the landing folder "
                "holds only deliveries: give them separate folders"
            )
        elif key != "paths.warehouse" and landing.is_relative_to(other):
            problems.append(
                f"paths.landing: {landing} lies inside {key} ({other}); the landing folder "
                "holds only deliveries: give them separate folders"
            )
    return problems


def _refuse(path: Path, problems: list[str]) -> ConfigError:
    if len(problems) == 1:
        return ConfigError(f"{path}: {problems[0]}")
    return ConfigError(f"{path}: {len(problems)} problems: " + "; ".join(problems))


def load_config(path: str | os.PathLike) -> Config:
    """Read and check an ICS configuration file whole; raise one ConfigError naming every problem."""
    path = Path(path).resolve()
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{path}: is not valid YAML: {detail}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: does not hold a mapping of keys (ics, paths, providers, ...)")
    try:
        file = ConfigFile.model_validate(raw)
    except ValidationError as exc:
        raise _refuse(path, [_problem(e) for e in exc.errors()]) from None
    problems = _cross_checks(file)
    if problems:
        raise _refuse(path, problems)

    base = path.parent

    def resolve(value: str) -> Path:
        return (base / value).resolve()

    pseudo = file.pseudonymisation
    problems = _overlapping(
        resolve(file.paths.landing),
        {
            "paths.warehouse": resolve(file.paths.warehouse),
            "paths.outputs": resolve(file.paths.outputs),
            "paths.archive": resolve(file.paths.archive),
            "paths.rejected": resolve(file.paths.rejected),
        },
    )
    if problems:
        raise _refuse(path, problems)
    return Config(
        path=path,
        ics_code=file.ics.code,
        ics_name=file.ics.name,
        landing=resolve(file.paths.landing),
        warehouse=resolve(file.paths.warehouse),
        outputs=resolve(file.paths.outputs),
        archive=resolve(file.paths.archive),
        rejected=resolve(file.paths.rejected),
        providers=file.providers,
        suppress_up_to=file.disclosure.suppress_up_to,
        round_to=file.disclosure.round_to,
        key_env=pseudo.key_env,
        key_file=resolve(pseudo.key_file) if pseudo.key_file else None,
        mesh=file.mesh,
        max_file_bytes=file.limits.max_file_bytes,
        warehouse_memory_mib=file.limits.warehouse_memory_mib,
    )
