"""The ICS configuration file (docs/CONFIGURATION.md): one YAML file per deployment.

The file is checked whole, against one strict model (`config.model`), before anything runs:
an unknown key, a value of the wrong type, a provider code that is not an ODS code or an
unknown extract stops the run with one ConfigError that names the file, each key and what was
expected (`config.wording`). Paths inside the file are relative to the file; they must not
overlap the landing folder. Keys beyond the agreed minimum are optional and have defaults;
they are listed in docs/CONFIGURATION.md.

The pseudonymisation key is not in the file: `Config.pseudonymisation_key()` reads it (at
least 32 bytes) when a run starts, so commands that need no key can load the configuration
without one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from diewell import settings
from diewell.config.model import (
    DEFAULT_WAREHOUSE_MEMORY_MIB,
    EXTRACTS,
    ConfigFile,
    DisclosureSection,
    IcsSection,
    MeshSettings,
    Provider,
    RegionFile,
    Text,
)
from diewell.config.wording import UniqueKeyLoader, problem, refuse
from diewell.expectations.files import DEFAULT_MAX_FILE_BYTES
from diewell.release.region import IcsSource, RegionConfig
from diewell.settings import ConfigError
from diewell.transforms.disclosure import ROUNDING_MULTIPLE, SUPPRESSION_THRESHOLD

MIN_KEY_BYTES = 32  # the pseudonymisation key's minimum length (config.md)

__all__ = [
    "DEFAULT_MAX_FILE_BYTES",
    "DEFAULT_WAREHOUSE_MEMORY_MIB",
    "EXTRACTS",
    "Config",
    "ConfigError",
    "DisclosureSection",
    "IcsSection",
    "MeshSettings",
    "Provider",
    "Text",
    "load_config",
    "load_region_config",
]


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
    suppress_up_to: int = SUPPRESSION_THRESHOLD
    round_to: int = ROUNDING_MULTIPLE
    key_env: str = settings.PSEUDO_KEY
    key_file: Path | None = None
    mesh: MeshSettings | None = None
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    warehouse_memory_mib: int = DEFAULT_WAREHOUSE_MEMORY_MIB
    person_key: str = "nhs_number"  # or "pseudonymised" (sources.md v3)
    pseudonym_domain: str | None = None  # who made the pseudonyms (with "pseudonymised")
    layouts_folder: Path | None = None  # the ICS's own layouts, lookups and code lists
    benchmarks: Path | None = None  # the ICS's benchmarks file; None: the project's England one

    def layout_of(self, provider: str, extract: str) -> str | None:
        """The layout a provider's files of an extract arrive in (None: the contract's)."""
        p = self.provider(provider)
        return p.layouts.get(extract) if p is not None else None

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
        value = settings.secret(self.key_env)
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


def _unloadable_layouts(providers, folder: Path | None) -> list[str]:
    """Each provider's layout that cannot be loaded, or forms no rows of its extract
    (sources.md v3): found with the file, not when the first delivery arrives."""
    from diewell.expectations.layouts import LayoutError, load_layout

    # each layout loaded once (the layout, or its error), however many providers send in it
    loaded: dict[str, object] = {}
    problems = []
    for i, provider in enumerate(providers):
        for extract, name in provider.layouts.items():
            if name not in loaded:
                try:
                    loaded[name] = load_layout(name, [folder] if folder else [])
                except LayoutError as exc:
                    loaded[name] = exc
            try:
                if isinstance(loaded[name], LayoutError):
                    raise loaded[name]
                loaded[name].target(extract)
            except LayoutError as exc:
                problems.append(
                    f"providers[{i}] ({provider.code}) layouts.{extract}: {name}: {exc}"
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


def load_config(path: str | os.PathLike) -> Config:
    """Read and check an ICS configuration file whole; raise one ConfigError naming every problem."""
    path = Path(path).resolve()
    if not path.exists():
        raise ConfigError(f"configuration file {path} does not exist")
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=UniqueKeyLoader)
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
        raise refuse(path, [problem(e) for e in exc.errors()]) from None
    problems = _cross_checks(file)
    if problems:
        raise refuse(path, problems)

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
    layouts_folder = resolve(file.layouts_folder) if file.layouts_folder else None
    problems += _unloadable_layouts(file.providers, layouts_folder)
    if problems:
        raise refuse(path, problems)
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
        person_key=pseudo.person_key,
        pseudonym_domain=pseudo.domain,
        layouts_folder=layouts_folder,
        benchmarks=resolve(file.benchmarks) if file.benchmarks else None,
    )


def load_region_config(path: str | os.PathLike | None = None) -> RegionConfig:
    """Read and check a region configuration file (default $DIEWELL_REGION_CONFIG)."""
    given = path or settings.text(settings.REGION_CONFIG)
    if not given:
        raise ConfigError(
            f"no region configuration: pass config_path or set {settings.REGION_CONFIG}"
        )
    file = Path(given).resolve()
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
        parsed = RegionFile.model_validate(raw)
    except OSError as exc:
        raise ConfigError(f"region configuration {file} cannot be read: {exc}") from None
    except (yaml.YAMLError, ValidationError) as exc:
        detail = " ".join(str(exc).split())
        raise ConfigError(f"{file}: is not a region configuration: {detail}") from None
    deployments = [e.deployment for e in parsed.ics]
    if len(set(deployments)) != len(deployments):
        raise ConfigError(f"{file}: an ICS deployment is named twice")
    base = file.parent
    return RegionConfig(
        path=file,
        code=parsed.region.code,
        name=parsed.region.name,
        outputs=(base / parsed.outputs).resolve(),
        suppress_up_to=parsed.disclosure.suppress_up_to,
        round_to=parsed.disclosure.round_to,
        ics=tuple(IcsSource(e.deployment, (base / e.outputs).resolve()) for e in parsed.ics),
    )
