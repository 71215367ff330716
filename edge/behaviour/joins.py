"""The visit layer's state and the geometry of its joins (edge/behaviour/visits.py uses them).

``plausible`` says whether a track born inside the picture is a person lost a moment ago,
from positions, box edges and heights and times only (all in a trace).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from edge.behaviour.looks import Look
from edge.vocabulary.boxes import iou_matrix

# Join radius, in the lost person's box heights: 0.75 for a box that reappears where the
# person was predicted, growing by this many heights per second of gap: a slow walk in a
# direction their last velocity did not say (the path already covers stopping and walking on).
_JOIN_RADIUS = 0.75
_JOIN_SPREAD_PER_S = 0.5
# A box of the same person seen nearer or further, or with legs hidden: height within this
# ratio of one of their recent boxes; otherwise one of its edges (head or feet) must match.
_SAME_HEIGHT_RATIO = 1.4
_EDGE_MATCH = 0.3  # box heights
# A partial or merged box still has to be of human size relative to the person.
_LEAST_HEIGHT_RATIO, _MOST_HEIGHT_RATIO = 0.35, 2.5
# The lost person may overlap the newcomer by this much time (a duplicate frame or two),
# and only where their boxes overlap at least this much (seen at once in two places is two).
_OVERLAP_S = 0.2
_SAME_PLACE_IOU = 0.3
# Feet velocity is measured over this much recent track, and capped (box heights per second).
SPEED_SPAN_S = 1.0
_MAX_SPEED = 2.0
_RECENT_HEIGHTS = 8


@dataclass(slots=True)
class HeldTrack:
    """A tracker id as this layer knows it."""

    first_t: float
    fx: float
    fy: float
    born_free: bool  # at the edge / in an entrance (or staff zone): a visitor at once
    first_box: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    visitor: int | None = None  # None while held back
    look: Look = field(default_factory=Look)  # its clear views' appearance (live only)
    seen_t: float = 0.0  # last matched to a detection
    # held back because the tracker picked it up again, unseen long, with no clear view of
    # whom (live only): the visitor it was, given back unless its clear views say otherwise
    recheck: int | None = None

    @classmethod
    def at(cls, box: list[float], t: float, free: bool, recheck: int | None = None
           ) -> HeldTrack:
        """A track first seen now at ``box`` (xyxy)."""
        return cls(t, (box[0] + box[2]) / 2, box[3], free, (box[0], box[1], box[2], box[3]),
                   seen_t=t, recheck=recheck)


@dataclass(slots=True)
class Visitor:
    """A visit as the layer keeps it (see Visits)."""

    vid: int
    first_t: float
    last_t: float
    box: tuple[float, float, float, float]  # last seen xyxy
    track: int | None
    # Still since born inside (possible scenery): followed, but no visit for behaviour until
    # the feet leave ``anchor`` by ``scenery_still`` box heights or the head turns.
    still: bool = False
    anchor: tuple[float, float] = (0.0, 0.0)  # feet where first seen
    yaw_first: float = math.nan  # first trusted head direction (median of 3), degrees
    yaws: deque[float] = field(default_factory=lambda: deque(maxlen=3))
    heights: deque[float] = field(default_factory=lambda: deque(maxlen=_RECENT_HEIGHTS))
    trail: deque[tuple[float, float, float]] = field(default_factory=deque)  # t, feet x, y
    in_entrance: bool = False  # last seen with feet in an entrance zone
    been_inside: bool = False  # seen with feet outside every entrance zone
    at_edge: bool = False  # last box cut by the picture's edge
    out_x: float = 0.0  # which way out that edge is: -1 left, 1 right, 0 none
    out_y: float = 0.0  # -1 top, 1 bottom
    # the appearance cue of their clear views (live only; forgotten with the visit)
    look: Look = field(default_factory=Look)


def plausible(v: Visitor, box: list[float], track: HeldTrack, memory_s: float,
              staff: bool) -> float | None:
    """How far (in radii) the new box is from where ``v`` may be now; None: not them.

    Where they may be is the segment from where they were last seen (they stopped) to where
    their last velocity would have taken them (they walked on), widened by
    ``_JOIN_SPREAD_PER_S`` per second of gap (the gap, and the newcomer's position, taken at
    its first sighting). The newcomer's feet or head must be near it (a partial box keeps one
    of them), and its height near one of their recent boxes or one of its edges must match
    theirs (a merged box is taller but shares an edge); staff skip the size check. A
    newcomer of their size whose look is clearly unlike theirs is not them (live only: see
    edge/behaviour/looks.py).
    """
    gap = track.first_t - v.last_t
    if gap < -_OVERLAP_S or gap > memory_s:
        return None
    if gap < 0 and iou(track.first_box, v.box) < _SAME_PLACE_IOU:
        return None  # both seen at once, in two places: two people
    ref = sorted(v.heights)[len(v.heights) // 2]
    # where the newcomer was first seen, when the gap is measured (it has walked on
    # since); its size now (a first box may be a fragment)
    first = track.first_box
    h = max(box[3] - box[1], 1.0)
    if not _LEAST_HEIGHT_RATIO * ref <= h <= _MOST_HEIGHT_RATIO * ref:
        return None
    vx, vy = velocity(v)
    step_x, step_y = vx * max(gap, 0.0), vy * max(gap, 0.0)
    cx, (top, feet) = (first[0] + first[2]) / 2, (first[1], first[3])
    ox = (v.box[0] + v.box[2]) / 2
    d_feet = to_segment(cx - ox, feet - v.box[3], step_x, step_y)
    d_head = to_segment(cx - ox, top - v.box[1], step_x, step_y)
    same_size = any(abs(math.log(h / g)) < math.log(_SAME_HEIGHT_RATIO) for g in v.heights)
    edge = min(abs(feet - v.box[3] - step_y), abs(top - v.box[1] - step_y))
    if not (same_size or staff or edge <= _EDGE_MATCH * ref + abs(step_y)):
        return None
    if same_size and v.look.unlike(track.look):
        # clearly different clothes (live only): someone else. Only for a box of their
        # size: the torso region of a merged or partial box shows someone else, or the post
        return None
    radius = (_JOIN_RADIUS + _JOIN_SPREAD_PER_S * max(gap, 0.0)) * ref
    d = min(d_feet, d_head)
    return d / radius if d <= radius else None


def velocity(v: Visitor) -> tuple[float, float]:
    """Feet velocity over the recent trail, px/s, capped at a fast walk."""
    trail = v.trail
    if len(trail) < 2 or trail[-1][0] - trail[0][0] < 0.2:
        return 0.0, 0.0
    span = trail[-1][0] - trail[0][0]
    vx, vy = (trail[-1][1] - trail[0][1]) / span, (trail[-1][2] - trail[0][2]) / span
    speed, limit = math.hypot(vx, vy), _MAX_SPEED * v.heights[-1]
    if speed > limit:
        vx, vy = vx * limit / speed, vy * limit / speed
    return vx, vy


def to_segment(px: float, py: float, sx: float, sy: float) -> float:
    """Distance from point p to the segment from the origin to s."""
    length2 = sx * sx + sy * sy
    along = 0.0 if length2 < 1e-9 else min(max((px * sx + py * sy) / length2, 0.0), 1.0)
    return math.hypot(px - along * sx, py - along * sy)


def iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    return float(iou_matrix([a], [b])[0, 0])
