"""Behaviour: from tracked people to visits and what each visitor is doing.

Pure and clocked by the caller: ``update(tracks, t)`` uses only the tracks and ``t``. It keeps
one ``VisitorState`` per tracker id and emits typed events (edge/vocabulary/events.py):

- ``visit_start`` once someone has been seen for ``visit_min_s`` (dwell counts from the first
  sighting); ``visit_end`` when the tracker drops the id (after its occlusion grace), stamped
  with the last time the person was actually seen, so an occlusion never adds to dwell;
- ``lingering``: the feet stayed within ``linger_radius`` box heights of one spot for
  ``policy.linger_s`` (relative to box height, so it works near and far from the camera);
- ``looking_around``: ``policy.look_around_turns`` head sweeps of at least
  ``look_around_min_deg`` within ``policy.look_around_window_s``, each made while not walking
  (feet slower than ``walk_speed`` box heights per second): head turns on the way are
  navigation, not searching, so walking forgets the sweeps and the head's extremes so far and
  perception need not read yaw for walkers, nor for staff (``head_hints``); yaw is the
  median of the last three trusted readings (one misread face is not a turn); unknown yaw
  (NaN) is skipped;
- ``at_help_point``: in a help_point zone for ``help_point_s`` (crossing it does not count);
- staff: a visit that starts in a staff zone is staff for the whole visit; a visitor with staff
  within ``staff_near`` box heights for ``attended_s`` is attended (``attended`` /
  ``attended_end``); when staff leave, the linger clock starts again;
- parties: visitors who arrive within ``party_window_s`` of each other and stay within
  ``party_near`` box heights for ``party_together_s`` are linked (``party``) until apart for
  ``party_apart_s``.

Only matched observations (the detector saw the person) move a visitor's position; predicted
boxes through an occlusion do not, so a lingering visitor hidden for a moment keeps lingering.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.behaviour.zones import Places, ZoneMap
from edge.config.sections import BehaviourConfig, PolicyConfig
from edge.vocabulary.boxes import feet_of
from edge.vocabulary.events import (
    AtHelpPoint,
    Attended,
    AttendedEnded,
    Event,
    Lingering,
    LookingAround,
    PartyJoined,
    VisitEnded,
    VisitStarted,
)
from edge.vocabulary.types import HeadHints, Tracks

# Staff must be away this long before "attended" ends: a colleague stepping back to reach a
# shelf has not left the visitor.
_ATTENDED_RELEASE_S = 1.0
# Feet speed is measured over this much recent track (seconds).
_WALK_SPAN_S = 1.0


@dataclass(frozen=True, slots=True)
class Cues:
    """The owner's policy thresholds that define a candidate moment (from ``[policy]``)."""

    linger_s: float
    look_around_turns: int
    look_around_window_s: float

    @classmethod
    def of(cls, policy: PolicyConfig) -> Cues:
        return cls(policy.linger_s, policy.look_around_turns, policy.look_around_window_s)


FirstSeen = Callable[[int], float]
"""When a visitor was first seen (the visit layer dates a visit from its first track)."""


@dataclass(slots=True)
class VisitorState:
    """What behaviour knows about one tracked person. Read-only outside this module."""

    id: int
    first_t: float
    last_t: float
    fx: float
    fy: float
    h: float
    started: bool = False
    staff: bool = False
    zone: str | None = None
    anchor_x: float = 0.0
    anchor_y: float = 0.0
    linger_since: float = 0.0
    lingering: bool = False
    yaw_lo: float = math.nan
    yaw_hi: float = math.nan
    yaw_ext: float = math.nan
    yaw_dir: int = 0
    yaw_recent: deque[float] = field(default_factory=lambda: deque(maxlen=3))
    sweeps: deque[float] = field(default_factory=deque)
    trail: deque[tuple[float, float, float]] = field(default_factory=deque)
    help_since: float | None = None
    at_help: bool = False
    near_since: float | None = None
    away_since: float | None = None
    attended: bool = False
    party: set[int] = field(default_factory=set)

    def dwell(self, t: float) -> float:
        return max(0.0, t - self.first_t)


def _forget_turns(v: VisitorState) -> None:
    v.yaw_lo = v.yaw_hi = v.yaw_ext = math.nan
    v.yaw_dir = 0
    v.yaw_recent.clear()
    v.sweeps.clear()


class Behaviour:
    """Visits and what each visitor is doing, from tracks; see the module docstring."""

    def __init__(self, cfg: BehaviourConfig, zones: ZoneMap, cues: Cues) -> None:
        self.visitors: dict[int, VisitorState] = {}
        # the last update's seen people, for head_hints (built only when asked: live)
        self._seen: tuple[Tracks, np.ndarray, list[int]] | None = None
        self._links: dict[tuple[int, int], float | None] = {}  # (a<b) -> apart since
        self._maybe: dict[tuple[int, int], float] = {}  # arrived together (a<b) -> since
        self.reload(cfg, zones, cues)

    def reload(self, cfg: BehaviourConfig, zones: ZoneMap, cues: Cues) -> None:
        """New thresholds and zones; visitors and their clocks are kept."""
        self.cfg = cfg
        self.linger_s = cues.linger_s
        self.turns = cues.look_around_turns
        self.turn_window_s = cues.look_around_window_s
        self.zones = zones

    # ---- per frame ---------------------------------------------------------------------
    def update(self, tracks: Tracks, t: float, first_seen: FirstSeen | None = None,
               places: Places | None = None) -> list[Event]:
        """One frame of visitors (``tracks.ids`` are visitor ids); ``first_seen`` dates a
        new visitor's dwell (default: now); ``places`` are the zones of the matched rows'
        feet, in order (default: tested here)."""
        events: list[Event] = []
        present = set(tracks.ids.tolist())
        for vid in [v for v in self.visitors if v not in present]:
            self._end(self.visitors.pop(vid), events)
        idx = np.flatnonzero(tracks.matched)
        walking: list[int] = []
        if len(idx):
            walking = self._observe_all(tracks, idx, t, events, first_seen, places)
        self._seen = (tracks, idx, walking)
        if self._maybe:
            self._confirm_parties(t, events)
        if self._links:
            self._keep_parties(t)
        self._staff_attention(t, events)
        events.sort(key=lambda e: e.t)
        return events

    def finish(self) -> list[Event]:
        """End every open visit (the input ended)."""
        events: list[Event] = []
        for vid in list(self.visitors):
            self._end(self.visitors.pop(vid), events)
        events.sort(key=lambda e: e.t)
        return events

    def _observe_all(self, tracks: Tracks, idx: np.ndarray, t: float,
                     events: list[Event], first_seen: FirstSeen | None,
                     places: Places | None) -> list[int]:
        """Update every seen visitor; the positions in ``idx`` of those walking."""
        xyxy = tracks.xyxy[idx]
        heights = (xyxy[:, 3] - xyxy[:, 1]).tolist()
        where = places if places is not None else self.zones.places(feet_of(xyxy))
        names, helps, staffs = where.names, where.help, where.staff
        ids = tracks.ids[idx].tolist()
        yaws = tracks.yaw[idx].tolist()
        # the feet as feet_of gives them (float32), without its stack
        fxs, fys = ((xyxy[:, 0] + xyxy[:, 2]) / 2).tolist(), xyxy[:, 3].tolist()
        walking = []
        for j, vid in enumerate(ids):
            h = max(float(heights[j]), 1.0)
            v = self.visitors.get(vid)
            if v is None:
                born = t if first_seen is None else min(first_seen(vid), t)
                v = VisitorState(vid, born, t, fxs[j], fys[j], h, anchor_x=fxs[j],
                                 anchor_y=fys[j], linger_since=t)
                self.visitors[vid] = v
            v.last_t, v.fx, v.fy, v.h, v.zone = t, fxs[j], fys[j], h, names[j]
            if not v.started:
                if staffs is not None and staffs[j]:
                    v.staff = True
                if t - v.first_t >= self.cfg.visit_min_s:
                    v.started = True
                    events.append(VisitStarted(t, vid, staff=v.staff, zone=v.zone))
                    if not v.staff:
                        self._join_party(v, t)
            trail = v.trail
            trail.append((t, v.fx, v.fy))
            while trail[0][0] < t - _WALK_SPAN_S:
                trail.popleft()
            self._linger(v, t, events)
            yaw = yaws[j]
            if self._walking(v):
                walking.append(j)
                _forget_turns(v)  # sweeps made while walking never count
            elif yaw == yaw:  # NaN means no trusted face: not a turn, not a reset
                recent = v.yaw_recent
                recent.append(yaw)
                if len(recent) == 3:  # median of 3: one misread face is not a head turn
                    self._turn(v, t, sorted(recent)[1], events)
            self._help_point(v, t, bool(helps[j]) if helps is not None else False, events)
        return walking

    @property
    def head_hints(self) -> HeadHints:
        """The people seen in the last update, and whether a head sweep of theirs could count
        (perception reads no yaw for walkers and staff)."""
        if self._seen is None:
            return HeadHints.empty()
        tracks, idx, walking = self._seen
        ids = tracks.ids[idx]
        can_count = np.ones(len(idx), bool)
        can_count[walking] = False
        for j, vid in enumerate(ids.tolist()):
            v = self.visitors.get(vid)  # (gone once the input finished)
            if v is None or v.staff:
                can_count[j] = False
        return HeadHints(ids, tracks.xyxy[idx], can_count)

    def _end(self, v: VisitorState, events: list[Event]) -> None:
        for other in v.party:
            if other in self.visitors:
                self.visitors[other].party.discard(v.id)
            self._links.pop((min(v.id, other), max(v.id, other)), None)
        if v.started:
            events.append(VisitEnded(v.last_t, v.id, dwell_s=v.dwell(v.last_t), staff=v.staff))

    # ---- single-visitor rules ------------------------------------------------------------
    def _linger(self, v: VisitorState, t: float, events: list[Event]) -> None:
        radius = self.cfg.linger_radius * v.h
        if math.hypot(v.fx - v.anchor_x, v.fy - v.anchor_y) > radius:
            self._restart_linger(v, t)
        elif not v.lingering and v.started and t - v.linger_since >= self.linger_s:
            v.lingering = True
            events.append(Lingering(t, v.id, dwell_s=v.dwell(t), zone=v.zone))

    @staticmethod
    def _restart_linger(v: VisitorState, t: float) -> None:
        v.anchor_x, v.anchor_y, v.linger_since, v.lingering = v.fx, v.fy, t, False

    def _turn(self, v: VisitorState, t: float, yaw: float, events: list[Event]) -> None:
        """Count head sweeps: a reversal after moving at least look_around_min_deg."""
        least = self.cfg.look_around_min_deg
        swept = False
        if v.yaw_dir == 0:
            if v.yaw_lo != v.yaw_lo:  # first trusted yaw of this visit
                v.yaw_lo = v.yaw_hi = yaw
            v.yaw_lo, v.yaw_hi = min(v.yaw_lo, yaw), max(v.yaw_hi, yaw)
            if yaw - v.yaw_lo >= least:
                v.yaw_dir, v.yaw_ext, swept = 1, yaw, True
            elif v.yaw_hi - yaw >= least:
                v.yaw_dir, v.yaw_ext, swept = -1, yaw, True
        elif v.yaw_dir * (yaw - v.yaw_ext) > 0:
            v.yaw_ext = yaw  # still turning the same way: the sweep grows
        elif abs(yaw - v.yaw_ext) >= least:
            v.yaw_dir, v.yaw_ext, swept = -v.yaw_dir, yaw, True
        if not swept:
            return
        sweeps = v.sweeps
        sweeps.append(t)
        while sweeps and sweeps[0] < t - self.turn_window_s:
            sweeps.popleft()
        if len(sweeps) >= self.turns and v.started:
            sweeps.clear()
            events.append(LookingAround(t, v.id, dwell_s=v.dwell(t), zone=v.zone))

    def _walking(self, v: VisitorState) -> bool:
        t0, x0, y0 = v.trail[0]
        t1, x1, y1 = v.trail[-1]
        span = t1 - t0
        if span < 0.25 * _WALK_SPAN_S:
            return False
        return math.hypot(x1 - x0, y1 - y0) / span > self.cfg.walk_speed * v.h

    def _help_point(self, v: VisitorState, t: float, inside: bool, events: list[Event]) -> None:
        if not inside:
            v.help_since, v.at_help = None, False
            return
        if v.help_since is None:
            v.help_since = t
        if not v.at_help and v.started and t - v.help_since >= self.cfg.help_point_s:
            v.at_help = True
            events.append(AtHelpPoint(t, v.id, dwell_s=v.dwell(t), zone=v.zone))

    # ---- between people ----------------------------------------------------------------
    def _staff_attention(self, t: float, events: list[Event]) -> None:
        staff = [s for s in self.visitors.values() if s.staff]
        if not staff and not any(v.attended or v.near_since is not None
                                 for v in self.visitors.values()):
            return
        for v in self.visitors.values():
            if v.staff or not v.started:
                continue
            reach = self.cfg.staff_near * v.h
            near = next((s for s in staff if math.hypot(s.fx - v.fx, s.fy - v.fy) <= reach),
                        None)
            if near is not None:
                v.away_since = None
                if v.near_since is None:
                    v.near_since = t
                if not v.attended and t - v.near_since >= self.cfg.attended_s:
                    v.attended = True
                    events.append(Attended(t, v.id, staff_id=near.id))
            elif v.attended or v.near_since is not None:
                v.near_since = None
                if not v.attended:
                    continue
                if v.away_since is None:
                    v.away_since = t
                if t - v.away_since >= _ATTENDED_RELEASE_S:
                    v.attended, v.away_since = False, None
                    self._restart_linger(v, t)
                    events.append(AttendedEnded(t, v.id))

    def _close(self, a: VisitorState, b: VisitorState) -> bool:
        reach = self.cfg.party_near * max(a.h, b.h)
        return math.hypot(a.fx - b.fx, a.fy - b.fy) <= reach

    def _join_party(self, v: VisitorState, t: float) -> None:
        """Who arrived within party_window_s of v and is close now may be v's party."""
        window = self.cfg.party_window_s
        for u in self.visitors.values():
            if (u is v or u.staff or not u.started or abs(u.first_t - v.first_t) > window
                    or not self._close(u, v)):
                continue
            self._maybe[(min(u.id, v.id), max(u.id, v.id))] = t

    def _confirm_parties(self, t: float, events: list[Event]) -> None:
        """A pair that stays close for party_together_s is a party; one that parts is not."""
        joined: set[int] = set()
        for (a, b), since in list(self._maybe.items()):
            va, vb = self.visitors.get(a), self.visitors.get(b)
            if va is None or vb is None or not self._close(va, vb):
                del self._maybe[(a, b)]
            elif t - since >= self.cfg.party_together_s:
                del self._maybe[(a, b)]
                va.party.add(b)
                vb.party.add(a)
                self._links[(a, b)] = None
                joined.add(b)
        for vid in sorted(joined):  # one event per newcomer, naming the whole party
            events.append(PartyJoined(t, vid, others=tuple(sorted(self.party_of(vid)))))

    def _keep_parties(self, t: float) -> None:
        for (a, b), apart in list(self._links.items()):
            va, vb = self.visitors[a], self.visitors[b]
            if self._close(va, vb):
                self._links[(a, b)] = None
            elif apart is None:
                self._links[(a, b)] = t
            elif t - apart >= self.cfg.party_apart_s:
                del self._links[(a, b)]
                va.party.discard(b)
                vb.party.discard(a)

    def party_of(self, vid: int) -> frozenset[int]:
        """Everyone linked to ``vid`` directly or through others, without ``vid`` itself."""
        seen = {vid}
        todo = [vid]
        while todo:
            v = self.visitors.get(todo.pop())
            for other in v.party if v else ():
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        seen.discard(vid)
        return frozenset(seen)
