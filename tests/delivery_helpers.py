"""Builders for the delivery tests: settings pointing at a fixture broker, pings, and a real
MQTT subscriber that records what arrives (no mocked broker)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config.mqtt import MqttConfig
from edge.config.settings import Settings
from edge.vocabulary.events import Ping


def make_settings(state_dir: Path, port: int, **mqtt: Any) -> Settings:
    mqtt.setdefault("keepalive_s", 5)
    mqtt.setdefault("reconnect_max_s", 1.0)
    return Settings(state_dir=state_dir, mqtt=MqttConfig(port=port, **mqtt))


def make_ping(ping_id: str, reason: str = "linger", dwell_s: float = 100.0,
              zone: str | None = None, visitor: int = 1) -> Ping:
    return Ping(t=dwell_s, visitor=visitor, id=ping_id, reason=reason,  # type: ignore[arg-type]
                dwell_s=dwell_s, zone=zone)


@dataclass
class Received:
    topic: str
    payload: bytes
    retain: bool
    expiry: int | None
    at: float

    def json(self) -> Any:
        return json.loads(self.payload)


class Collector:
    """A subscriber; ``persistent`` keeps its session (and QoS 1 backlog) across drops."""

    def __init__(self, port: int, topics: list[str], *, client_id: str | None = None,
                 persistent: bool = False, username: str | None = None,
                 password: str | None = None) -> None:
        self.messages: list[Received] = []
        self._cond = threading.Condition()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id or "",
                                  protocol=mqtt.MQTTv5)
        if username:
            self.client.username_pw_set(username, password)
        self.client.reconnect_delay_set(1, 1)
        self.client.on_message = self._on_message
        self._topics = topics
        self.client.on_connect = self._on_connect
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        props = None
        if persistent:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, keepalive=5, clean_start=not persistent,
                            properties=props)
        self.client.loop_start()
        if not self.subscribed.wait(5):
            raise TimeoutError("subscriber did not get its SUBACK")

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        for topic in self._topics:
            client.subscribe(topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        expiry = getattr(msg.properties, "MessageExpiryInterval", None)
        with self._cond:
            self.messages.append(Received(msg.topic, bytes(msg.payload), bool(msg.retain),
                                          expiry, time.monotonic()))
            self._cond.notify_all()

    def on(self, suffix: str) -> list[Received]:
        with self._cond:
            return [m for m in self.messages if m.topic.endswith(suffix)]

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 10.0
                 ) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self.messages):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"not seen within {timeout}s; got "
                                       f"{[(m.topic, m.payload[:80]) for m in self.messages]}")
                self._cond.wait(left)
            return list(self.messages)

    def ping_ids(self) -> list[str]:
        return [m.json()["id"] for m in self.on("/ping")]

    def last_state(self) -> str | None:
        statuses = self.on("/status")
        return statuses[-1].json()["state"] if statuses else None

    def close(self) -> None:
        self.client.disconnect()  # first: the network thread then ends without a select wait
        self.client.loop_stop()


def wait_until(predicate: Callable[[], bool], timeout: float = 10.0,
               what: str = "condition not met", every_s: float = 0.02) -> None:
    """Polls ``predicate`` every ``every_s`` until true; TimeoutError(``what``) after
    ``timeout`` s (a costly predicate, a database query, polls less often)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(every_s)


def publish_raw(port: int, topic: str, *payloads: bytes, **auth: Any) -> list[Any]:
    """Publish QoS 1 messages in order on one connection; their PUBACK reason codes."""
    reasons: dict[int, Any] = {}
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    if auth:
        client.username_pw_set(auth["username"], auth.get("password"))
    client.on_publish = lambda c, u, mid, reason, props: reasons.__setitem__(mid, reason)
    client.connect("127.0.0.1", port)
    client.loop_start()
    mids = [client.publish(topic, payload, qos=1).mid for payload in payloads]
    wait_until(lambda: all(mid in reasons for mid in mids), 5)
    client.disconnect()
    client.loop_stop()
    return [reasons[mid] for mid in mids]


def outage_delays(broker: Any, state_dir: Path, down_s: float, pings: int = 3,
                  **mqtt: Any) -> list[float]:
    """Seconds from the broker accepting connections again to each ping queued during an
    outage of ``down_s`` reaching a persistent watch, with a real publisher and broker.

    ``broker`` (tests.broker.Mosquitto, not started) gets persistence, so the watch's session
    survives the graceful stop. ``mqtt`` overrides the publisher's [mqtt] settings; the
    reconnect backoff is the product's default unless given here.
    """
    from edge.delivery.publisher import sensor_publisher

    broker.extra_config += f"\npersistence true\npersistence_location {broker.workdir}/\n"
    broker.start()
    watch_id = f"watch-outage-{broker.port}"
    watch = Collector(broker.port, ["dwell/+/+/ping"], client_id=watch_id, persistent=True)
    defaults = MqttConfig()
    mqtt.setdefault("reconnect_min_s", defaults.reconnect_min_s)
    mqtt.setdefault("reconnect_max_s", defaults.reconnect_max_s)
    pub = sensor_publisher(make_settings(state_dir, broker.port, **mqtt), lambda *a: None)
    try:
        if not pub.wait_connected(10):
            raise TimeoutError(f"publisher did not connect: {pub.connection_error}")
        broker.stop()
        stopped = time.monotonic()
        wait_until(lambda: not pub.connected, 10)
        ids = [f"outage-{broker.port}-{i}" for i in range(pings)]
        for i, ping_id in enumerate(ids):  # spread over the outage, the last near its end
            due = stopped + (down_s - 0.5) * (i + 1) / pings
            time.sleep(max(0.0, due - time.monotonic()))
            pub.publish(make_ping(ping_id))
        time.sleep(max(0.0, stopped + down_s - time.monotonic()))
        broker.start()  # returns once the port accepts connections
        ready = time.monotonic()
        watch.wait_for(lambda ms: set(ids) <= {m.json()["id"] for m in ms}, timeout=60)
    finally:
        pub.close()
        watch.close()
    first = {}
    for m in watch.on("/ping"):
        first.setdefault(m.json()["id"], m.at)
    return [first[ping_id] - ready for ping_id in ids]
