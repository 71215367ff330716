"""Finished records for a chain's central database: what a sensor tells the centre.

The pipeline's events are about people in the picture right now; a record is what is worth
keeping once something is over: a visit ended (dwell, staff or visitor, in/out through the
entrance), a ping sent (reason, dwell when pinged), an ack (action, seconds after its ping),
staff with a pinged visitor (seconds after the ping), a candidate ping held (the rule). Only
ids, times, counts and zone names: no boxes, no trails, nothing about how anyone looks.

Each record has a stable ``id``: the store and camera, the sensor's run id, the record kind
and what makes it unique within the run (a visitor's visit, a ping's id), so a resend after a
reconnect or a restart is stored once at the centre. Payloads are JSON objects, schema 1
(docs/fleet.md).
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from typing import Any

from edge.delivery.messages import iso_utc
from edge.vocabulary.events import (
    Acknowledged,
    Attended,
    Entered,
    Event,
    Exited,
    Held,
    Ping,
    VisitEnded,
)
from edge.vocabulary.records import Record

SCHEMA = 1
KINDS = ("visit", "ping", "ack", "attended", "held")
REMEMBERED = 10_000  # open visits / recent pings kept for in-out flags and latencies


def new_run_id() -> str:
    """A run id for a live sensor process: unique, so visitor numbers of runs never mix."""
    return secrets.token_hex(6)


class RecordMaker:
    """Turns one sensor run's events into records. ``wall(t)`` is the epoch time of stream
    time ``t`` (the live clock, or a replay's start plus t)."""

    def __init__(self, store: str, camera: str, run_id: str, wall: Any) -> None:
        self.store, self.camera, self.run_id = store, camera, run_id
        self._wall = wall
        self._doors: OrderedDict[int, tuple[bool, bool]] = OrderedDict()  # in, out per visitor
        self._pings: OrderedDict[str, float] = OrderedDict()  # ping id -> t sent
        self._last_ping: OrderedDict[int, tuple[str, float]] = OrderedDict()  # visitor -> ping

    def records(self, ev: Event) -> list[Record]:
        """The record ``ev`` finishes (usually none)."""
        if isinstance(ev, (Entered, Exited)):
            came_in, went_out = self._doors.get(ev.visitor, (False, False))
            self._remember(self._doors, ev.visitor, (came_in or isinstance(ev, Entered),
                                                     went_out or isinstance(ev, Exited)))
            return []
        if isinstance(ev, VisitEnded):
            came_in, went_out = self._doors.pop(ev.visitor, (False, False))
            return [self._make("visit", f"v{ev.visitor}", ev.t, dwell_s=round(ev.dwell_s, 1),
                               staff=ev.staff, entered=came_in, exited=went_out)]
        if isinstance(ev, Ping):
            self._remember(self._pings, ev.id, ev.t)
            self._remember(self._last_ping, ev.visitor, (ev.id, ev.t))
            return [self._make("ping", ev.id, ev.t, ping_id=ev.id, reason=ev.reason,
                               dwell_s=round(ev.dwell_s, 1), zone=ev.zone,
                               escalation=ev.escalation)]
        if isinstance(ev, Acknowledged):
            sent = self._pings.get(ev.ping_id)
            return [self._make("ack", f"{ev.ping_id}/{ev.action}", ev.t, ping_id=ev.ping_id,
                               action=ev.action,
                               after_s=None if sent is None else round(ev.t - sent, 1))]
        if isinstance(ev, Attended):
            last = self._last_ping.pop(ev.visitor, None)
            if last is None:
                return []  # staff with someone nobody was pinged about: not a response
            return [self._make("attended", last[0], ev.t, ping_id=last[0],
                               after_s=round(ev.t - last[1], 1))]
        if isinstance(ev, Held):
            return [self._make("held", f"v{ev.visitor}/{ev.candidate}/{ev.t:.1f}", ev.t,
                               rule=ev.reason, candidate=ev.candidate)]
        return []

    def _make(self, kind: str, key: str, t: float, **fields: Any) -> Record:
        rid = f"{self.store}/{self.camera}/{self.run_id}/{kind}/{key}"
        payload = {"schema": SCHEMA, "id": rid, "kind": kind, "store": self.store,
                   "camera": self.camera, "at": iso_utc(self._wall(t)), **fields}
        return Record(rid, kind, payload)

    @staticmethod
    def _remember(table: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > REMEMBERED:
            table.popitem(last=False)
