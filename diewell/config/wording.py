"""What is wrong with a configuration file, in one line per problem that names the key."""

from __future__ import annotations

import difflib
import typing
from pathlib import Path

import yaml
from pydantic import BaseModel

from diewell.config.model import EXTRACTS, ConfigFile
from diewell.settings import ConfigError

SHOWN_VALUE_CHARS = 40  # a wrong value is quoted in the message up to this length


class UniqueKeyLoader(yaml.SafeLoader):
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


def problem(error: dict) -> str:
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
    if kind == "literal_error" and loc and loc[-1] == "person_key":
        return f"{where}: must be nhs_number or pseudonymised, not {_shown(value)}"
    if kind == "string_pattern_mismatch":
        return f"{where}: {_shown(value)} is not a name of letters, digits, '_', '-' or '.'"
    if kind in ("domain_missing", "domain_without_pseudonyms", "layout_extract"):
        return f"{where}: {error['msg']}"
    if kind == "literal_error":
        return (
            f"{where}: {_shown(value)} is not an extract of extracts.md{_nearest(value, EXTRACTS)}; "
            f"known: {', '.join(EXTRACTS)}"
        )
    if kind == "ods_code":
        return f"{where}: {error['msg']}, not {_shown(value)}"
    return f"{where}: {error['msg']} (got {_shown(value)})"


def refuse(path: Path, problems: list[str]) -> ConfigError:
    if len(problems) == 1:
        return ConfigError(f"{path}: {problems[0]}")
    return ConfigError(f"{path}: {len(problems)} problems: " + "; ".join(problems))
