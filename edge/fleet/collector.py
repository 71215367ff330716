"""`dwell collect`: every shop's records from the central broker into PostgreSQL, each once.

- **Shared subscription** ``$share/<group>/<prefix>/+/+/events`` (MQTT 5): the broker hands each
  event to one collector of the group, so several split the load and one can die.
- **Persistent session**, QoS 1, and **manual acks**: a message is acknowledged only after the
  transaction holding its row committed. A collector killed before its commit leaves its
  in-flight events unacknowledged in its session; the broker delivers them again when it
  reconnects (systemd restarts it), and the primary key stores them once.
- **Bad input never stops it**: a malformed or foreign record is counted, logged and
  acknowledged (it would come back forever otherwise), never stored. A database that goes away
  is retried every ``collect.retry_s``; meanwhile events wait unacknowledged at the broker.

Threads: paho's network thread only queues messages; one writer thread validates, writes and
acks. An ack is sent only on the connection the message came in on: after a reconnect the
broker delivers unacknowledged messages again, and those are acked then.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt

from edge.config.settings import Settings
from edge.delivery.mqtt import make_client, session_properties
from edge.fleet.database import DatabaseError, connect, migrate, store
from edge.fleet.peers import PeerWatch, announce, presence_topic
from edge.fleet.validate import Accepted, RecordRefused, accept

log = logging.getLogger("dwell.collect")


@dataclass(frozen=True, slots=True)
class Incoming:
    topic: str
    payload: bytes
    ack: Callable[[], None]  # PUBACK on the connection it came in on (a no-op after a reconnect)


class Collector:
    """One collector of a group. ``start`` connects; ``run`` writes until ``stop``."""

    def __init__(self, settings: Settings, client_id: str | None = None) -> None:
        cfg = settings.collect
        if cfg.database_url is None:
            raise DatabaseError("collect.database_url is not set (postgresql://user:password@"
                                "host/database; DWELL_COLLECT__DATABASE_URL works too)")
        self.cfg, self.mqtt_cfg = cfg, settings.mqtt
        self._url = cfg.database_url.get_secret_value()
        self.db = connect(self._url)
        for name in migrate(self.db):
            log.info("database schema: applied %s", name)
        self.counts: Counter[str] = Counter()
        self.topic = f"$share/{cfg.group}/{settings.mqtt.topic_prefix}/+/+/events"
        self.client_id = client_id or cfg.client_id or f"dwell-collect-{socket.gethostname()}"
        self._queue: queue.Queue[Incoming] = queue.Queue()
        self._generation = 0
        self._stop = threading.Event()
        self.presence = presence_topic(settings.mqtt.topic_prefix, cfg.group, self.client_id)
        self._peers = presence_topic(settings.mqtt.topic_prefix, cfg.group)
        self.client = make_client(settings.mqtt, self.client_id, manual_ack=True)
        announce(self.client, self.presence)
        self.peers = PeerWatch(
            settings.mqtt, self.client_id, [self.topic, self._peers], cfg.session_expiry_s,
            submit=lambda topic, payload, ack: self.submit(Incoming(topic, payload, ack)),
            beat=lambda: self.client.publish(self.presence, b"online", qos=0, retain=True),
            connected=self.client.is_connected, counts=self.counts,
            forget=lambda peer: self.client.publish(
                presence_topic(settings.mqtt.topic_prefix, cfg.group, peer), b"", qos=1,
                retain=True))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message

    # -- MQTT (paho's thread) ---------------------------------------------------------------

    def start(self) -> None:
        self.client.connect_async(self.mqtt_cfg.host, self.mqtt_cfg.port,
                                  self.mqtt_cfg.keepalive_s, clean_start=False,
                                  properties=session_properties(self.cfg.session_expiry_s))
        self.client.loop_start()
        self.peers.start(self._stop)

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any,
                    props: Any) -> None:
        if reason.is_failure:
            log.error("broker %s:%s refused the collector: %s", self.mqtt_cfg.host,
                      self.mqtt_cfg.port, reason)
            return
        self._generation += 1
        self.peers.connected()
        client.publish(self.presence, b"online", qos=1, retain=True)
        client.subscribe([(self.topic, 1), (self._peers, 1)])
        log.info("collecting %s from %s:%s as %s", self.topic, self.mqtt_cfg.host,
                 self.mqtt_cfg.port, self.client_id)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        generation, mid, qos = self._generation, msg.mid, msg.qos
        if not msg.topic.endswith("/events"):
            self.peers.heard(msg.topic.rsplit("/", 1)[-1], bytes(msg.payload))
            client.ack(mid, qos)
            return

        def ack() -> None:
            if generation == self._generation:
                client.ack(mid, qos)

        self.submit(Incoming(msg.topic, bytes(msg.payload), ack))

    def submit(self, item: Incoming) -> None:
        """Queues a message for the writer (also used by peers.drain for a dead peer's)."""
        self._queue.put(item)

    # -- the writer thread ------------------------------------------------------------------

    def run(self, count: int | None = None, timeout: float | None = None) -> None:
        """Writes until ``stop`` (or ``count`` new records stored, or ``timeout`` s idle)."""
        idle_since = time.monotonic()
        while not self._stop.is_set():
            batch = self._next_batch()
            if not batch:
                if timeout is not None and time.monotonic() - idle_since > timeout:
                    return
                continue
            idle_since = time.monotonic()
            self._write(batch)
            if count is not None and self.counts["stored"] >= count:
                return

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        """Stops for good: says "offline" first, so a peer drains what the broker still
        queues for this session (a restart takes the session back from it)."""
        self._stop.set()
        with contextlib.suppress(RuntimeError, ValueError):  # not connected: the will says it
            self.client.publish(self.presence, b"offline", qos=1, retain=True
                                ).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()
        self.db.close()

    def _next_batch(self) -> list[Incoming]:
        try:
            batch = [self._queue.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(batch) < self.cfg.batch_max:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _write(self, batch: list[Incoming]) -> None:
        accepted: list[Accepted] = []
        for item in batch:
            try:
                accepted.append(accept(item.topic, item.payload))
            except RecordRefused as exc:
                self.counts[exc.kind] += 1
                log.warning("refused a record on %s (%s): %s", item.topic, exc.kind, exc)
        new = self._store_until_done(accepted)
        if new is None:
            return  # stopping before the commit: unacked, the broker delivers them again
        self.counts["stored"] += new
        self.counts["duplicate"] += len(accepted) - new
        for item in batch:  # committed (or refused): now the broker may forget them
            item.ack()

    def _store_until_done(self, records: list[Accepted]) -> int | None:
        """Stores the batch, retrying while the database is away; a record the database
        itself refuses (not the connection) is isolated, counted and skipped."""
        import psycopg

        while not self._stop.is_set():
            try:
                return store(self.db, records)
            except psycopg.errors.TransactionRollback as exc:  # a deadlock, serialization
                self.counts["transaction_retries"] += 1      # (the database is fine)
                log.info("transaction rolled back (%s): retrying", exc.sqlstate)
            except psycopg.OperationalError as exc:
                self.counts["database_retries"] += 1
                log.warning("database unavailable (%s): retrying in %.1f s",
                            str(exc).strip().splitlines()[0] if str(exc).strip() else exc,
                            self.cfg.retry_s)
                self._reconnect_db()
            except psycopg.Error as exc:
                log.error("the database refused a batch (%s): storing one by one", exc)
                return self._store_each(records)
        return None

    def _store_each(self, records: list[Accepted]) -> int:
        import psycopg

        new = 0
        for rec in records:
            try:
                new += store(self.db, [rec])
            except psycopg.OperationalError:
                raise
            except psycopg.Error as exc:
                self.counts["refused_by_database"] += 1
                log.error("the database refused record %s: %s", rec.id, exc)
        return new

    def _reconnect_db(self) -> None:
        self._stop.wait(self.cfg.retry_s)
        with contextlib.suppress(Exception):  # a dead connection may fail to close
            self.db.close()
        try:
            self.db = connect(self._url)
        except DatabaseError as exc:
            log.debug("%s", exc)
