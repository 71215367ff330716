"""Where people walk in and out of the picture: boxes cut by its edge (the visit layer's).

A track born cut by the edge is someone walking in (a visitor at once, never joined); a
visitor last seen cut by it, walking out, has left (their visit ends at once).
"""

from __future__ import annotations

from edge.behaviour.joins import Visitor, velocity

# A box this close to the picture's edge (fraction of the picture) was cut off by it: the
# person is walking in or out there.
_EDGE_MARGIN = 0.02
# Someone last seen cut by the picture's edge walked out through it, unless they were walking
# inward at least this fast (box heights per second): then they just stepped in and were
# hidden. (A box cut by the edge narrows as its person leaves, so its centre slows: any speed
# that is not inward counts as out.)
_INWARD_SPEED = 0.05

Box = list[float]
Size = tuple[int, int] | None


def cut_by_edge(box: Box, frame_size: Size) -> bool:
    """Cut by the picture's edge where people walk in or out: a side or the bottom, or
    the top only with the feet in the picture's upper half (someone far off at the end of
    the floor). A box reaching the top with its feet lower is someone near the camera or
    a person merged with something tall (a lamp post, a shelf's edge): not an arrival.
    Without a known picture size nothing is."""
    if frame_size is None:
        return False
    w, h = frame_size
    mx, my = _EDGE_MARGIN * w, _EDGE_MARGIN * h
    return (box[0] <= mx or box[2] >= w - mx or box[3] >= h - my
            or (box[1] <= my and box[3] <= h / 2))


def outward(box: Box, frame_size: Size) -> tuple[float, float]:
    """The outward direction of the edges that cut ``box`` (see ``cut_by_edge``): x -1 left,
    1 right; y -1 top, 1 bottom; 0 none."""
    assert frame_size is not None
    w, h = frame_size
    mx, my = _EDGE_MARGIN * w, _EDGE_MARGIN * h
    ox = -1.0 if box[0] <= mx else 1.0 if box[2] >= w - mx else 0.0
    oy = 1.0 if box[3] >= h - my else -1.0 if box[1] <= my and box[3] <= h / 2 else 0.0
    return ox, oy


def walked_out(v: Visitor) -> bool:
    """Last seen at an edge and walking out through it (not in: someone who just stepped
    in and was then hidden is still inside, remembered like anyone lost mid-picture)."""
    if not v.at_edge:
        return False
    vx, vy = velocity(v)
    return vx * v.out_x + vy * v.out_y > -_INWARD_SPEED * v.heights[-1]
