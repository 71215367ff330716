"""When a collector dies, the others take its events: presence, and draining a dead peer.

mosquitto 2 keeps handing a shared subscription's messages to a member whose persistent
session outlives its connection (eclipse-mosquitto/mosquitto#1747): with two collectors and
one killed, half of the new events would queue for the dead one until it comes back — or be
lost with its session a day later if its host never does. A clean session would not queue
them, but would lose what was in flight to it (#2662).

So each collector announces itself on ``<prefix>/_collect/<group>/<client id>`` ("online",
retained, with "offline" as its last will), and watches its peers there. When a peer goes
offline, a survivor **drains** its session: it connects with the peer's client id (same
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


def presence_topic(prefix: str, group: str, client_id: str = "+") -> str:
    return f"{prefix}/_collect/{group}/{client_id}"


def announce(client: mqtt.Client, topic: str) -> None:
    """Sets the last will "offline" (call before connecting); "online" goes out on connect."""
    client.will_set(topic, b"offline", qos=1, retain=True)


def drain(cfg: MqttConfig, peer_id: str, events_topic: str, expiry_s: int,
          submit: Callable[[str, bytes, Callable[[], None]], None]) -> int:
    """Takes over ``peer_id``'s session until it is empty, then ends it; messages drained.
    ``submit(topic, payload, ack)`` hands each to the writer (``ack`` after its commit)."""
    client = make_client(cfg, peer_id, manual_ack=True)
    state = {"last": time.monotonic(), "open": 0, "got": 0, "gone": False}
    lock = threading.Lock()
    connected = threading.Event()

    def acker(mid: int, qos: int) -> Callable[[], None]:
        def ack() -> None:
            client.ack(mid, qos)
            with lock:
                state["open"] -= 1
        return ack

    def on_message(c: mqtt.Client, u: Any, msg: mqtt.MQTTMessage) -> None:
        with lock:
            state["last"], state["open"], state["got"] = (time.monotonic(), state["open"] + 1,
                                                          state["got"] + 1)
        submit(msg.topic, bytes(msg.payload), acker(msg.mid, msg.qos))

    def on_connect(c: mqtt.Client, u: Any, flags: Any, reason: Any, p: Any) -> None:
        if not reason.is_failure:
            # no new events for this session from now on; what it holds still comes
            c.unsubscribe(events_topic)
            connected.set()

    def on_disconnect(c: mqtt.Client, u: Any, flags: Any, reason: Any, p: Any) -> None:
        state["gone"] = True  # the peer came back and took its session over

    client.on_message, client.on_connect, client.on_disconnect = on_message, on_connect, \
        on_disconnect
    client.connect_async(cfg.host, cfg.port, cfg.keepalive_s, clean_start=False,
                         properties=session_properties(expiry_s))
    client.loop_start()
    try:
        if not connected.wait(10):
            log.warning("could not drain the session of collector %s: no connection", peer_id)
            return 0
        deadline = time.monotonic() + DRAIN_MAX_S
        while not state["gone"] and time.monotonic() < deadline:
            with lock:
                done = state["open"] == 0 and time.monotonic() - state["last"] > IDLE_S
            if done:
                break
            time.sleep(0.1)
        if not state["gone"]:
            end = Properties(PacketTypes.DISCONNECT)
            end.SessionExpiryInterval = 0  # the session ends: the broker stops queueing for it
            client.disconnect(properties=end)
    finally:
        client.loop_stop()
    return int(state["got"])
