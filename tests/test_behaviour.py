"""Behaviour alone (no tracker): builder-made Tracks in, typed events out, t explicit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from edge.behaviour.activity import Behaviour, Cues
from edge.behaviour.zones import ZoneMap
from edge.vocabulary.types import Tracks
from tests.builders import SIZE, settings_with


def tracks(people: list[tuple[int, float, float, float, float | None]],
           matched: list[bool] | None = None) -> Tracks:
    """(id, feet x, feet y, height, yaw) per person -> Tracks."""
    n = len(people)
    xyxy = np.array([[x - 0.2 * h, y - h, x + 0.2 * h, y] for _, x, y, h, _ in people],
                    np.float32).reshape(n, 4)
    yaw = np.array([math.nan if p[4] is None else p[4] for p in people], np.float32)
    return Tracks(np.array([p[0] for p in people], np.int64), xyxy,
                  np.full(n, 0.9, np.float32), yaw,
                  np.array(matched if matched is not None else [True] * n, bool))


def make(zones: list[dict] | None = None, **sections: dict) -> Behaviour:
    settings = settings_with(zones or [], **sections)
    return Behaviour(settings.behaviour, ZoneMap(settings.zones, SIZE), Cues.of(settings.policy))


def run(b: Behaviour, frames: list[tuple[float, Tracks]]) -> list:
    out = []
    for t, tr in frames:
        out += b.update(tr, t)
    return out


def test_visit_starts_after_visit_min_s_and_ends_at_last_seen() -> None:
    b = make(behaviour={"visit_min_s": 0.5})
    frames = [(i / 10, tracks([(1, 300, 400, 200, None)])) for i in range(20)]
    frames += [(2.0 + i / 10, tracks([(1, 300, 400, 200, None)], [False])) for i in range(10)]
    frames.append((3.0, Tracks.empty()))
    events = run(b, frames)
    assert [(e.type, e.t) for e in events] == [("visit_start", 0.5), ("visit_end", 1.9)]
    assert events[1].dwell_s == pytest.approx(1.9)


def test_a_glimpse_is_no_visit() -> None:
    b = make(behaviour={"visit_min_s": 1.0})
    events = run(b, [(0.0, tracks([(1, 300, 400, 200, None)])), (0.5, Tracks.empty())])
    assert events == []


@pytest.mark.parametrize(("height", "step_px", "lingers"), [
    (200, 2.0, True),    # 60 px drift over 30 s < 0.5 x 200
    (60, 2.0, False),    # the same drift is a walk for someone far away (radius 30 px)
    (60, 0.5, True),
])
def test_linger_radius_is_relative_to_box_height(height: float, step_px: float,
                                                 lingers: bool) -> None:
    b = make(policy={"linger_s": 30.0})
    frames = [(float(t), tracks([(1, 200 + step_px * t, 400, height, None)]))
              for t in range(41)]
    assert bool([e for e in run(b, frames) if e.type == "lingering"]) is lingers


def test_looking_around_counts_sweeps_and_skips_unknown_yaw() -> None:
    b = make(policy={"look_around_turns": 3, "look_around_window_s": 10.0})
    # -20 -> 50 -> -20 -> 50 in steps of 10 degrees every 0.2 s, faces lost now and then
    up, down = list(range(-20, 51, 10)), list(range(40, -21, -10))
    path = up + down + up[1:]
    yaws: list[float | None] = []
    for i, y in enumerate(path):
        yaws += [y, None] if i % 4 == 3 else [y]
    frames = [(1.0 + i * 0.2, tracks([(1, 300, 400, 200, y)])) for i, y in enumerate(yaws)]
    events = [e for e in run(b, frames) if e.type == "looking_around"]
    # The median of 3 lags one reading. Sweeps count once the head is 30 deg back from its
    # extreme: the third when the median reaches 20 on the last way up (raw reading 30).
    third = max(i for i, y in enumerate(yaws) if y == 30)
    assert [round(e.t, 1) for e in events] == [round(1.0 + 0.2 * third, 1)]


def test_one_misread_face_is_not_a_turn() -> None:
    b = make(policy={"look_around_turns": 2})
    yaws = [0.0] * 10 + [60.0] + [0.0] * 10 + [-60.0] + [0.0] * 10
    frames = [(i * 0.1, tracks([(1, 300, 400, 200, y)])) for i, y in enumerate(yaws)]
    assert not [e for e in run(b, frames) if e.type == "looking_around"]


def test_small_head_movements_are_not_turns() -> None:
    b = make(behaviour={"look_around_min_deg": 30.0})
    frames = [(i * 0.3, tracks([(1, 300, 400, 200, 12 * (-1) ** i)])) for i in range(60)]
    assert not [e for e in run(b, frames) if e.type == "looking_around"]


HELP = {"name": "desk", "kind": "help_point",
        "polygon": [[0.5, 0.5], [1.0, 0.5], [1.0, 1.0], [0.5, 1.0]]}
STAFF = {"name": "counter", "kind": "staff",
         "polygon": [[0.0, 0.5], [0.3, 0.5], [0.3, 1.0], [0.0, 1.0]]}


def test_help_point_needs_a_moment_inside() -> None:
    b = make([HELP], behaviour={"help_point_s": 2.0})
    inside = [(i / 10, tracks([(1, 500, 400, 200, None)])) for i in range(30)]
    events = [e for e in run(b, inside) if e.type == "at_help_point"]
    assert [(e.t, e.zone) for e in events] == [(2.0, "desk")]
    b = make([HELP], behaviour={"help_point_s": 2.0})
    crossing = [(i / 10, tracks([(1, 100 + 20 * i, 400, 200, None)])) for i in range(30)]
    assert not [e for e in run(b, crossing) if e.type == "at_help_point"]


def test_staff_is_decided_where_the_visit_starts() -> None:
    b = make([STAFF])
    frames = [(i / 10, tracks([(1, 50 + 20 * i, 400, 200, None)])) for i in range(30)]
    [start] = [e for e in run(b, frames) if e.type == "visit_start"]
    assert start.staff and b.visitors[1].staff and b.visitors[1].zone is None


def test_attended_needs_staff_close_for_attended_s_and_restarts_linger() -> None:
    b = make([STAFF], behaviour={"attended_s": 3.0, "staff_near": 1.0})
    frames = []
    for i in range(100):
        t = i / 10
        staff_x = 400 if 2 <= t < 7 else 50
        frames.append((t, tracks([(1, 50 if t < 1 else staff_x, 450, 200, None),
                                  (2, 450, 400, 200, None)])))
    events = run(b, frames)
    kinds = [(e.type, round(e.t, 1)) for e in events if e.type.startswith("attended")]
    assert kinds == [("attended", 5.0), ("attended_end", 8.0)]
    assert b.visitors[2].linger_since == pytest.approx(8.0)


def test_party_needs_arriving_together_and_staying_close() -> None:
    b = make(behaviour={"party_window_s": 2.0, "party_together_s": 5.0})
    frames = [(i / 10, tracks([(1, 300, 400, 200, None), (2, 380, 400, 200, None)]))
              for i in range(80)]
    [party] = [e for e in run(b, frames) if e.type == "party"]
    assert party.others == (1,) and b.party_of(1) == frozenset({2})
    b = make(behaviour={"party_window_s": 2.0, "party_together_s": 5.0})
    apart = [(i / 10, tracks([(1, 300, 400, 200, None), (2, 380 + 30 * i, 400, 200, None)]))
             for i in range(80)]
    assert not [e for e in run(b, apart) if e.type == "party"]


def test_unmatched_prediction_does_not_move_the_visitor() -> None:
    b = make(policy={"linger_s": 5.0})
    frames = [(i / 10, tracks([(1, 300, 400, 200, None)])) for i in range(30)]
    frames += [(3 + i / 10, tracks([(1, 300 + 50 * i, 400, 200, None)], [False]))
               for i in range(20)]
    frames += [(5 + i / 10, tracks([(1, 300, 400, 200, None)])) for i in range(10)]
    assert [e.t for e in run(b, frames) if e.type == "lingering"] == [5.0]


def test_head_hints_name_who_can_count_walkers_and_staff_cannot() -> None:
    """Perception reads yaw only where a sweep could count (edge/perception/yaw_schedule.py):
    not for someone walking, not for staff; an unseen (predicted) person is not hinted."""
    b = make([STAFF])
    for i in range(20):
        t = i / 10
        run(b, [(t, tracks([(1, 50, 400, 200, None),        # staff: stands in the staff zone
                            (2, 300 + 40 * i, 400, 200, None),  # walks at 0.2 h/frame
                            (3, 500, 300, 200, None),           # stands
                            (4, 400, 200, 200, None)],          # predicted, not seen
                           matched=[True, True, True, False]))])
    hints = b.head_hints
    assert dict(zip(hints.ids.tolist(), hints.can_count.tolist(), strict=True)) == {
        1: False, 2: False, 3: True}
    assert hints.xyxy.shape == (3, 4)
