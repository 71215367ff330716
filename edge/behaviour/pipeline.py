"""The processing stages after perception, wired: ignore zones -> tracker -> behaviour -> policy.

One ``Pipeline`` per camera, driven by one thread: ``step(t, detections)`` per frame returns
the behaviour events, pings and held candidates of that frame in time order. The same object
runs live (``dwell run``), in ``dwell record`` and in ``dwell replay``; only the ping ids
differ (random live, derived from the input in replay, see ``edge.behaviour.policy``).

Frames the detector did not look at (``detections is None``) are skipped entirely: decisions
are taken only when someone looked. A recorded trace holds exactly the frames that were
looked at, so replaying it gives exactly what the live pipeline decided. While anyone is
tracked the detector looks at least every ``motion.redetect_interval_s``, so no decision is
later than that.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from edge.behaviour.activity import Behaviour
from edge.behaviour.policy import PingIdFactory, Policy
from edge.behaviour.zones import ZoneMap
from edge.config.settings import Settings
from edge.vocabulary.acks import Ack
from edge.vocabulary.events import Event
from edge.vocabulary.interfaces import Tracker
from edge.vocabulary.tally import Tally
from edge.vocabulary.types import Detections

log = logging.getLogger(__name__)


def _default_tracker(settings: Settings, frame_size: tuple[int, int] | None) -> Tracker:
    from edge.behaviour.tracker import (
        IouTracker,  # imported here so tests can inject another tracker
    )

    return IouTracker(settings.tracker, frame_size)


class Pipeline:
    """Tracker, behaviour and policy for one camera.

    ``frame_size`` (W, H) places the normalised zones in pixels; it may be None only when no
    zones are configured. ``ping_id`` makes ping ids (default: random uuid4 hex).
    ``start_wall`` is the local wall-clock time of t=0; without it opening hours are not
    applied (``hours_applied`` says so).
    """

    def __init__(self, settings: Settings, frame_size: tuple[int, int] | None = None, *,
                 tracker: Tracker | None = None, ping_id: PingIdFactory | None = None,
                 start_wall: datetime | None = None) -> None:
        self.settings = settings
        self.frame_size = frame_size
        self.zones = ZoneMap(settings.zones, frame_size)
        self.tracker = tracker if tracker is not None else _default_tracker(settings, frame_size)
        self.behaviour = Behaviour(settings, self.zones)
        self.policy = Policy(settings.policy, ping_id=ping_id, start_wall=start_wall)
        self.tracking = False
        self.last_t = 0.0
        self.counts = Tally()  # every event this pipeline returned
        if not self.hours_applied:
            log.warning("policy.opening_hours is set but the wall-clock time of t=0 is unknown "
                        "(start_wall): opening hours are NOT applied")

    def step(self, t: float, detections: Detections | None) -> list[Event]:
        if detections is None:
            return []
        self.last_t = t
        tracks = self.tracker.update(self.zones.drop_ignored(detections), t)
        # Everyone followed, including people not yet confirmed: a person seen once who then
        # stands still makes no motion and must still be re-detected to be confirmed.
        self.tracking = len(self.tracker) > 0
        return self._decide(self.behaviour.update(tracks, t), t)

    def acknowledge(self, ack: Ack, t: float) -> list[Event]:
        """The watch answered a ping; returns the ``ack`` event (empty if unknown id)."""
        return self.counts.observe(self.policy.acknowledge(ack, t))

    def finish(self, t: float | None = None) -> list[Event]:
        """The input ended: every open visit ends (at its last seen time) and is returned."""
        end_t = self.last_t if t is None else t
        events = self._decide(self.behaviour.finish(), end_t)
        self.tracking = False
        return events

    def reload(self, settings: Settings) -> None:
        """New thresholds and zones; the tracker, visits and their clocks are kept."""
        self.settings = settings
        self.zones = ZoneMap(settings.zones, self.frame_size)
        self.behaviour.reload(settings, self.zones)
        self.policy.reload(settings.policy)

    @property
    def visitors_now(self) -> int:
        """Visitors (not staff) whose visit has started and who are still tracked."""
        return sum(1 for v in self.behaviour.visitors.values() if v.started and not v.staff)

    @property
    def hours_applied(self) -> bool:
        return self.policy.hours_applied

    def stats(self) -> dict[str, Any]:
        """Counters for status/stats messages (plain data)."""
        return {
            "visitors_now": self.visitors_now,
            "visits": self.counts.visits,
            "pings": self.counts.pings_sent,
            "acks": self.counts.acks,
            "pings_by_reason": dict(self.policy.pings_by_reason),
            "held_by_reason": dict(self.policy.held_by_reason),
        }

    def _decide(self, events: list[Event], t: float) -> list[Event]:
        decided = self.policy.step(events, self.behaviour, t)
        if not decided:
            return self.counts.observe(events)
        merged = events + decided
        merged.sort(key=lambda e: e.t)  # stable: behaviour events before decisions at equal t
        return self.counts.observe(merged)
