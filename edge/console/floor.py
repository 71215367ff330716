"""The live floor: where each visitor is (coordinates only), what they are doing, and the
decisions as they happen, kept as one snapshot the HTTP threads read.

``watch`` is a ``Sensor`` watcher and ``on_event`` a sink: both run on the processing thread.
While nobody has the console open (no viewer for ``IDLE_S``), ``watch`` returns at once, so
an unwatched console costs the sensor nothing per frame; decisions (pings, holds, acks) are
always kept, a bounded few.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from edge.behaviour.activity import VisitorState
from edge.behaviour.pipeline import Pipeline
from edge.vocabulary.events import Acknowledged, Event, Held, LookingAround, Ping

TAIL_S = 3.0  # how much of each visitor's path the dots trail behind them
FEED_KEPT = 200  # decisions kept for the live feed
LOOKING_SHOWN_S = 5.0  # a visitor is shown "looking around" this long after the event
IDLE_S = 5.0  # no viewer for this long: the floor stops reading the pipeline
MIN_PERIOD_S = 0.1  # the snapshot is rebuilt at most this often (10 Hz)

Health = Callable[[], dict[str, Any]]


def state_of(v: VisitorState, looking_until: float, t: float) -> str:
    """What the owner sees a visitor doing, most important first."""
    if v.staff:
        return "staff"
    if v.attended:
        return "attended"
    if v.at_help:
        return "at_help_point"
    if looking_until > t:
        return "looking_around"
    if v.lingering:
        return "lingering"
    if v.party:
        return "party"
    return "walking"


def decision(ev: Event) -> dict[str, Any] | None:
    """A ping, hold or ack as the live feed shows it (None for other events)."""
    if isinstance(ev, Ping):
        return {"kind": "ping", "t": round(ev.t, 2), "visitor": ev.visitor, "id": ev.id,
                "reason": "escalation" if ev.escalation else ev.reason,
                "dwell_s": round(ev.dwell_s, 1), "zone": ev.zone}
    if isinstance(ev, Held):
        return {"kind": "held", "t": round(ev.t, 2), "visitor": ev.visitor,
                "candidate": ev.candidate, "rule": ev.reason, "detail": ev.detail}
    if isinstance(ev, Acknowledged):
        return {"kind": "ack", "t": round(ev.t, 2), "visitor": ev.visitor,
                "ping_id": ev.ping_id, "action": ev.action}
    return None


class Floor:
    def __init__(self, health: Health | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._health = health or (lambda: {})
        self._clock = clock
        self._lock = threading.Lock()
        self._tails: dict[int, deque[tuple[float, float, float]]] = {}
        self._looking: dict[int, float] = {}
        self._feed: deque[dict[str, Any]] = deque(maxlen=FEED_KEPT)
        self._seq = 0
        self._last_ping: dict[str, Any] | None = None
        self._people: list[dict[str, Any]] = []
        self._zones: list[dict[str, Any]] = []
        self._t = 0.0
        self._built = -1e9
        self._viewed = -1e9
        self.frames = 0

    # -- the processing thread --------------------------------------------------------------

    def on_event(self, ev: Event) -> None:
        if isinstance(ev, LookingAround):
            self._looking[ev.visitor] = ev.t + LOOKING_SHOWN_S
            return
        entry = decision(ev)
        if entry is not None:
            if entry["kind"] == "ping":
                self._last_ping = entry
            with self._lock:
                self._seq += 1
                entry["seq"] = self._seq
                self._feed.append(entry)

    def watch(self, t: float, pipeline: Pipeline) -> None:
        self.frames += 1
        now = self._clock()
        if now - self._viewed > IDLE_S or now - self._built < MIN_PERIOD_S:
            return
        self._built = now
        fw, fh = pipeline.frame_size or (1, 1)

        def norm(x: float, y: float) -> tuple[float, float]:  # feet off the picture: its edge
            return round(min(1.0, max(0.0, x / fw)), 4), round(min(1.0, max(0.0, y / fh)), 4)

        people = []
        visitors = pipeline.behaviour.visitors
        for vid, v in visitors.items():
            tail = self._tails.setdefault(vid, deque())
            x, y = norm(v.fx, v.fy)
            if not tail or tail[-1][0] < v.last_t:
                tail.append((v.last_t, x, y))
            while tail and tail[0][0] < t - TAIL_S:
                tail.popleft()
            people.append({"id": vid, "x": x, "y": y, "tail": [[px, py] for _, px, py in tail],
                           "state": state_of(v, self._looking.get(vid, 0.0), t),
                           "dwell_s": round(v.dwell(t), 1), "started": v.started,
                           "zone": v.zone})
        for gone in [vid for vid in self._tails if vid not in visitors]:
            del self._tails[gone]
            self._looking.pop(gone, None)
        zones = [{"name": z.name, "kind": z.kind, "polygon": [list(p) for p in z.polygon]}
                 for z in pipeline.settings.zones]
        with self._lock:
            self._people, self._zones, self._t = people, zones, t

    # -- HTTP threads -----------------------------------------------------------------------

    def viewed(self) -> None:
        """A viewer is looking: keep the snapshot fresh for the next IDLE_S seconds."""
        self._viewed = self._clock()

    def state(self, since: int = 0) -> dict[str, Any]:
        """The latest snapshot and the decisions after sequence number ``since``."""
        self.viewed()
        with self._lock:
            feed = [e for e in self._feed if e["seq"] > since]
            last = self._last_ping
            health = {**self._health(), "last_ping": (
                f"{last['reason']} at t={last['t']} s" if last is not None else None)}
            return {"t": round(self._t, 2), "people": self._people, "zones": self._zones,
                    "feed": feed, "seq": self._seq, "health": health}
