"""Pings to the watch over MQTT 5: on disk first, confirmed by PUBACK, never sent late.

Delivery rules (docs/delivery.md):
- ``publish`` writes the ping to the SQLite outbox, then hands it to paho only while connected.
  While disconnected nothing goes to paho: its RAM queue would resend later with the original
  message-expiry, i.e. late. On (re)connect the outbox is flushed, each ping carrying its
  *remaining* lifetime as the MQTT 5 message expiry; expired ones are dropped and counted.
- A ping leaves the outbox on its PUBACK (tracked by mid in on_publish: in paho 2
  ``is_published`` raises while disconnected). "No matching subscribers" is success (counted:
  nobody listened); "Not authorized" is an ACL refusal, logged as an error.
- Duplicates after a reconnect are possible by MQTT's rules; the ping ``id`` lets watches drop
  them.
- Status is retained: ``online`` on connect, ``offline`` by the last will on a lost connection
  (about 1.5 x keepalive) and by a clean message on ``close``; in between it is re-published
  only on a change of state (edge/delivery/announce.py). Counts go to ``stats``.
- Reconnects: a short jittered backoff, and a hard one when another client has taken the
  session over (edge/delivery/reconnect.py). A corrupt outbox is quarantined, not fatal.

``on_ack`` is called on paho's thread; the service hands it to its processing thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt

from edge.config.mqtt import MqttConfig
from edge.config.settings import Settings
from edge.delivery.acks import AckFilter
from edge.delivery.announce import Announcer, dumps
from edge.delivery.messages import iso_utc, ping_payload
from edge.delivery.mqtt import (
    Topics,
    describe_refusal,
    diagnose_connect,
    expiry_properties,
    make_client,
    session_properties,
    set_reconnect_delay,
)
from edge.delivery.outbox import Entry, Outbox
from edge.delivery.outcomes import LogOnce, Outcomes, Tag
from edge.delivery.puback import Pubacks
from edge.delivery.reconnect import QUICK_DROPS, QUICK_S, Drop, ReconnectPolicy
from edge.delivery.status import (
    DeliveryCounters,
    StatsSnapshot,
    StatusSnapshot,
    median_or_none,
)
from edge.vocabulary.acks import Ack
from edge.vocabulary.events import Ping
from edge.vocabulary.interfaces import AckHandler, Publisher
from edge.vocabulary.records import Record
from edge.vocabulary.types import Camera

log = logging.getLogger("dwell.publisher")



class MqttPublisher(Publisher):
    """The ``Publisher`` of a sensor. ``clock`` is wall-clock epoch seconds (tests pass one).

    ``role`` "replay" (`dwell replay --publish`) sends pings exactly alike but must not pose as
    the live sensor: its own client id (the same id would kick the sensor off the broker), its
    own outbox (a live start must not resend replayed pings), and no status, stats or
    discovery (it would mark the live camera offline when it ends).
    """

    def __init__(self, cfg: MqttConfig, camera: Camera, on_ack: AckHandler, *,
                 state_dir: Path, clock: Callable[[], float] = time.time,
                 role: Literal["sensor", "replay"] = "sensor") -> None:
        self._cfg = cfg
        self._camera = camera
        self._clock = clock
        suffix = "" if role == "sensor" else f"-{role}"
        self.client_id = (cfg.client_id or f"dwell-{camera.store}-{camera.camera}") + suffix
        # first: a TLS file problem should fail before anything is opened
        self._client = make_client(cfg, self.client_id)
        self.topics = Topics.of(cfg.topic_prefix, camera.store, camera.camera)
        self.counters = DeliveryCounters()
        self.acks = AckFilter(on_ack)
        self.outbox = Outbox(state_dir / f"outbox-{camera.store}-{camera.camera}{suffix}.db",
                             clock)
        self.connection_error: str | None = None
        self._conn_lock = threading.Lock()  # held while deciding "connected -> hand to paho"
        # mid -> ("ping" | "record", id); None for status, stats and discovery
        self._log_once = LogOnce()
        self._outcomes = Outcomes(cfg, self.topics, self.outbox, self.counters, self._log_once)
        self._pubacks: Pubacks[Tag] = Pubacks(self._outcomes.confirmed)
        self._reconnect = ReconnectPolicy(cfg.reconnect_min_s, cfg.reconnect_max_s,
                                          cfg.takeover_backoff_s, clock=time.monotonic)
        self._connected = False
        self._connected_event = threading.Event()
        self._closing = False
        self._announcer = (Announcer(cfg, camera, self.topics, self._client, clock)
                           if role == "sensor" else None)
        self._refused = False  # the last attempt ended in a CONNACK refusal (already logged)
        self._expired_base = self.outbox.counter("expired")  # expiries of earlier runs: not ours
        for entry in self.outbox.pending(clock()):  # acks may answer pings of a past run
            self.acks.sent(entry.id, entry.created)
        if self.outbox.quarantined is not None:
            self._problem("outbox", f"the ping outbox was corrupt: moved aside to "
                          f"{self.outbox.quarantined.name}, started a fresh one")

        if self._announcer is not None:
            self._announcer.set_will()
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._pubacks.on_publish
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        # A persistent session for the ack subscription: an ack sent during a short drop is
        # still delivered. Longer than a ping lives it is of no use.
        self._client.connect_async(cfg.host, cfg.port, cfg.keepalive_s, clean_start=False,
                                   properties=session_properties(cfg.ping_expiry_s))
        self._client.loop_start()

    # -- the Publisher interface ------------------------------------------------------------

    def publish(self, ping: Ping) -> None:
        """Queue on disk, then send if connected; returns at once (never blocks on the net)."""
        now = self._clock()
        expiry = self._cfg.ping_expiry_s
        data = ping_payload(ping, store=self._camera.store, camera=self._camera.camera,
                            language=self._cfg.language, now=now, expiry_s=expiry)
        entry = Entry(ping.id, self.topics.ping, dumps(data), now, now + expiry)
        self.acks.sent(ping.id, now)
        self.counters.queued += 1
        self._drop_expired(now)
        # add and send under one lock with on_connect's flush: the ping goes out exactly once,
        # either here (connected) or in the flush (not yet connected)
        with self._conn_lock:
            self.outbox.add(entry)
            if self._connected:
                self._send(entry, now)

    def publish_record(self, record: Record) -> None:
        """Queue a finished record for the centre (no expiry: it waits for the broker however
        long it takes, within ``mqtt.events_max``); returns at once."""
        payload = dumps(record.payload)
        with self._conn_lock:
            dropped = self.outbox.add_record(record.id, self.topics.events, payload,
                                             record.held, self._cfg.events_max)
            self.counters.records_queued += 1
            if dropped:
                self.counters.records_dropped += dropped
                self._log_once(log.warning, f"the outbox holds {self._cfg.events_max} records "
                               "(mqtt.events_max): dropping the oldest, held ones first")
            if self._connected:
                self._send_record(record.id, self.topics.events, payload)

    def drain(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for the outbox to empty (connecting first if need be);
        the number of pings still unconfirmed (they stay on disk for the next start)."""
        deadline = time.monotonic() + timeout
        while ((len(self.outbox) or self.outbox.records_waiting())
               and time.monotonic() < deadline):
            time.sleep(0.02)
        self._drop_expired(self._clock())
        return len(self.outbox)

    def close(self, timeout: float = 3.0, drain_s: float = 0.0) -> None:
        """Clean ``offline`` status (retained), then disconnect. Unconfirmed pings stay on disk;
        ``drain_s`` > 0 first waits that long for them to be confirmed."""
        if drain_s > 0 and (left := self.drain(drain_s)):
            log.warning("%d ping(s) not confirmed by the broker %s:%s; kept in %s for the next "
                        "start", left, self._cfg.host, self._cfg.port,
                        self.outbox.path)
        self._closing = True
        mid = None
        with self._conn_lock:
            if self._connected and self._announcer is not None:
                mid = self._announcer.offline("shutdown")
                self._pubacks.track(mid, None)
        if mid is not None:
            deadline = time.monotonic() + timeout
            while (time.monotonic() < deadline and self._connected
                   and self._pubacks.waiting(mid)):
                time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()
        self.outbox.close()

    # -- status and stats -------------------------------------------------------------------

    def set_status(self, snapshot: StatusSnapshot) -> None:
        """The service's latest reading. The retained ``status`` is re-published only when its
        state (camera ok or lost, problems) changed; visitors and fps go out with stats."""
        with self._conn_lock:
            if self._announcer is not None:
                self._announcer.set_status(snapshot, self._track_status,
                                           connected=self._connected)

    def publish_stats(self, snapshot: StatsSnapshot) -> None:
        """Publish the retained stats (the service calls this every stats_interval_s)."""
        self._drop_expired(self._clock())
        with self._conn_lock:
            if self._announcer is not None:
                self._announcer.stats(snapshot, self.delivery(), self._track_status,
                                      connected=self._connected)

    @property
    def problems(self) -> tuple[str, ...]:
        """What ``status`` says is degraded (quarantined outbox, session taken over)."""
        return self._announcer.problems if self._announcer is not None else ()

    def delivery(self) -> DeliveryCounters:
        """Counters of this process, including ack refusals by reason."""
        self.counters.acks_accepted = self.acks.accepted
        self.counters.acks_refused = self.acks.refused.copy()
        return self.counters

    def report(self) -> str:
        """One line on what became of this process's pings (for `dwell replay --publish`)."""
        return self._outcomes.report()

    def ack_median_s(self) -> float | None:
        """Median seconds from sending a ping to its first ack, as seen by the publisher."""
        return median_or_none(self.acks.times_to_ack)

    @property
    def connected(self) -> bool:
        return self._connected

    def wait_connected(self, timeout: float) -> bool:
        """Wait until connected and subscribed to acks (for tools and tests)."""
        return self._connected_event.wait(timeout)

    # -- paho callbacks (paho's network thread) ---------------------------------------------

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    props: Any) -> None:
        cfg = self._cfg
        if reason.is_failure:
            self.connection_error = describe_refusal(reason, cfg)
            self._refused = True
            self._log_once(log.error, self.connection_error)
            return
        if self.connection_error:
            log.info("connected to broker %s:%s after: %s", cfg.host, cfg.port,
                     self.connection_error)
        self.connection_error = None
        self._log_once.clear()
        self._reconnect.connected()
        # paho would now resend what was in flight at the drop, with its original expiry:
        # late. The outbox resends instead, with the remaining lifetime (paho's advice for
        # this is to drop its copies here, in on_connect, before it resends them).
        client.drop_out_messages()
        client.subscribe(self.topics.ack, qos=1)
        now = self._clock()
        with self._conn_lock:
            self._connected = True
            if self._announcer is not None:
                self._announcer.connected(self._track_status, self.delivery())
            self._drop_expired(now)
            pending = self.outbox.pending(now)
            for entry in pending:
                self._send(entry, now)
                self.counters.resent += 1
            for rid, topic, payload in self.outbox.pending_records():
                self._send_record(rid, topic, payload)
        log.info("connected to broker %s:%s; %d queued ping(s) sent", cfg.host, cfg.port,
                 len(pending))

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      props: Any) -> None:
        if reasons and reasons[0].is_failure:
            log.error("broker refused the subscription to %s (%s): acks from watches will not "
                      "arrive; check the broker's ACL for this sensor", self.topics.ack,
                      reasons[0])
        self._connected_event.set()  # ready: acks sent from now on reach us

    def _on_connect_fail(self, client: mqtt.Client, userdata: Any) -> None:
        set_reconnect_delay(client, self._reconnect.failed(), self._cfg.reconnect_max_s)
        self.connection_error = diagnose_connect(self._cfg)
        self._log_once(log.error if "TLS" in self.connection_error else log.warning,
                       self.connection_error + "; pings wait in the outbox")

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                       props: Any) -> None:
        with self._conn_lock:
            was_connected, self._connected = self._connected, False
            self._connected_event.clear()
            self._pubacks.forget()  # mids of the old connection; the outbox resends
        refused, self._refused = self._refused, False
        if self._closing:
            return
        if was_connected:
            drop = self._reconnect.lost(reason)
            set_reconnect_delay(client, drop.delay_s, drop.delay_s)
            if drop.taken_over:
                self._taken_over(drop)
            else:
                log.warning("lost the broker (%s); pings queue in the outbox", reason)
        elif not refused:
            # dropped before any CONNACK: e.g. TLS 1.3 refusing a missing client certificate
            self._on_connect_fail(client, userdata)
        else:
            set_reconnect_delay(client, self._reconnect.failed(),
                                self._cfg.reconnect_max_s)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic != self.topics.ack:
            return
        try:
            self.acks.receive(bytes(msg.payload), self._clock())
        except Exception:
            # an exception here would end paho's network thread: no more pings at all
            log.exception("the ack handler failed")

    # -- internals --------------------------------------------------------------------------

    def _taken_over(self, drop: Drop) -> None:
        cfg = self._cfg
        how = ("the broker said 'Session taken over' (MQTT 5 reason 0x8E)" if drop.said_by_broker
               else f"the broker closed {QUICK_DROPS} connections in a row within "
               f"{QUICK_S:.0f} s of accepting them, the way it ends a session taken over")
        self.connection_error = (
            f"session taken over: another client connected to {cfg.host}:{cfg.port} with "
            f"this sensor's client id {self.client_id!r} ({how}). A second sensor with the "
            "same store/camera or mqtt.client_id, or the same broker user elsewhere? Not "
            f"fighting over it: next try in {drop.delay_s:.0f} s; pings wait in the outbox")
        log.error("%s", self.connection_error)
        self._problem("takeover", f"session taken over by another client with client id "
                      f"{self.client_id!r} at {iso_utc(self._clock())}")

    def _problem(self, kind: str, text: str) -> None:
        with self._conn_lock:
            if self._announcer is not None:
                self._announcer.problem(kind, text)
                self._announcer.refresh(self._track_status, connected=self._connected)

    def _send(self, entry: Entry, now: float) -> None:
        """Hand one ping to paho (caller holds _conn_lock and is connected)."""
        remaining = entry.remaining_s(now)
        if remaining < 1:
            return  # expires before it could be shown; dropped by the next sweep
        info = self._client.publish(entry.topic, entry.payload, qos=1, retain=False,
                                    properties=expiry_properties(remaining))
        self.counters.sent += 1
        self._pubacks.track(info.mid, ("ping", entry.id))

    def _send_record(self, rid: str, topic: str, payload: bytes) -> None:
        """Hand one record to paho (caller holds _conn_lock and is connected)."""
        info = self._client.publish(topic, payload, qos=1, retain=False)
        self._pubacks.track(info.mid, ("record", rid))

    def _track_status(self, mid: int) -> None:
        self._pubacks.track(mid, None)

    def _drop_expired(self, now: float) -> None:
        for ping_id in self.outbox.drop_expired(now):
            log.warning("ping %s expired undelivered: dropped, not sent late", ping_id)
        # the outbox counts across restarts; this process reports what expired since it began
        # (pings left by a previous run that expired while it was down count here too)
        self.counters.expired = self.outbox.counter("expired") - self._expired_base


def sensor_publisher(settings: Settings, on_ack: AckHandler, *,
                     clock: Callable[[], float] = time.time,
                     role: Literal["sensor", "replay"] = "sensor") -> MqttPublisher:
    """The publisher of the camera ``settings`` describe: its [mqtt] section, its store and
    camera ids, and its outbox in ``state_dir``."""
    return MqttPublisher(settings.mqtt, Camera(settings.store, settings.camera), on_ack,
                         state_dir=settings.state_dir, clock=clock, role=role)


def replay_publisher(settings: Settings) -> MqttPublisher:
    """The publisher `dwell replay --publish` uses: pings exactly as `run` sends them (topic,
    payload, outbox, expiry), without posing as the live sensor (see ``role``). Acks are logged
    only: a replay's visitors are not in the shop to be helped."""

    def on_ack(ack: Ack) -> None:
        log.info("ack for replayed ping %s: %s%s", ack.ping_id, ack.action,
                 f" by {ack.by}" if ack.by else "")

    return sensor_publisher(settings, on_ack, role="replay")
