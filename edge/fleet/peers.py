"""When a collector dies, the others take its events: presence, and draining a dead peer.

mosquitto 2 keeps handing a shared subscription's messages to a member whose persistent
session outlives its connection (eclipse-mosquitto/mosquitto#1747): with two collectors and
one killed, half of the new events would queue for the dead one until it comes back — or be
lost with its session a day later if its host never does. A clean session would not queue
them, but would lose what was in flight to it (#2662).

So each collector beats ``online`` every ``BEAT_S`` on ``<prefix>/_collect/<group>/<client id>``
(retained; "offline" is its last will and its word on a graceful stop) and listens to its peers
there. A peer not heard for ``DEAD_S`` while this collector itself has been connected that long
(a broker restart silences everyone at once: that is no death) is taken for dead, and a
survivor **drains** its session: it connects with the peer's client id (same
session) and unsubscribes it from the events, stores and acks everything queued or in flight
there like its own, and when it has been idle for ``IDLE_S`` ends that session (DISCONNECT with
session expiry 0), so the broker stops routing to it. A peer that comes back meanwhile takes
its session over again (the drainer steps aside; whatever it had not acked is delivered to the
peer). The records' ids make every overlap harmless: a redelivery is stored once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from edge.config.mqtt import MqttConfig
from edge.delivery.mqtt import make_client, session_properties

log = logging.getLogger("dwell.collect")
IDLE_S = 1.0  # nothing more arrived for this long: the peer's session is empty
DRAIN_MAX_S = 120.0
BEAT_S = 1.0  # how often a collector says it is alive
DEAD_S = 3.0  # a peer silent this long is drained: its events wait at most about this long


def presence_topic(prefix: str, group: str, client_id: str = "+") -> str:
    return f"{prefix}/_collect/{group}/{client_id}"


def announce(client: mqtt.Client, topic: str) -> None:
    """Sets the last will "offline" (call before connecting); "online" goes out on connect."""
    client.will_set(topic, b"offline", qos=1, retain=True)


Submit = Callable[[str, bytes, Callable[[], None]], None]


class PeerWatch:
    """The collectors of a group as one collector sees them; drains the dead ones."""

    def __init__(self, cfg: MqttConfig, own_id: str, topics: list[str], expiry_s: int, *,
                 submit: Submit, beat: Callable[[], object], connected: Callable[[], bool],
                 forget: Callable[[str], object], counts: Counter[str]) -> None:
        self.cfg, self.own_id, self.topics, self.expiry_s = cfg, own_id, topics, expiry_s
        self._submit, self._beat, self._connected = submit, beat, connected
        self._forget, self.counts = forget, counts
        self._heard: dict[str, float] = {}  # peer -> when last heard alive (monotonic)
        self._since = time.monotonic()  # own connection up since
        self._draining: set[str] = set()
        self._lock = threading.Lock()

    def connected(self) -> None:
        with self._lock:
            self._since = time.monotonic()

    def heard(self, peer: str, state: bytes) -> None:
        """A presence message (paho's thread): "online" is a sign of life, "offline" is not."""
        if peer != self.own_id and state == b"online":
            with self._lock:
                self._heard[peer] = time.monotonic()

    def start(self, stop: threading.Event) -> None:
        threading.Thread(target=self._run, args=(stop,), name="peers", daemon=True).start()

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(BEAT_S):
            if not self._connected():
                continue
            self._beat()
            for peer in self._dead():
                threading.Thread(target=self._drain, args=(peer,), name=f"drain-{peer}",
                                 daemon=True).start()

    def _dead(self) -> list[str]:
        now = time.monotonic()
        with self._lock:
            dead = [peer for peer, at in self._heard.items()
                    if now - max(at, self._since) > DEAD_S and peer not in self._draining]
            for peer in dead:
                self._draining.add(peer)
                del self._heard[peer]  # heard again (it came back): watched again
        return dead

    def _drain(self, peer: str) -> None:
        try:
            got = drain(self.cfg, peer, self.topics, self.expiry_s, self._submit,
                        safe_to_end=self._connected)
            self.counts["drained"] += got
            self._forget(peer)  # its retained "online" would make every new collector drain it
            log.info("collector %s is silent: took over its session, %d event(s) from it",
                     peer, got)
        except Exception:  # a failed drain leaves the session to its owner's return
            log.exception("draining the session of collector %s failed", peer)
        finally:
            with self._lock:
                self._draining.discard(peer)


def drain(cfg: MqttConfig, peer_id: str, topics: list[str], expiry_s: int, submit: Submit,
          safe_to_end: Callable[[], bool] = lambda: True) -> int:
    """Takes over ``peer_id``'s session until it is empty, then ends it; messages drained.
    ``submit(topic, payload, ack)`` hands each to the writer (``ack`` after its commit). The
    session is ended only while ``safe_to_end()`` (our own subscription is up): the group
    must never be left without a subscribed session, or the broker drops what arrives."""
    drainer = _Drainer(cfg, peer_id, topics, submit)
    drainer.client.connect_async(cfg.host, cfg.port, cfg.keepalive_s, clean_start=False,
                                 properties=session_properties(expiry_s))
    drainer.client.loop_start()
    try:
        if not drainer.connected.wait(10):
            log.warning("could not drain the session of collector %s: no connection", peer_id)
            return 0
        drainer.wait_empty(DRAIN_MAX_S)
        if not drainer.gone and safe_to_end():
            end = Properties(PacketTypes.DISCONNECT)
            end.SessionExpiryInterval = 0  # the session ends: the broker stops queueing for it
            drainer.client.disconnect(properties=end)
        else:
            drainer.client.disconnect()  # the session stays; its owner (back, or later) has it
    finally:
        drainer.client.loop_stop()
    return drainer.got


class _Drainer:
    """A connection holding a dead peer's session: what it receives goes to the writer."""

    def __init__(self, cfg: MqttConfig, peer_id: str, topics: list[str],
                 submit: Submit) -> None:
        self.client = make_client(cfg, peer_id, manual_ack=True)
        self.topics, self._submit = topics, submit
        self.last, self.open, self.got, self.gone = time.monotonic(), 0, 0, False
        self.connected = threading.Event()
        self._lock = threading.Lock()
        self.client.on_message = self._on_message
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect

    def wait_empty(self, timeout: float) -> None:
        """Until nothing is open and nothing arrived for IDLE_S (or the peer took over)."""
        deadline = time.monotonic() + timeout
        while not self.gone and time.monotonic() < deadline:
            with self._lock:
                if self.open == 0 and time.monotonic() - self.last > IDLE_S:
                    return
            time.sleep(0.1)

    def _acker(self, mid: int, qos: int) -> Callable[[], None]:
        def ack() -> None:
            self.client.ack(mid, qos)
            with self._lock:
                self.open -= 1
        return ack

    def _on_message(self, c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        if not msg.topic.endswith("/events"):  # the peer's presence subscription
            c.ack(msg.mid, msg.qos)
            return
        with self._lock:
            self.last, self.open, self.got = time.monotonic(), self.open + 1, self.got + 1
        self._submit(msg.topic, bytes(msg.payload), self._acker(msg.mid, msg.qos))

    def _on_connect(self, c: mqtt.Client, u: Any, flags: Any, reason: Any, p: Any) -> None:
        if not reason.is_failure:
            c.unsubscribe(self.topics)  # no new events for this session; what it holds comes
            self.connected.set()

    def _on_disconnect(self, c: mqtt.Client, u: Any, flags: Any, reason: Any, p: Any) -> None:
        self.gone = True  # the peer came back and took its session over
