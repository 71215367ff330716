"""Visits: one person, one visit, across the tracker's splits. Maps track ids to visitor ids.

The tracker is kept fast and simple; it splits a person into two ids when their box jumps (a
merged or partial box behind a post or another person fails its height gate), after a long
occlusion, or behind a shelf. This layer sits between the tracker and behaviour and owns the
visits: behaviour and policy only ever see visitor ids, so a split that this layer joins keeps
the visitor's first-seen time, staff flag, party, acknowledgements and cooldowns.

How a visit **begins**:

- a track born at the picture's edge or in an ``entrance`` zone is a new person: a visitor at
  once, never joined to anyone (people walk in there);
- a track born inside the picture (behind a shelf, out of a merged box) is held back for
  ``visit_min_s`` (behaviour would not start its visit earlier anyway), then offered to the
  people who are coasting (tracker still predicting them) or lost within the last
  ``visit_memory_s``: if it is plausibly one of them it **continues** that visit (see
  ``_plausible``); otherwise it is a new visitor, dated from its first sighting;
- a new visitor born inside that has not moved (feet within ``scenery_still`` box heights of
  where it appeared) is **still**: possibly scenery (a mannequin, a poster, a coat stand), or a
  person standing still since the sensor started. It keeps its visitor id (followed, remembered,
  joinable) but ``visiting`` hides it from behaviour, so it starts no visit and is never pinged,
  until its feet move that far or its head turns (then the visit is dated from its first
  sighting). Tracks born in a ``staff`` zone are exempt (staff sit still behind the counter).

How a visit **ends**: when its person was last seen cut by the picture's edge, not walking
inward, and the tracker lost them, or crossing out of an entrance zone: at once; otherwise
``visit_memory_s`` after they were last seen (inside the scene they may be behind a shelf).
The end is always stamped by behaviour with the last time they were seen, so the memory never
adds to dwell.

A join is decided from geometry and motion (positions, box edges and heights, times), and
a still visitor's start from those and the head direction (yaw), all of which are in a trace.
Live, the appearance cue (``Tracks.look``, edge/behaviour/looks.py) can also **refuse** a
join: a newcomer whose clear views' colours are clearly unlike the lost person's is someone
else (a companion walking in step behind them). A track the tracker picked up again mid-
picture with no clear view of whom is held back like a newborn one and **rechecked**: its
clear views since decide whether it still carries the visit (``_to_recheck``). A trace has no
looks, so a replay joins by geometry alone and may join where the live sensor refused
(docs/tracker.md says when).
Live numbers are put on the trace's grid before any decision (``Detections.on_record_grid``),
so rounding never makes a replay judge a threshold differently.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edge.behaviour.joins import (
    SPEED_SPAN_S,
    HeldTrack,
    Visitor,
    plausible,
)
from edge.behaviour.looks import LEAST_VIEWS, LOOK_GAP_S
from edge.behaviour.picture_edge import cut_by_edge, outward, walked_out
from edge.behaviour.zones import ZoneMap
from edge.config.sections import BehaviourConfig
from edge.vocabulary.types import Tracks

# Someone last seen in an entrance after being inside has left once unseen this long (one
# missed frame in the doorway is not an exit) or when the tracker lets go of them.
_EXIT_BLINK_S = 0.5
# A still detection whose head direction turned this much is a person (a mannequin's never
# does; a face read twice differs by a few degrees).
_HEAD_TURN_DEG = 30.0
# A track the tracker picks up again after this long unseen, with no clear view of whom, is
# checked against the look of the person it was (live only; see ``Visits._to_recheck``).
# Shorter checks more (people cross and overlap for a moment all the time) at the cost of a
# visitor unseen for ``visit_min_s`` more each time; longer lets a companion who took a hidden
# person's path keep their visit.
_RECHECK_GAP_S = LOOK_GAP_S


@dataclass(frozen=True, slots=True)
class Crossing:
    """Someone crossed an entrance zone: inward (``entered``) or out (their visit ended)."""

    t: float
    visitor: int
    entered: bool


class Visits:
    """Track ids -> visitor ids; see the module docstring.

    ``is_staff(visitor)`` tells whether behaviour knows that visitor as staff: a member of
    staff lost on the floor is joined more readily (no height gate), so staff stay staff.
    """

    def __init__(self, cfg: BehaviourConfig, zones: ZoneMap,
                 frame_size: tuple[int, int] | None,
                 is_staff: Callable[[int], bool] = lambda vid: False) -> None:
        self.reload(cfg, zones)
        self.frame_size = frame_size
        self.is_staff = is_staff
        self._tracks: dict[int, HeldTrack] = {}
        self.visitors: dict[int, Visitor] = {}
        self._next_id = 1
        self.crossings: list[Crossing] = []  # of the last update
        self.joins = 0

    def reload(self, cfg: BehaviourConfig, zones: ZoneMap) -> None:
        self.cfg = cfg
        self.zones = zones

    def __len__(self) -> int:
        """Visitors present or remembered now."""
        return len(self.visitors)

    def first_seen(self, vid: int) -> float:
        """When a visitor (or a provisional one, negative id) was first seen."""
        return self.visitors[vid].first_t if vid > 0 else self._tracks[-vid].first_t

    # ---- per frame ---------------------------------------------------------------------
    def update(self, tracks: Tracks, t: float) -> Tracks:
        """The tracker's output with visitor ids (held-back tracks under provisional negative
        ids, still visitors included: see ``visiting``),
        people lost inside the scene kept (unmatched, at their last box) while remembered."""
        self.crossings = []
        ids = tracks.ids.tolist()
        matched = tracks.matched.tolist()
        boxes = tracks.xyxy.tolist()
        feet_in = self._entrance_flags(tracks)
        if len(self._tracks) > len(ids) or any(tid not in self._tracks for tid in ids):
            present = set(ids)
            for tid in [k for k in self._tracks if k not in present]:
                del self._tracks[tid]
        rows: dict[int, int] = {}  # visitor -> row
        yaws = tracks.yaw.tolist()
        looks = tracks.look
        for j, tid in enumerate(ids):
            look = None if looks is None else looks[j]  # NaN: no clear view now
            vid = self._visitor_of(tid, boxes[j], matched[j], t,
                                   look is not None and look[0] != look[0])
            if matched[j]:
                track = self._tracks[tid]
                track.seen_t = t
                if look is not None:
                    track.look.add(look)
            if vid is not None:
                rows[vid] = j
                if matched[j]:
                    v = self.visitors[vid]
                    self._seen(v, boxes[j], t, feet_in[j], yaws[j])
                    if look is not None:
                        v.look.add(look)
        if len(rows) < len(ids):
            self._decide_held(ids, boxes, matched, rows, t)
        if len(rows) < len(self.visitors) or not all(matched):
            self._forget(rows, matched, t)
        if len(rows) < len(ids):
            # tracks held back until visit_min_s are shown as provisional visitors (negative
            # ids): behaviour starts no visit before visit_min_s, so no event ever names one
            rows.update((-tid, j) for j, tid in enumerate(ids)
                        if self._tracks[tid].visitor is None)
        return self._output(tracks, rows)

    def _visitor_of(self, tid: int, box: list[float], matched: bool, t: float,
                    unclear: bool) -> int | None:
        """``unclear``: the cue is on but this detection has no clear view now."""
        track = self._tracks.get(tid)
        if track is None:
            track = self._tracks[tid] = self._new_track(tid, box, t)
        vid = track.visitor
        if vid is None:
            return None
        v = self.visitors.get(vid)
        if v is not None and v.track == tid:
            if matched and unclear and self._to_recheck(v, track, box, t):
                self._tracks[tid] = HeldTrack.at(box, t, free=False, recheck=vid)
                v.track = None
                return None
            return vid
        # that visit ended (through the entrance) or a newer track took it over: this track
        # is someone new from its next sighting
        if not matched:
            return None
        track = self._tracks[tid] = self._new_track(tid, box, t)
        return track.visitor

    def _to_recheck(self, v: Visitor, track: HeldTrack, box: list[float], t: float) -> bool:
        """The tracker picked ``v``'s track up again after ``_RECHECK_GAP_S`` unseen, mid-
        picture, with no clear view of whom, while ``v``'s look is known: someone else may
        have walked into their predicted path (a companion behind them). Then the track is
        held back like a newborn one and given back to ``v`` unless its first clear views are
        unlike ``v`` (``_decide_held``). Live only: a trace has no looks."""
        return (t - track.seen_t >= _RECHECK_GAP_S and v.look.views >= LEAST_VIEWS
                and not cut_by_edge(box, self.frame_size))

    def _new_track(self, tid: int, box: list[float], t: float) -> HeldTrack:
        fx, fy = (box[0] + box[2]) / 2, box[3]
        free = cut_by_edge(box, self.frame_size)
        if not free and len(self.zones):
            feet = np.array([[fx, fy]], np.float32)
            free = bool(self.zones.inside(feet, "entrance")[0]
                        or self.zones.inside(feet, "staff")[0])
        track = HeldTrack.at(box, t, free)
        if free:
            self._start(tid, track, box, t)
        return track

    def _start(self, tid: int, track: HeldTrack, box: list[float], t: float) -> int:
        vid = self._next_id
        self._next_id += 1
        v = Visitor(vid, track.first_t, t, (box[0], box[1], box[2], box[3]), tid,
                     anchor=(track.fx, track.fy))
        v.heights.append(max(box[3] - box[1], 1.0))
        self.visitors[vid] = v
        track.visitor = vid
        return vid

    def _seen(self, v: Visitor, box: list[float], t: float, in_entrance: bool,
              yaw: float) -> None:
        fx, fy = (box[0] + box[2]) / 2, box[3]
        if v.still and (self._moved(v, box) or self._head_turned(v, yaw)):
            v.still = False
        if v.in_entrance and not in_entrance and not v.been_inside:
            self.crossings.append(Crossing(t, v.vid, entered=True))
        v.been_inside |= not in_entrance
        v.in_entrance = in_entrance
        v.last_t = t
        v.box = (box[0], box[1], box[2], box[3])
        v.heights.append(max(box[3] - box[1], 1.0))
        v.at_edge = cut_by_edge(box, self.frame_size)
        if v.at_edge:
            v.out_x, v.out_y = outward(box, self.frame_size)
        trail = v.trail
        trail.append((t, fx, fy))
        while trail[0][0] < t - SPEED_SPAN_S:
            trail.popleft()

    # ---- held-back tracks: join, or start (still or not) --------------------------------------
    def _decide_held(self, ids: list[int], boxes: list[list[float]], matched: list[bool],
                     rows: dict[int, int], t: float) -> None:
        """Held tracks due (seen ``visit_min_s``) are offered to lost people; those no one
        claims are new visitors, still ones (possible scenery) flagged ``still``."""
        due = [j for j, tid in enumerate(ids) if self._tracks[tid].visitor is None
               and matched[j] and t - self._tracks[tid].first_t >= self.cfg.visit_min_s]
        if not due:
            return
        due = [j for j in due if not self._given_back(ids[j], j, matched, rows)]
        self._offer(due, ids, boxes, matched, rows)
        for j in due:
            track = self._tracks[ids[j]]
            if track.visitor is None:
                vid = self._start(ids[j], track, boxes[j], t)
                v = self.visitors[vid]
                v.still = not self._moved(v, boxes[j])
                rows[vid] = j

    def _given_back(self, tid: int, j: int, matched: list[bool], rows: dict[int, int]
                    ) -> bool:
        """A rechecked track (see ``_to_recheck``) continues the visit it was on, unless
        ``LEAST_VIEWS`` clear views since are unlike that person (then it is offered to
        everyone lost, like any newborn track) or the visit was taken or ended meanwhile."""
        track = self._tracks[tid]
        vid = track.recheck
        if vid is None:
            return False
        track.recheck = None
        v = self.visitors.get(vid)
        if v is None or (vid in rows and matched[rows[vid]]):
            return False
        if track.look.views >= LEAST_VIEWS and v.look.unlike(track.look):
            return False
        v.track, track.visitor = tid, vid
        rows[vid] = j
        return True

    def _rechecked(self, vid: int) -> bool:
        """A track held back for a recheck may still be ``vid``'s: their visit does not end
        at the edge they were last seen at before that is decided."""
        return any(track.recheck == vid for track in self._tracks.values())

    def _offer(self, due: list[int], ids: list[int], boxes: list[list[float]],
               matched: list[bool], rows: dict[int, int]) -> None:
        """Each due track to the lost person it most plausibly is (best pairs first)."""
        lost = [v for v in self.visitors.values()
                if v.vid not in rows or not matched[rows[v.vid]]]
        pairs = []
        for j in due:
            track = self._tracks[ids[j]]
            for v in lost:
                score = plausible(v, boxes[j], track, self.cfg.visit_memory_s,
                                  self.is_staff(v.vid))
                if score is not None:
                    pairs.append((score, j, v.vid))
        taken: set[int] = set()
        joined: set[int] = set()
        for _, j, vid in sorted(pairs):
            if j in taken or vid in joined:
                continue
            taken.add(j)
            joined.add(vid)
            v, track = self.visitors[vid], self._tracks[ids[j]]
            v.track, track.visitor = ids[j], vid
            rows[vid] = j
            self.joins += 1

    def _moved(self, v: Visitor, box: list[float]) -> bool:
        h = max(box[3] - box[1], 1.0)
        fx, fy = (box[0] + box[2]) / 2, box[3]
        return math.hypot(fx - v.anchor[0], fy - v.anchor[1]) > self.cfg.scenery_still * h

    def _head_turned(self, v: Visitor, yaw: float) -> bool:
        """A head that turned by ``_HEAD_TURN_DEG`` (medians of 3: one misread face is not a
        turn) is a person's, however still their feet: a mannequin's face never turns."""
        if yaw != yaw:
            return False
        v.yaws.append(yaw)
        if len(v.yaws) < 3:
            return False
        now = sorted(v.yaws)[1]
        if v.yaw_first != v.yaw_first:
            v.yaw_first = now
            return False
        return abs((now - v.yaw_first + 180.0) % 360.0 - 180.0) >= _HEAD_TURN_DEG

    def visiting(self, people: Tracks) -> Tracks:
        """``people`` (this layer's output) without the still ones: what behaviour sees.
        Scenery never starts a visit and is never pinged; a still person's visit starts,
        dated from their first sighting, once they move or turn their head."""
        if not any(v.still for v in self.visitors.values()):
            return people
        keep = np.array([vid not in self.visitors or not self.visitors[vid].still
                         for vid in people.ids.tolist()], bool)
        return people[keep]

    # ---- ends --------------------------------------------------------------------------
    def _forget(self, rows: dict[int, int], matched: list[bool], t: float) -> None:
        """Visits that end now: left through an entrance or the edge, or lost too long."""
        memory = self.cfg.visit_memory_s
        for vid in [k for k in self.visitors if rows.get(k) is None or not matched[rows[k]]]:
            v = self.visitors[vid]
            leaving = v.in_entrance and v.been_inside and (
                vid not in rows or t - v.last_t > _EXIT_BLINK_S)
            gone = vid not in rows and walked_out(v) and not self._rechecked(vid)
            if leaving or gone or t - v.last_t > memory:
                del self.visitors[vid]
                rows.pop(vid, None)
                if leaving:
                    self.crossings.append(Crossing(v.last_t, vid, entered=False))
            elif vid not in rows:
                v.track = None

    def _output(self, tracks: Tracks, rows: dict[int, int]) -> Tracks:
        """Visitors seen now (their track's row), provisional ones, and people remembered
        (at their last box, unmatched)."""
        lost = [vid for vid in self.visitors if vid not in rows]
        if not lost:
            if not rows:
                return Tracks.empty()
            out = tracks[np.fromiter(rows.values(), np.intp, len(rows))]
            return Tracks(np.fromiter(rows, np.int64, len(rows)), out.xyxy, out.score, out.yaw,
                          out.matched)
        n, m = len(rows), len(lost)
        ids = np.fromiter([*rows, *lost], np.int64, n + m)
        idx = np.fromiter(rows.values(), np.intp, n)
        xyxy = np.concatenate([tracks.xyxy[idx],
                               np.array([self.visitors[v].box for v in lost], np.float32)])
        score = np.concatenate([tracks.score[idx], np.zeros(m, np.float32)])
        yaw = np.concatenate([tracks.yaw[idx], np.full(m, np.nan, np.float32)])
        matched = np.concatenate([tracks.matched[idx], np.zeros(m, bool)])
        return Tracks(ids, xyxy, score, yaw, matched)

    # ---- helpers -----------------------------------------------------------------------
    def _entrance_flags(self, tracks: Tracks) -> list[bool]:
        if not self.zones.has_entrance or not len(tracks):
            return [False] * len(tracks)
        return list(self.zones.inside(tracks.feet, "entrance").tolist())

