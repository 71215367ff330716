"""What the sensor says about itself, retained: ``status`` (on a change of state), ``stats``
(on the service's schedule), the last will, and Home Assistant discovery.

Split from the publisher along the seam between pings (outbox, PUBACK, expiry) and the
sensor's own retained topics. Every method is called with the publisher's connection lock
held and only while connected (except ``set_will``, before the first connect), so the
"connected -> publish" decision and the reconnect's re-announcement cannot interleave.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt

from edge.config.mqtt import MqttConfig
from edge.delivery.homeassistant import discovery_messages
from edge.delivery.mqtt import Topics
from edge.delivery.status import (
    DeliveryCounters,
    StatsSnapshot,
    StatusSnapshot,
    stats_payload,
    status_key,
    status_payload,
)
from edge.vocabulary.types import Camera

Track = Callable[[int], None]  # remembers a mid until its PUBACK


def dumps(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode()


class Announcer:
    """The retained topics of one camera. ``clock`` is wall-clock epoch seconds."""

    def __init__(self, cfg: MqttConfig, camera: Camera, topics: Topics, client: mqtt.Client,
                 clock: Callable[[], float]) -> None:
        self._cfg = cfg
        self._camera = camera
        self._topics = topics
        self._client = client
        self._clock = clock
        self._status: StatusSnapshot | None = None
        self._stats: StatsSnapshot | None = None
        self._problems: dict[str, str] = {}  # kind -> one line; a newer line replaces an older
        self._sent_key: tuple[Any, ...] | None = None

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(self._problems.values())

    def problem(self, kind: str, text: str) -> None:
        """Something degraded that status should say (until the process ends)."""
        self._problems[kind] = text

    def set_will(self) -> None:
        self._client.will_set(self._topics.status, dumps(status_payload(
            "offline", None, None, "connection lost")), qos=1, retain=True)

    def connected(self, track: Track, stats_delivery: DeliveryCounters) -> None:
        """After a CONNACK: status (the last will may have said offline), discovery, stats."""
        self._publish_status(track)
        if self._cfg.homeassistant_discovery:
            for topic, payload in discovery_messages(
                    self._cfg.discovery_prefix, self._topics, self._camera.store,
                    self._camera.camera):
                track(self._client.publish(topic, payload, qos=1, retain=True).mid)
        if self._stats is not None:
            self.stats(self._stats, stats_delivery, track, connected=True)

    def set_status(self, snapshot: StatusSnapshot, track: Track, *, connected: bool) -> None:
        """Keep the latest reading; publish status only when its state changed."""
        self._status = snapshot
        if connected and status_key(snapshot, self.problems) != self._sent_key:
            self._publish_status(track)

    def refresh(self, track: Track, *, connected: bool) -> None:
        """A problem was added: publish if that changed what status says."""
        if connected and status_key(self._status, self.problems) != self._sent_key:
            self._publish_status(track)

    def stats(self, snapshot: StatsSnapshot, delivery: DeliveryCounters, track: Track, *,
              connected: bool) -> None:
        self._stats = snapshot
        if connected:
            payload = dumps(stats_payload(snapshot, delivery, self._clock(), self._status))
            track(self._client.publish(self._topics.stats, payload, qos=1, retain=True).mid)

    def offline(self, reason: str) -> int:
        """The clean retained ``offline`` (on close); its mid."""
        payload = dumps(status_payload("offline", self._status, self._clock(), reason,
                                       self.problems))
        return self._client.publish(self._topics.status, payload, qos=1, retain=True).mid

    def _publish_status(self, track: Track) -> None:
        problems = self.problems
        payload = dumps(status_payload("online", self._status, self._clock(),
                                       problems=problems))
        track(self._client.publish(self._topics.status, payload, qos=1, retain=True).mid)
        self._sent_key = status_key(self._status, problems)
