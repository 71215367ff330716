"""The visit layer's recheck of a track the tracker picked up again with no clear view.

Unit tests of edge/behaviour/visits.py on hand-made tracker output (``Tracks`` with looks):
a visitor seen clear, unseen for a moment, then their track carries on with no clear view.
The track is held back (provisional, the visitor remembered) until ``visit_min_s``; then its
clear views since decide: theirs or none, the visit goes on; clearly someone else's, the
track is someone new. tests/test_visits_looks.py shows it on TUD-Campus's real pictures.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.behaviour.looks import LEAST_VIEWS
from edge.behaviour.visits import Visits
from edge.behaviour.zones import ZoneMap
from edge.config.sections import BehaviourConfig
from edge.perception.appearance import LOOK_BINS
from edge.vocabulary.types import Tracks

SIZE = (640, 480)
FPS = 25.0


def look(bin_: int) -> npt.NDArray[np.float32]:
    """A look whose colours are mostly in one bin (square roots of shares, as perception)."""
    shares = np.full(LOOK_BINS, 0.2 / (LOOK_BINS - 1))
    shares[bin_] = 0.8
    return np.sqrt(shares).astype(np.float32)


THEIRS, SOMEONE_ELSE, UNCLEAR = look(3), look(11), np.full(LOOK_BINS, np.nan, np.float32)


def frame(x: float, matched: bool, cue: npt.NDArray[np.float32] | None) -> Tracks:
    """Track 1, a 160 px person with feet at y=400, left edge at ``x``."""
    return Tracks(np.array([1]), np.array([[x, 240.0, x + 60.0, 400.0]], np.float32),
                  np.array([0.9], np.float32), np.array([np.nan], np.float32),
                  np.array([matched]), None if cue is None else cue[None, :])


def walk(after: npt.NDArray[np.float32] | None, *, cue: bool = True
         ) -> list[tuple[float, list[int], list[bool]]]:
    """Someone walks in at the left edge, seen clear (``THEIRS``) for 2 s, is unseen for
    0.4 s mid-picture, then their track carries on: 0.2 s with no clear view, then 1 s with
    ``after`` views. Each frame's (t, visitor ids, matched) out of the layer."""
    visits = Visits(BehaviourConfig(), ZoneMap([], SIZE), SIZE)
    out = []
    k = 0
    for t_end, matched, seen in [(2.0, True, THEIRS), (2.4, False, UNCLEAR),
                                 (2.6, True, UNCLEAR), (3.6, True, after)]:
        while k / FPS < t_end:
            t = k / FPS
            tracks = frame(5.0 + 60.0 * t, matched, seen if cue and seen is not None
                           else UNCLEAR if cue else None)
            people = visits.update(tracks, t)
            out.append((t, people.ids.tolist(), people.matched.tolist()))
            k += 1
    return out


def seen_as(rows: list[tuple[float, list[int], list[bool]]], since: float) -> set[int]:
    return {vid for t, ids, m in rows if t >= since for vid, ok in zip(ids, m, strict=True)
            if ok}


def test_a_track_that_carries_on_unclear_is_held_back_then_given_back_to_its_visitor() -> None:
    rows = walk(THEIRS)
    assert seen_as(rows, 0.0) == {1, -1}  # provisional while held back, then visitor 1 again
    held = [t for t, ids, m in rows if -1 in ids]
    assert held[0] == 2.4 and held[-1] < 2.4 + BehaviourConfig().visit_min_s + 1 / FPS
    # while held back the visitor is remembered where last seen (unmatched): no visit ends
    assert all(1 in ids for t, ids, m in rows)
    assert seen_as(rows, held[-1] + 0.01) == {1}


def test_no_clear_view_while_held_back_gives_the_track_back() -> None:
    rows = walk(UNCLEAR)
    assert seen_as(rows, 3.0) == {1}


def test_clear_views_of_someone_else_start_a_new_visit() -> None:
    rows = walk(SOMEONE_ELSE)
    after = seen_as(rows, 3.0)
    assert 1 not in after and after and all(v > 1 for v in after), after
    # the visitor they were is still remembered (they may be hidden nearby), unmatched
    assert all(1 in ids for t, ids, m in rows)


def test_without_the_cue_the_track_is_never_held_back() -> None:
    """A replayed trace has no looks: the tracker's continuation is the visit's, as before."""
    rows = walk(None, cue=False)
    assert seen_as(rows, 0.0) == {1}


def test_fewer_clear_views_than_a_look_needs_decide_nothing() -> None:
    """One or two odd views (an arm across the torso) do not take a visit away."""
    visits = Visits(BehaviourConfig(), ZoneMap([], SIZE), SIZE)
    t = 0.0
    for k in range(50):
        t = k / FPS
        visits.update(frame(5.0 + 60.0 * t, True, THEIRS), t)
    t += 0.4
    visits.update(frame(5.0 + 60.0 * t, True, UNCLEAR), t)
    for _ in range(LEAST_VIEWS - 1):
        t += 1 / FPS
        visits.update(frame(5.0 + 60.0 * t, True, SOMEONE_ELSE), t)
    while t < 3.5:
        t += 1 / FPS
        people = visits.update(frame(5.0 + 60.0 * t, True, UNCLEAR), t)
    assert people.ids.tolist() == [1] and people.matched.tolist() == [True]


def test_a_visitor_last_seen_walking_out_at_the_edge_is_kept_while_rechecked() -> None:
    """Last seen cut by the edge, walking out, then their track carries on just inside: until
    the recheck decides, their visit does not end there (it would split a person who turned
    back at the edge); their own views then give the track back."""
    visits = Visits(BehaviourConfig(), ZoneMap([], SIZE), SIZE)
    seen = set()
    k = 0
    while k / FPS < 3.6:
        t = k / FPS
        if t < 2.0:  # in at the left edge, 1 s inward, 1 s back out to the edge
            x, matched, cue = 5.0 + 60.0 * min(t, 2.0 - t), True, THEIRS
        elif t < 2.4:
            x, matched, cue = 5.0, False, UNCLEAR
        else:  # their track again, just inside: unclear at first, then clear
            x, matched, cue = 20.0, True, UNCLEAR if t < 2.6 else THEIRS
        people = visits.update(frame(x, matched, cue), t)
        seen |= {vid for vid, m in zip(people.ids.tolist(), people.matched.tolist(),
                                        strict=True) if m and t >= 3.0}
        k += 1
    assert seen == {1}
