"""Is the sensor alive? One notice per *change* of a sensor's health, read from its status.

Every sensor keeps a retained ``<prefix>/<store>/<camera>/status`` (edge/delivery/status.py):
``state`` online/offline (offline is also its last will, sent by the broker when the sensor dies
or its network goes) and ``camera_ok``. Without reading it a dead sensor looks exactly like a
quiet shop. The status is re-published for reasons that are not news (a restart, a field that
changed, every re-subscription delivers the retained copy again), so the watch and the bridges
tell the assistant only when the *health* changes: one "offline", one "back", never a stream.

A sensor first seen healthy says nothing (there was no news); first seen offline or blind it
does (the assistant should know now, e.g. after the bridge itself restarted).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

Health = Literal["ok", "offline", "camera_lost"]

TITLES: dict[Health, str] = {
    "offline": "dwell sensor offline",
    "camera_lost": "dwell camera lost",
    "ok": "dwell sensor back",
}


def health_of(status: dict[str, Any]) -> Health:
    """The health a status payload says; states other than offline count as connected."""
    state = str(status.get("state", "")).lower().replace(" ", "_")
    if state == "offline":
        return "offline"
    if state == "camera_lost" or status.get("camera_ok") is False:
        return "camera_lost"
    return "ok"


@dataclass(frozen=True, slots=True)
class HealthChange:
    """A sensor's health changed: what to tell the assistant, once."""

    sensor: str  # "<store>/<camera>"
    health: Health
    previous: Health | None

    @property
    def title(self) -> str:
        return TITLES[self.health]

    @property
    def message(self) -> str:
        if self.health == "offline":
            return (f"{self.sensor} is offline: no pings will reach you until it is back. "
                    "Check its power and network.")
        if self.health == "camera_lost":
            return (f"{self.sensor} cannot see: its camera is lost, no pings until it is "
                    "back. Check the camera cable.")
        return f"{self.sensor} is back: pings reach you again."

    def as_dict(self) -> dict[str, Any]:
        return {"event": "sensor_health", "sensor": self.sensor, "health": self.health,
                "previous": self.previous, "title": self.title, "message": self.message}


class HealthWatch:
    """Remembers each sensor's last health and says when it changed."""

    def __init__(self) -> None:
        self._last: dict[str, Health] = {}

    def update(self, topic: str, payload: bytes) -> HealthChange | None:
        """The change this status message makes, or None (no news, or not a status).

        An empty payload (a retained status cleared on purpose) forgets the sensor.
        Raises ValueError for a payload that is not a JSON object.
        """
        sensor = "/".join(topic.split("/")[-3:-1])
        if not payload:
            self._last.pop(sensor, None)
            return None
        status = json.loads(payload)
        if not isinstance(status, dict):
            raise ValueError(f"status on {topic} is not a JSON object")
        health = health_of(status)
        previous = self._last.get(sensor)
        self._last[sensor] = health
        if health == previous or (previous is None and health == "ok"):
            return None
        return HealthChange(sensor, health, previous)

    def problems(self) -> dict[str, Health]:
        """Sensors whose last known health is not ok."""
        return {sensor: h for sensor, h in self._last.items() if h != "ok"}
