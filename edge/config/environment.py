"""DWELL_* environment variables: each one must name a setting, or it is refused by name.

pydantic-settings reads only the variables that match a field and silently ignores the rest, so
``DWELL_POLICY_LINGER_S=3`` (one underscore) or ``DWELL_FOO=1`` would fall back to the default
without a word. Here every ``DWELL_*`` variable is matched against the settings model first:
``DWELL_<KEY>`` or ``DWELL_<SECTION>__<KEY>`` (any depth), case-insensitive like
pydantic-settings. A variable set deliberately for something else is listed in
``DWELL_ENV_ALLOW`` (names separated by spaces or commas). Values of lists and sections
(``DWELL_ZONES``, ``DWELL_POLICY``) must be JSON; malformed JSON is named here instead of
surfacing as a traceback from pydantic-settings.
"""

from __future__ import annotations

import difflib
import json
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

PREFIX = "DWELL_"
DELIMITER = "__"
ALLOW_ENV = "DWELL_ENV_ALLOW"

# DWELL_* variables the project reads that are not settings (add yours here, with who reads it).
NOT_SETTINGS = {
    "DWELL_CONFIG": "the config file's path (edge/config/settings.py)",
    "DWELL_VENV": "which venv dev.sh sets up",
    "DWELL_SHARED": "where tests and benchmarks find ../shared",
    ALLOW_ENV: "DWELL_* variables of the user's own, to leave alone",
}


@dataclass(frozen=True)
class EnvSetting:
    """One DWELL_* variable and the key path it sets (names as the model spells them)."""

    name: str
    path: tuple[str, ...]
    value: str

    @property
    def key(self) -> str:
        return ".".join(self.path)


def _unwrap(annotation: Any) -> list[Any]:
    """The types an annotation allows, without None, Annotated or unions."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, types.UnionType):
        return [t for arg in get_args(annotation) for t in _unwrap(arg)]
    return [] if annotation is type(None) else [annotation]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for option in _unwrap(annotation):
        if isinstance(option, type) and issubclass(option, BaseModel):
            return option
    return None


def is_json_valued(annotation: Any) -> bool:
    """True when pydantic-settings parses the variable as JSON (a section, list or dict)."""
    options = _unwrap(annotation)
    return bool(options) and all(
        get_origin(t) in (list, tuple, dict, set, frozenset)
        or (isinstance(t, type) and issubclass(t, BaseModel | list | tuple | dict | set))
        for t in options)


def _keys(model: type[BaseModel]) -> dict[str, tuple[str, Any]]:
    """lower-case env spelling -> (key as validated, annotation); aliases win, as in the env."""
    return {(info.alias or name).lower(): (info.alias or name, info.annotation)
            for name, info in model.model_fields.items()}


def resolve(model: type[BaseModel], parts: list[str]) -> tuple[tuple[str, ...], Any] | None:
    """The key path and annotation that env name parts (lower case) set, or None."""
    path: list[str] = []
    current: type[BaseModel] | None = model
    annotation: Any = None
    for part in parts:
        if current is None or part not in (keys := _keys(current)):
            return None
        key, annotation = keys[part]
        path.append(key)
        current = _model_of(annotation)
    return (tuple(path), annotation) if path else None


def all_names(model: type[BaseModel], prefix: str = PREFIX) -> Iterator[str]:
    """Every variable name that sets something (sections too: they take JSON)."""
    for env_key, (_, annotation) in _keys(model).items():
        name = prefix + env_key.upper()
        yield name
        sub = _model_of(annotation)
        if sub is not None:
            yield from all_names(sub, name + DELIMITER)


def _allowed(environ: Mapping[str, str]) -> set[str]:
    extra = environ.get(ALLOW_ENV, "").replace(",", " ").split()
    return {name.upper() for name in (*NOT_SETTINGS, *extra)}


def _unknown(name: str, model: type[BaseModel]) -> str:
    close = difflib.get_close_matches(name.upper(), list(all_names(model)), n=1, cutoff=0.8)
    guess = f"did you mean {close[0]}? " if close else ""
    return (f"{name}: not a dwell setting ({guess}settings are {PREFIX}<KEY> or "
            f"{PREFIX}<SECTION>{DELIMITER}<KEY>, see `dwell config default`; list a variable "
            f"of your own in {ALLOW_ENV} to leave it alone)")


def read_environment(model: type[BaseModel], environ: Mapping[str, str]
                     ) -> tuple[list[EnvSetting], list[str]]:
    """The DWELL_* settings in ``environ``, and one problem line per variable that is wrong."""
    allowed = _allowed(environ)
    found: list[EnvSetting] = []
    problems: list[str] = []
    for name, value in sorted(environ.items()):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper in allowed:
            continue
        resolved = resolve(model, upper[len(PREFIX):].lower().split(DELIMITER))
        if resolved is None:
            problems.append(_unknown(name, model))
            continue
        path, annotation = resolved
        if is_json_valued(annotation):
            try:
                json.loads(value)
            except ValueError as exc:
                problems.append(f"{name}: not valid JSON (it sets {'.'.join(path)}, which takes "
                                f"JSON in the environment): {exc}")
                continue
        found.append(EnvSetting(name, path, value))
    return found, problems


def _json_has(value: str, rest: tuple[Any, ...]) -> bool:
    """Whether the JSON in ``value`` holds the sub-key ``rest`` (str keys, int indices)."""
    try:
        data: Any = json.loads(value)
    except ValueError:
        return False
    for part in rest:
        if isinstance(data, dict) and str(part) in data:
            data = data[str(part)]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return False
    return True


def setting_for(loc: tuple[Any, ...], settings: list[EnvSetting]) -> EnvSetting | None:
    """The variable that supplied the value at ``loc`` (an error location), if one did."""
    for env in settings:
        n = len(env.path)
        if tuple(str(p) for p in loc[:n]) == env.path and (
                len(loc) == n or _json_has(env.value, tuple(loc[n:]))):
            return env
    return None
