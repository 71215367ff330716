"""The console's one save path: changes merged into the owner's TOML file, validated by the
same rules as `dwell config check` (``load_settings``), the previous file kept as ``.bak``.

The file is rewritten from its parsed keys (the standard library reads TOML but does not
write it): every key the owner set is kept, comments are not (they stay in the backup).
Secrets shown masked ("********") are never written back.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from edge.config.render import to_toml
from edge.config.settings import ConfigError, Settings, load_settings

MASK = "********"
HEADER = ("# dwell configuration, saved by the console (the previous file is beside it as "
          "{name}.bak).\n# Check edits with `dwell config check`.\n\n")
# the sections the console's forms edit, and the top-level list it replaces whole
EDITABLE = ("policy", "behaviour", "tracker", "record")


class SaveError(ValueError):
    """A change the rules refuse; ``errors`` maps a key path ('zones.1.polygon') to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _unmasked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unmasked(v) for k, v in value.items() if v != MASK}
    return value


def merge(data: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``changes`` laid over the file's ``data``: sections key by key, lists replaced whole;
    a None value removes the key (back to its default)."""
    out = dict(data)
    for key, value in _unmasked(changes).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        elif value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


def _errors(exc: ConfigError, tmp: Path, path: Path) -> dict[str, str]:
    """'file: key.path: reason' lines as {key.path: reason}."""
    errors: dict[str, str] = {}
    for line in str(exc).replace(str(tmp), str(path)).splitlines():
        rest = line.split(": ", 1)[1] if line.startswith(f"{path}: ") else line
        key, _, reason = rest.partition(": ")
        errors[key if reason else "(file)"] = reason or rest
    return errors


def save(path: Path, changes: dict[str, Any]) -> Settings:
    """Merges ``changes`` into ``path``, checks the result, then replaces the file (keeping
    the old one as ``path.bak``); raises SaveError (nothing written) when a rule refuses."""
    data: dict[str, Any] = {}
    if path.is_file():
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    text = HEADER.format(name=path.name) + to_toml(merge(data, changes))
    tmp = path.with_name(f".{path.name}.new")
    tmp.write_text(text, encoding="utf-8")
    _keep_access(path, tmp)
    try:
        settings = load_settings(tmp)
    except ConfigError as exc:
        tmp.unlink()
        raise SaveError(_errors(exc, tmp, path)) from None
    if path.is_file():
        shutil.copy2(path, path.with_name(path.name + ".bak"))
    os.replace(tmp, path)
    return settings


def _keep_access(old: Path, new: Path) -> None:
    """``new`` gets ``old``'s mode and group: under systemd's DynamicUser the service's uid
    may differ at the next start, so the file must stay readable through its group (0640
    root:dwell), not only by whoever saved it last."""
    if not old.is_file():
        return
    st = old.stat()
    with contextlib.suppress(OSError):  # a group we are not in: keep ours (mode still kept)
        os.chown(new, -1, st.st_gid)
    os.chmod(new, stat.S_IMODE(st.st_mode))


_BOUNDS = ("ge", "gt", "le", "lt")


def fields_of(model: type[BaseModel], current: BaseModel) -> list[dict[str, Any]]:
    """Every scalar key of a section: name, type, description, bounds, default and value."""
    out = []
    for name, info in model.model_fields.items():
        bounds = {attr: getattr(m, attr) for m in info.metadata for attr in _BOUNDS
                  if getattr(m, attr, None) is not None}
        annotation = str(info.annotation).replace("typing.", "")
        value = getattr(current, name)
        if isinstance(value, BaseModel | list):
            continue
        kind = ("bool" if isinstance(value, bool) or "bool" in annotation else
                "int" if "int" in annotation else "float" if "float" in annotation else "str")
        out.append({"key": info.alias or name, "type": kind, "optional": "None" in annotation,
                    "description": info.description or "", "bounds": bounds,
                    "default": info.get_default(call_default_factory=True),
                    "value": value if not isinstance(value, Path) else str(value)})
    return out
