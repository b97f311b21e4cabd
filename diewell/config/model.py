"""The ICS configuration file (config.md) as one strict model: an unknown key, a value of the
wrong type, a provider code that is not an ODS code or an unknown extract is refused."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

from diewell import settings
from diewell.expectations import extract_names
from diewell.expectations.files import DEFAULT_MAX_FILE_BYTES
from diewell.transforms.disclosure import ROUNDING_MULTIPLE, SUPPRESSION_THRESHOLD

# The extracts of the contract: one per suite in expectations/suites (or $DIEWELL_SUITES_DIR),
# in name order. A new extract is a new suite file.
EXTRACTS = extract_names()

ODS_CODE_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
ODS_CODE_LENGTH = range(3, 7)  # 3 to 6 characters (extracts.md)
# limits.warehouse_memory_mib: what DuckDB may hold in memory during a run before it spills
# to disk beside the warehouse (its default is 80% of the machine's memory, which grows with
# the population until the machine runs out)
DEFAULT_WAREHOUSE_MEMORY_MIB = 4096


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
# A layout's name: a file's stem in the ICS's layouts_folder or among the built-in layouts.
LayoutName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
PERSON_KEYS = ("nhs_number", "pseudonymised")


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
    # v3 (sources.md): the layout each extract arrives in; an extract not named here uses the
    # contract layout (extracts.md as written)
    layouts: dict[Extract, LayoutName] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _layouts_name_its_extracts(self) -> Provider:
        strays = [e for e in self.layouts if e not in self.extracts]
        if strays:
            raise PydanticCustomError(
                "layout_extract",
                "layouts names {strays}, which this provider is not registered to send",
                {"strays": ", ".join(strays)},
            )
        return self

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
    """The `mesh` section: the ICS's MESH mailbox that diewell.sources.mesh pulls into paths.landing.

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
    suppress_up_to: Annotated[int, Field(ge=0)] = SUPPRESSION_THRESHOLD
    round_to: Annotated[int, Field(ge=1)] = ROUNDING_MULTIPLE


class PseudonymisationSection(_Section):
    key_env: Text = settings.PSEUDO_KEY
    key_file: Text | None = None
    # v3 (sources.md, "Person keys"): what the person columns hold, one kind for the whole ICS
    person_key: Literal[PERSON_KEYS] = "nhs_number"
    domain: (
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")] | None
    ) = None  # required with pseudonymised: the service that made the pseudonyms

    @model_validator(mode="after")
    def _pseudonyms_name_their_domain(self) -> PseudonymisationSection:
        if self.person_key == "pseudonymised" and self.domain is None:
            raise PydanticCustomError(
                "domain_missing",
                "person_key pseudonymised needs a domain: the data service that made the "
                "pseudonyms (such as bsw-dscro), so that a change of service is refused",
            )
        if self.person_key == "nhs_number" and self.domain is not None:
            raise PydanticCustomError(
                "domain_without_pseudonyms",
                "a domain is given only with person_key: pseudonymised",
            )
        return self


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
    # v3: the ICS's own layouts, lookups and code lists (sources.md); a folder
    layouts_folder: Text | None = None
    # v3: the benchmarks file (indicators.md, "Benchmarks"); the project's England figures
    # (diewell/release/benchmarks/england.csv) when not given
    benchmarks: Text | None = None


class IcsEntry(_Section):
    deployment: Text  # <flow name>/<deployment name>, e.g. diewell-refresh/qaa-publication
    outputs: Text  # that ICS's paths.outputs, as this machine sees it


class RegionFile(_Section):
    region: IcsSection  # code and name, as an ICS's
    outputs: Text
    disclosure: DisclosureSection = DisclosureSection()
    ics: Annotated[list[IcsEntry], Field(min_length=2)]
