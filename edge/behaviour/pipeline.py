"""The processing stages after perception, wired:
ignore zones -> tracker -> visits -> behaviour -> policy.

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
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from edge.behaviour.activity import Behaviour, Cues, FirstSeen
from edge.behaviour.policy import PingIdFactory, Policy
from edge.behaviour.visits import Crossing, Visits
from edge.behaviour.zones import Places, ZoneMap
from edge.config.sections import BehaviourConfig, PolicyConfig, TrackerConfig, Zone
from edge.vocabulary.acks import Ack
from edge.vocabulary.events import Entered, Event, Exited
from edge.vocabulary.interfaces import Tracker
from edge.vocabulary.tally import Tally
from edge.vocabulary.types import Detections, HeadHints, Tracks

log = logging.getLogger(__name__)


class PipelineConfig(Protocol):
    """The sections the pipeline hands to its stages (``Settings`` satisfies it)."""

    @property
    def tracker(self) -> TrackerConfig: ...
    @property
    def behaviour(self) -> BehaviourConfig: ...
    @property
    def policy(self) -> PolicyConfig: ...
    @property
    def zones(self) -> Sequence[Zone]: ...


def _default_tracker(cfg: TrackerConfig, frame_size: tuple[int, int] | None) -> Tracker:
    from edge.behaviour.tracker import (
        IouTracker,  # imported here so tests can inject another tracker
    )

    return IouTracker(cfg, frame_size)


@dataclass(frozen=True, slots=True)
class Seen:
    """One frame after tracker and visits: the visitors behaviour sees (visitor ids), the
    entrance crossings of this frame, and when a visitor was first seen; ``places``, the
    zones of the matched visitors' feet, when already known (else behaviour tests them)."""

    t: float
    visitors: Tracks
    crossings: tuple[Crossing, ...]
    first_seen: FirstSeen
    places: Places | None = None


class Pipeline:
    """Tracker, behaviour and policy for one camera.

    ``frame_size`` (W, H) places the normalised zones in pixels; it may be None only when no
    zones are configured. ``ping_id`` makes ping ids (default: random uuid4 hex).
    ``start_wall`` is the local wall-clock time of t=0; without it opening hours are not
    applied (``hours_applied`` says so).
    """

    def __init__(self, settings: PipelineConfig, frame_size: tuple[int, int] | None = None, *,
                 tracker: Tracker | None = None, ping_id: PingIdFactory | None = None,
                 start_wall: datetime | None = None) -> None:
        self.settings = settings
        self.frame_size = frame_size
        self.zones = ZoneMap(settings.zones, frame_size)
        self.tracker = tracker if tracker is not None else _default_tracker(settings.tracker,
                                                                            frame_size)
        self.behaviour = Behaviour(settings.behaviour, self.zones, Cues.of(settings.policy))
        self.visits = Visits(settings.behaviour, self.zones, frame_size, is_staff=self._is_staff)
        self.policy = Policy(settings.policy, ping_id=ping_id, start_wall=start_wall)
        self.tracking = False
        # the visits layer's output of the last step and what behaviour saw of it
        self._followed = self._shown = Tracks.empty()
        self.last_t = 0.0
        self.counts = Tally()  # every event this pipeline returned
        if not self.hours_applied:
            log.warning("policy.opening_hours is set but the wall-clock time of t=0 is unknown "
                        "(start_wall): opening hours are NOT applied")

    def step(self, t: float, detections: Detections | None) -> list[Event]:
        if detections is None:
            return []
        seen = self.see(t, detections)
        self._shown = seen.visitors
        return self.behave(seen)

    def see(self, t: float, detections: Detections) -> Seen:
        """Tracker and visits on one frame: who behaviour sees. Reads no ``[policy]`` key
        (staff status, which visits asks behaviour about, comes from zones and visit_min_s
        only), so what-if replays this once per day and re-runs only ``behave``."""
        self.last_t = t
        tracks = self.tracker.update(self.zones.drop_ignored(detections), t)
        visitors = self.visits.update(tracks, t)
        # Everyone followed, including people not yet confirmed (a person seen once who then
        # stands still makes no motion and must still be re-detected to be confirmed) and
        # people remembered behind a shelf (their visit ends on a frame someone looked at).
        self.tracking = len(self.tracker) > 0 or len(self.visits) > 0
        self._followed = visitors
        return Seen(t, self.visits.visiting(visitors), tuple(self.visits.crossings),
                    self.visits.first_seen)

    def behave(self, seen: Seen) -> list[Event]:
        """Behaviour and policy on what ``see`` returned (or a recording of it)."""
        t = self.last_t = seen.t
        events = self.behaviour.update(seen.visitors, t, seen.first_seen, seen.places)
        if seen.crossings:
            events += [Entered(c.t, c.visitor) if c.entered else Exited(c.t, c.visitor)
                       for c in seen.crossings]
            events.sort(key=lambda e: e.t)
        return self._decide(events, t)

    def _is_staff(self, vid: int) -> bool:
        v = self.behaviour.visitors.get(vid)
        return v is not None and v.staff

    def acknowledge(self, ack: Ack, t: float) -> list[Event]:
        """The watch answered a ping; returns the ``ack`` event (empty if unknown id)."""
        return self.counts.observe(self.policy.acknowledge(ack, t))

    def finish(self, t: float | None = None) -> list[Event]:
        """The input ended: every open visit ends (at its last seen time) and is returned."""
        end_t = self.last_t if t is None else t
        events = self._decide(self.behaviour.finish(), end_t)
        self.tracking = False
        return events

    def reload(self, settings: PipelineConfig) -> None:
        """New thresholds and zones; the tracker, visits and their clocks are kept."""
        self.settings = settings
        self.zones = ZoneMap(settings.zones, self.frame_size)
        self.behaviour.reload(settings.behaviour, self.zones, Cues.of(settings.policy))
        self.visits.reload(settings.behaviour, self.zones)
        self.policy.reload(settings.policy)

    @property
    def visitors_now(self) -> int:
        """Visitors (not staff) whose visit has started and who are still tracked."""
        return sum(1 for v in self.behaviour.visitors.values() if v.started and not v.staff)

    @property
    def shown(self) -> Tracks:
        """Who behaviour saw in the last step: visitor ids (held-back tracks under provisional
        negative ids, people remembered unmatched at their last box)."""
        return self._shown

    @property
    def head_hints(self) -> HeadHints:
        """The people seen in the last step, and whose head sweeps could count (behaviour's:
        not walking, not staff; the still ones behaviour does not see: a head turn makes them
        a visitor): perception reads yaw only for those (edge/perception/yaw_schedule.py).
        Built when asked, so a replay, which never asks, does not pay for it."""
        visitors, shown = self._followed, self._shown
        hints = self.behaviour.head_hints
        score = self.settings.tracker.new_track_score
        if len(shown) < len(visitors):
            shown_ids = set(shown.ids.tolist())  # (a set: np.isin costs ~40 us on a few)
            keep = [m and vid not in shown_ids
                    for vid, m in zip(visitors.ids.tolist(), visitors.matched.tolist(),
                                      strict=True)]
            still = visitors[np.array(keep, bool)]
            hints = HeadHints(np.concatenate([hints.ids, still.ids]),
                              np.concatenate([hints.xyxy, still.xyxy]),
                              np.concatenate([hints.can_count, np.ones(len(still), bool)]))
        return replace(hints, new_track_score=score)

    @property
    def hours_applied(self) -> bool:
        return self.policy.hours_applied

    def stats(self) -> dict[str, Any]:
        """Counters for status/stats messages (plain data)."""
        return {
            "visitors_now": self.visitors_now,
            "visits": self.counts.visits,
            "entered": self.counts.entered,
            "exited": self.counts.exited,
            "pings": self.counts.pings_sent,
            "acks": self.counts.acks,
            "pings_by_reason": dict(self.counts.pings),
            "held_by_reason": dict(self.counts.held),
        }

    def _decide(self, events: list[Event], t: float) -> list[Event]:
        decided = self.policy.step(events, self.behaviour, t)
        if not decided:
            return self.counts.observe(events)
        merged = events + decided
        merged.sort(key=lambda e: e.t)  # stable: behaviour events before decisions at equal t
        return self.counts.observe(merged)
