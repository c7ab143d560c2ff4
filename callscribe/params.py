"""params.yaml: its schema, checked before any work, and its loading for the stage scripts.

Each section's schema is a pydantic model (or a dataclass pydantic checks) in the module that owns the
section, with params.yaml's values as its defaults: the one source of them. A wrong value or an unknown
key stops the stage with one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import typing
from pathlib import Path

import yaml
from pydantic import TypeAdapter, ValidationError

# section -> "module:schema". Imported by name, only to check: a stage depends on (DVC re-runs it for) the
# modules of the sections it uses, not on every schema, since checking a value changes no output.
SECTIONS = {
    "extract": "callscribe.archive:ExtractParams",
    "profile": "callscribe.profile:ProfileParams",
    "filter": "callscribe.selection:FilterParams",
    "shards": "callscribe.selection:Shards",
    "transcribe": "callscribe.settings:TranscribeSettings",
    "redact": "callscribe.redact.settings:RedactParams",
    "evaluate": "callscribe.evaluate:EvaluateParams",
    "review": "callscribe.review:ReviewParams",
    "merge": "callscribe.outputs:MergeParams",
    "analytics": "callscribe.analytics.params:Analytics",
}


class ParamsError(ValueError):
    """params.yaml holds a value its schema refuses; the message says which key and what is allowed."""


def schema(section: str) -> type:
    module, name = SECTIONS[section].split(":")
    return getattr(importlib.import_module(module), name)


def keys(cls: type) -> list[str]:
    """The keys a section's schema declares (none for a mapping of free names, like `shards`)."""
    if dataclasses.is_dataclass(cls):
        return [f.name for f in dataclasses.fields(cls) if f.metadata.get("param", True)]
    if getattr(cls, "__pydantic_root_model__", False):
        return []
    return list(cls.model_fields)


def defaults(cls: type) -> dict:
    """The section's defaults as params.yaml writes them."""
    if dataclasses.is_dataclass(cls):
        return {k: getattr(cls(), k) for k in keys(cls)}
    return cls().model_dump()


def _unknown(given: dict, known: list[str]) -> str | None:
    """The first key of `given` that is not in `known`, with the nearest known one ("did you mean")."""
    for key in given:
        if key not in known:
            near = difflib.get_close_matches(str(key), known, n=1)
            return f"{key} is not known: " + (f"did you mean `{near[0]}`?" if near else f"give one of {', '.join(known)}")
    return None


def _allowed(cls: type, key, errors: list[dict]) -> str:
    """What the schema allows at `key`: the field's description where it has one, else pydantic's words."""
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls, include_extras=True)
        hint = next((m.description for m in getattr(hints.get(key), "__metadata__", ()) if getattr(m, "description", None)), None)
    else:
        info = None if getattr(cls, "__pydantic_root_model__", False) else cls.model_fields.get(key)
        hint = info.description if info is not None else None
    if hint:
        return hint
    words = list(dict.fromkeys(_words(e) for e in errors))
    if "a number" in words and "a whole number" in words:  # int | float
        words.remove("a whole number")
    return " or ".join(words)


WORDS = {"int_type": "a whole number", "int_parsing": "a whole number", "int_from_float": "a whole number",
         "float_type": "a number", "float_parsing": "a number", "bool_type": "true or false", "bool_parsing": "true or false",
         "string_type": "text (in quotes where YAML would read it otherwise)", "list_type": "a list", "dict_type": "a mapping",
         "greater_than": "a number above {gt}", "greater_than_equal": "a number of at least {ge}",
         "less_than": "a number below {lt}", "less_than_equal": "a number of at most {le}",
         "too_short": "at least {min_length} items", "too_long": "at most {max_length} items",
         "string_pattern_mismatch": "text matching {pattern}"}


def _words(error: dict) -> str:
    """Pydantic's error as what to give instead."""
    words = WORDS.get(error["type"])
    if words:
        return words.format(**error.get("ctx", {}))
    return error["msg"].removeprefix("Input should be ").removeprefix("Value error, ")


def check_section(section: str, cls: type, given: dict):
    """The section built from `given` by its schema; ParamsError (one line per wrong key) if it refuses them."""
    if not isinstance(given, dict):
        raise ParamsError(f"{section} is {given!r}: give a mapping of its keys")
    known = keys(cls)
    if known and (problem := _unknown(given, known)):
        raise ParamsError(f"{section}.{problem}")
    try:
        if dataclasses.is_dataclass(cls):
            value = cls(**given)
            TypeAdapter(cls).validate_python(value)  # the instance is kept as given: no coercion reaches the hash
            return value
        return cls.model_validate(given, strict=True)
    except ValidationError as e:
        by_key: dict = {}
        for err in e.errors():
            by_key.setdefault(err["loc"][0] if err["loc"] else None, []).append(err)
        lines = []
        for key, errs in by_key.items():
            path = f"{section}.{key}" if key is not None else section
            value = given.get(key) if key is not None else given
            if key is not None and key not in given and errs[0]["loc"][1:]:  # a free name (a shard) holds the fault
                path, value = f"{section}.{errs[0]['loc'][0]}", given.get(errs[0]["loc"][0])
            lines.append(f"{path} is {value!r}: give {_allowed(cls, key, errs)}")
        raise ParamsError("\n".join(lines)) from None


def check(params: dict) -> dict:
    """Every section of params.yaml checked against its schema; returns params.yaml with every section's
    defaults filled in where a key is left out. ParamsError names the first wrong section's keys."""
    if not isinstance(params, dict):
        raise ParamsError("params.yaml: give a mapping of sections (extract:, transcribe:, ...)")
    if problem := _unknown(params, list(SECTIONS)):
        raise ParamsError(f"params.yaml: section {problem}")
    out = {}
    for section in SECTIONS:
        cls = schema(section)
        given = params.get(section)
        if given is None:
            given = {}
        try:
            check_section(section, cls, given)
        except ParamsError as e:
            raise ParamsError("\n".join(f"params.yaml: {line}" for line in str(e).splitlines())) from None
        out[section] = {**defaults(cls), **given} if keys(cls) else given
    return out


def read(path: str | Path = "params.yaml") -> dict:
    """params.yaml as written, checked (ParamsError) and with the defaults of what it leaves out."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = yaml.safe_load(f) or {}
    except yaml.YAMLError as e:
        raise ParamsError(f"params.yaml is not valid YAML: {e}".replace("\n", " ")) from None
    return check(raw)


def load(path: str | Path = "params.yaml") -> dict:
    """For a stage script: params.yaml checked before any work; a refused value exits with its line."""
    try:
        return read(path)
    except ParamsError as e:
        raise SystemExit(f"{e}\nFix it in {path} (or `dvc exp run -S key=value`); nothing was run.") from None
