"""What the collector accepts: a record of schema 1 from the shop its topic names.

Anything else is refused with a reason (counted and logged by the collector, never stored):
not JSON, not an object, a wrong schema, a missing or mistyped field, an unknown kind, or a
record whose store/camera differ from the topic's (``foreign``: a shop writing as another).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

SCHEMA = 1
MAX_ID = 200
NUMBER = (int, float)
# kind -> field -> allowed types (None allowed where listed)
FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "visit": {"dwell_s": NUMBER, "staff": (bool,), "entered": (bool,), "exited": (bool,)},
    "ping": {"ping_id": (str,), "reason": (str,), "dwell_s": NUMBER,
             "zone": (str, type(None)), "escalation": (bool,)},
    "ack": {"ping_id": (str,), "action": (str,), "after_s": (*NUMBER, type(None))},
    "attended": {"ping_id": (str,), "after_s": NUMBER},
    "held": {"rule": (str,), "candidate": (str,)},
}


class RecordRefused(ValueError):
    """``kind`` is "malformed" or "foreign"; the message says what is wrong."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True, slots=True)
class Accepted:
    id: str
    kind: str
    store: str
    camera: str
    at: datetime
    payload: dict[str, Any]

    def number(self, name: str) -> float:
        value = self.payload.get(name)
        return float(value) if isinstance(value, NUMBER) and not isinstance(value, bool) else 0.0


def topic_place(topic: str) -> tuple[str, str]:
    """(store, camera) of ``<prefix>/<store>/<camera>/events``."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[-1] != "events":
        raise RecordRefused("malformed", f"not an events topic: {topic!r}")
    return parts[-3], parts[-2]


def accept(topic: str, payload: bytes) -> Accepted:
    """The record in ``payload``, checked against its topic; RecordRefused otherwise."""
    store, camera = topic_place(topic)
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordRefused("malformed", f"not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RecordRefused("malformed", "not a JSON object")
    if data.get("schema") != SCHEMA:
        raise RecordRefused("malformed", f"schema {data.get('schema')!r}, expected {SCHEMA}")
    kind = data.get("kind")
    if kind not in FIELDS:
        raise RecordRefused("malformed", f"unknown kind {kind!r}")
    rid = data.get("id")
    if not isinstance(rid, str) or not 0 < len(rid) <= MAX_ID:
        raise RecordRefused("malformed", "id must be a string of 1 to 200 characters")
    if (data.get("store"), data.get("camera")) != (store, camera):
        raise RecordRefused("foreign", f"record of {data.get('store')!r}/"
                            f"{data.get('camera')!r} on {store}/{camera}'s topic")
    _check_fields(kind, data)
    return Accepted(rid, kind, store, camera, _time(data.get("at")), data)


def _check_fields(kind: str, data: dict[str, Any]) -> None:
    for name, types in FIELDS[kind].items():
        value = data.get(name)
        bad_bool = isinstance(value, bool) and bool not in types
        if name not in data or not isinstance(value, types) or bad_bool:
            raise RecordRefused("malformed", f"{kind}.{name}: missing or not "
                                f"{'/'.join(t.__name__ for t in types)}")
        if isinstance(value, float) and not math.isfinite(value):
            raise RecordRefused("malformed", f"{kind}.{name}: not a finite number")


def _time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise RecordRefused("malformed", "at: missing or not an ISO 8601 time")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RecordRefused("malformed", f"at: {value!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise RecordRefused("malformed", f"at: {value!r} has no time zone")
    return at
