"""The configuration as TOML: the effective settings (`dwell config show`) and the documented
default file (`dwell config default`, which config/dwell.toml is generated from).

Plain string building for our settings' shapes (tables, arrays of tables, scalars, lists): the
standard library reads TOML but does not write it, and a writer dependency is not worth it for
this. Every setting's description and bounds come from its pydantic field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise TypeError(f"cannot write {type(v).__name__} as TOML")


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Plain TOML for our settings' shapes; None (unset) is written as a comment."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(x, dict) for x in value)
        ):
            tables.append((key, value))
        elif value is None:
            lines.append(f"# {key} = (unset)")
        else:
            lines.append(f"{key} = {_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out += f"\n[{name}]\n" + to_toml(value, f"{name}.")
        else:
            for item in value:
                out += f"\n[[{name}]]\n" + to_toml(item, f"{name}.")
    return out


_BOUNDS = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}


def _doc_lines(model: Any, prefix: str) -> tuple[list[str], list[tuple[str, Any]]]:
    """Commented `key = default` lines for a model's scalar fields, and its sub-tables."""
    from pydantic import BaseModel

    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            tables.append((f"{prefix}{key}", annotation))
            continue
        if name == "zones":
            continue
        default = info.get_default(call_default_factory=True)
        for text in _wrap(info.description or ""):
            lines.append(f"# {text}")
        bounds = [f"{sign} {getattr(m, attr)}" for m in info.metadata
                  for attr, sign in _BOUNDS.items() if getattr(m, attr, None) is not None]
        if bounds:
            lines.append(f"#   ({', '.join(bounds)})")
        if default is None:
            lines.append(f"# {key} =")
        else:
            plain = str(default) if isinstance(default, Path) else default
            lines.append(f"{key} = {_value(plain)}")
        lines.append("")
    return lines, tables


def _wrap(text: str, width: int = 96) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or []


ZONES_EXAMPLE = """\
# Zones: polygons in normalised image coordinates (0..1, x right, y down). A person is in a
# zone when the bottom centre of their box (their feet) is inside. kind is one of:
#   help_point  a visitor waiting here pings at once (no give-them-space window)
#   staff       whoever starts a visit here is staff for that whole visit
#   ignore      people here are not tracked (a street window, a poster)
#   entrance    the doorway
# Draw them on a snapshot of your camera (`dwell zones --snapshot out.png`). Example:
#
# [[zones]]
# name = "help desk"
# kind = "help_point"
# polygon = [[0.70, 0.55], [0.95, 0.55], [0.95, 0.95], [0.70, 0.95]]
#
# [[zones]]
# name = "counter"
# kind = "staff"
# polygon = [[0.0, 0.6], [0.2, 0.6], [0.2, 1.0], [0.0, 1.0]]
"""


def default_config_text() -> str:
    """The documented default config: every key, its default, what changing it trades off."""
    from edge.config.settings import Settings

    out = [
        "# dwell configuration. Every key is shown with its default; delete what you do not",
        "# change. Environment variables override this file: DWELL_POLICY__LINGER_S=20 sets",
        "# [policy] linger_s. Check your edits with `dwell config check`.",
        "# Regenerate this file with `dwell config default > config/dwell.toml`.",
        "",
    ]
    lines, tables = _doc_lines(Settings, "")
    out += lines
    out.append(ZONES_EXAMPLE)
    while tables:
        name, model = tables.pop(0)
        sub_lines, sub_tables = _doc_lines(model, f"{name}.")
        out += [f"[{name}]", *sub_lines]
        tables = sub_tables + tables
    return "\n".join(out).rstrip() + "\n"
