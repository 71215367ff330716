"""One person, one visit: the visit layer (edge/behaviour/visits.py) over the tracker.

Two kinds of input. Real ground-truth boxes of TUD-Stadtmitte and TUD-Campus, made longer by
playing them forward and back, with one person hidden mid-picture for 2-8 s or their box
replaced by its union with a neighbour's or a post's for a second (what made visits split on
real footage); and seeded synthetic shop scenes through the whole pipeline (tests.builders).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest

from edge.behaviour.tracker import IouTracker
from edge.behaviour.visits import Visits
from edge.behaviour.zones import ZoneMap
from edge.config.sections import BehaviourConfig, TrackerConfig
from edge.offline.metrics import (
    owners,
    provisional_in_hindsight,
    swaps,
    visits_per_person,
    wrong_joins,
)
from edge.offline.mot import read_mot_ground_truth
from edge.vocabulary.types import Detections, Tracks
from tests.builders import (
    Person,
    looking_around,
    of_type,
    run_scenario,
    settings_with,
    standing,
)
from tests.conftest import shared_file

FPS = 25.0
TUD = (640, 480)
Boxes = npt.NDArray[np.float64]
GtFrames = list[tuple[npt.NDArray[np.int64], Boxes]]  # per frame: (ids, xyxy)


# ---- real ground truth, made harder ---------------------------------------------------
def played(n: int, plays: int) -> list[int]:
    """Frame indices (0-based) of a clip of ``n`` frames played forward, back, forward..."""
    order: list[int] = []
    for play in range(plays):
        part = list(range(n)) if play % 2 == 0 else list(range(n))[::-1]
        order += part if play == 0 else part[1:]  # the turning frame once
    return order


def tud(sequence: str, plays: int = 3) -> GtFrames:
    """The clip's ground truth played forward, back, forward...; each unbroken presence of an
    annotated id is one person (someone who walks out and back in is two visits)."""
    gt = read_mot_ground_truth(shared_file(f"footage/{sequence}/gt/gt.txt"))
    empty = (np.zeros(0, np.int64), np.zeros((0, 4)))
    forward = [tuple(map(np.asarray, gt.get(k, empty))) for k in range(1, max(gt) + 1)]
    return _one_id_per_presence([forward[k] for k in played(len(forward), plays)])


def _one_id_per_presence(frames: GtFrames) -> GtFrames:
    label: dict[int, int] = {}
    before: set[int] = set()
    out: GtFrames = []
    for ids, boxes in frames:
        now = set(ids.tolist())
        for i in sorted(now - before):
            label[i] = len(out) * 1000 + i  # unique per (arrival frame, annotated id)
        out.append((np.array([label[i] for i in ids.tolist()], np.int64), boxes))
        before = now
    return out


def presence(frames: GtFrames) -> dict[int, tuple[int, int]]:
    spans: dict[int, tuple[int, int]] = {}
    for k, (ids, _) in enumerate(frames):
        for i in ids.tolist():
            spans[i] = (spans.get(i, (k, k))[0], k)
    return spans


def inside(box: Boxes, margin: float = 40.0) -> bool:
    return bool(box[0] > margin and box[1] > 5 and box[2] < TUD[0] - margin
                and box[3] < TUD[1] - margin / 4)


def box_of(frames: GtFrames, k: int, person: int) -> Boxes | None:
    ids, boxes = frames[k]
    hit = np.flatnonzero(ids == person)
    return boxes[hit[0]] if len(hit) else None


def mid_picture_window(frames: GtFrames, n: int) -> tuple[int, int]:
    """A person and a start frame such that they are present and inside the picture (not at
    its edge) for ``n`` frames from there, and for a second before and after."""
    pad = int(FPS)
    for person, (a, b) in sorted(presence(frames).items(), key=lambda p: p[1][0] - p[1][1]):
        for start in range(a + pad, b - n - pad, 5):
            around = [box_of(frames, k, person) for k in range(start - pad, start + n + pad)]
            if all(box is not None and inside(box) for box in around):
                return person, start
    pytest.skip(f"no person stays mid-picture for {n / FPS:.0f} s in this clip")


def edited(frames: GtFrames, person: int, start: int, n: int,
           edit: Callable[[Boxes, npt.NDArray[np.int64], Boxes], Boxes | None]) -> GtFrames:
    """``edit(box, ids, boxes)`` replaces the person's box in frames start..start+n (None:
    not detected there)."""
    out = list(frames)
    for k in range(start, start + n):
        ids, boxes = frames[k]
        row = np.flatnonzero(ids == person)[0]
        new = edit(boxes[row], ids, boxes)
        keep = ids != person
        if new is None:
            out[k] = (ids[keep], boxes[keep])
        else:
            boxes = boxes.copy()
            boxes[row] = new
            out[k] = (ids, boxes)
    return out


def with_neighbour(box: Boxes, ids: npt.NDArray[np.int64], boxes: Boxes) -> Boxes:
    """The union with the nearest other person's box (a detector merging two people)."""
    centre = (box[:2] + box[2:]) / 2
    dist = [np.inf if np.array_equal(b, box) else float(np.hypot(*((b[:2] + b[2:]) / 2
                                                                  - centre))) for b in boxes]
    other = boxes[int(np.argmin(dist))] if len(boxes) > 1 else box
    return np.concatenate([np.minimum(box[:2], other[:2]), np.maximum(box[2:], other[2:])])


def with_post(box: Boxes, ids: npt.NDArray[np.int64], boxes: Boxes) -> Boxes:
    """The union with a lamp post just beside them (tall, thin, reaching the ground)."""
    w, h = box[2] - box[0], box[3] - box[1]
    post = np.array([box[2] + 0.1 * w, box[1] - 0.6 * h, box[2] + 0.3 * w, box[3] + 0.05 * h])
    return np.concatenate([np.minimum(box[:2], post[:2]), np.maximum(box[2:], post[2:])])


def follow(frames: GtFrames, looks: list[npt.NDArray[np.float32]] | None = None
           ) -> tuple[dict[int, tuple[list[int], Boxes]],
                      dict[int, tuple[list[int], Boxes]], dict[int, int]]:
    """Tracker + visit layer over the boxes (and each frame's appearance cue, if given):
    visitor-id frames, track-id frames, and which visitor each track became (matched people
    only, like the events)."""
    tracker = IouTracker(TrackerConfig(), TUD)
    visits = Visits(BehaviourConfig(), ZoneMap([], TUD), TUD)
    by_visitor, by_track, visitor_of = {}, {}, {}
    pairs: list[list[tuple[int, int | None]]] = []
    for k, (_, boxes) in enumerate(frames):
        dets = Detections(boxes.astype(np.float32), np.full(len(boxes), 0.9, np.float32),
                          look=None if looks is None else looks[k])
        people = visits.update(tracker.update(dets, k / FPS), k / FPS)
        seen = people[people.matched]
        tids = [visits.visitors[v].track if v > 0 else -v for v in seen.ids.tolist()]
        for tid, vid in zip(tids, seen.ids.tolist(), strict=True):
            if vid > 0 and tid is not None:
                visitor_of[tid] = vid
        by_visitor[k] = (seen.ids.tolist(), seen.xyxy.astype(np.float64))
        by_track[k] = ([t or 0 for t in tids], seen.xyxy.astype(np.float64))
        pairs.append(list(zip(seen.ids.tolist(), tids, strict=True)))
    for k, ids in enumerate(provisional_in_hindsight(pairs)):  # provisional ids are, in
        by_visitor[k] = (ids, by_visitor[k][1])  # hindsight, the visitor they became
    return by_visitor, by_track, visitor_of


def assert_one_visit(frames: GtFrames, person: int, label: str) -> None:
    gt = dict(enumerate(frames))
    by_visitor, by_track, visitor_of = follow(frames)
    mine = [v for v, g in owners(gt, by_visitor).items() if g == person]
    assert len(mine) == 1, f"{label}: person {person} had visits {mine}"
    first = [k for k, (ids, _) in by_visitor.items() if mine[0] in ids]
    a, b = presence(frames)[person]
    dwell_error = abs((first[-1] - first[0]) - (b - a)) / FPS
    assert dwell_error <= 1.0, f"{label}: dwell off by {dwell_error:.2f} s"
    assert wrong_joins(gt, by_track, visitor_of) == 0, label
    theirs = {k: ([v for v in ids if v == mine[0]], boxes[np.asarray(ids) == mine[0]])
              for k, (ids, boxes) in by_visitor.items()}
    scores = visits_per_person(gt, theirs, FPS, min_s=0.5)
    assert scores.handed_over == 0, (label, "their visit also followed someone else")


# Known to fail: the TUD-Campus walker these hide (gt person 5) has a companion (gt person 8)
# walking 20 px behind them at the same speed, hidden by them until frame 46. Hidden from
# frame 25, person 5's coasting track is re-acquired by the tracker on person 8 when they
# emerge exactly on person 5's predicted path: from boxes alone person 8 *is* the best
# continuation. These cases have no pixels; tests/test_visits_looks.py plays them with the
# real pictures and the appearance cue.
KNOWN = pytest.mark.xfail(strict=True, reason="TUD-Campus: a companion walking in step behind "
                          "the hidden person takes over their path (boxes cannot tell)")
HIDES = [pytest.param(seq, s, marks=KNOWN) if seq == "TUD-Campus" and s > 2.0 else (seq, s)
         for seq in ("TUD-Stadtmitte", "TUD-Campus") for s in (2.0, 5.0, 8.0)]
MERGES = [(seq, m) for seq in ("TUD-Stadtmitte", "TUD-Campus") for m in ("neighbour", "post")]


@pytest.mark.perception
@pytest.mark.parametrize(("sequence", "hidden_s"), HIDES)
def test_hidden_mid_picture_for_seconds_is_one_visit(sequence: str, hidden_s: float) -> None:
    frames = tud(sequence, plays=5)
    n = int(hidden_s * FPS)
    person, start = mid_picture_window(frames, n)
    hidden = edited(frames, person, start, n, lambda box, ids, boxes: None)
    assert_one_visit(hidden, person, f"{sequence} hidden {hidden_s} s")


@pytest.mark.perception
@pytest.mark.parametrize(("sequence", "kind"), MERGES)
def test_a_merged_box_for_a_second_is_one_visit(sequence: str, kind: str) -> None:
    merge = with_neighbour if kind == "neighbour" else with_post
    frames = tud(sequence, plays=3)
    n = int(FPS)
    person, start = mid_picture_window(frames, n)
    assert_one_visit(edited(frames, person, start, n, merge), person,
                     f"{sequence} {merge.__name__}")


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("speeds", [(60.0, 60.0), (90.0, 40.0)])
def test_two_people_crossing_do_not_swap(seed: int, speeds: tuple[float, float]) -> None:
    """Two people cross mid-picture at walking pace; while the near one covers the far one
    the detector sees only the near one (and a second of merged boxes as they meet): each
    keeps their own visitor id (no swap, one visit each, no wrong join)."""
    rng = np.random.default_rng(seed)
    frames: GtFrames = []
    for k in range(int(8 * FPS)):
        t = k / FPS
        near = np.array([100 + speeds[0] * t, 0, 0, 420.0])  # feet x, -, -, feet y
        far = np.array([540 - speeds[1] * t, 0, 0, 400.0])
        boxes = [_person(near[0], near[3], 170.0, rng), _person(far[0], far[3], 150.0, rng)]
        gap = abs(near[0] - far[0])
        if gap < 40:
            ids, rows = [1], [boxes[0]]  # the far one is hidden behind the near one
        elif gap < 70:
            ids, rows = [1], [np.concatenate([np.minimum(boxes[0][:2], boxes[1][:2]),
                                              np.maximum(boxes[0][2:], boxes[1][2:])])]
        else:
            ids, rows = [1, 2], boxes
        frames.append((np.array(ids, np.int64), np.array(rows)))
    gt = dict(enumerate(frames))
    by_visitor, by_track, visitor_of = follow(frames)
    assert swaps(gt, by_visitor, FPS) == 0
    assert wrong_joins(gt, by_track, visitor_of) == 0
    for person in (1, 2):
        mine = [v for v, g in owners(gt, by_visitor).items() if g == person]
        assert len(mine) == 1, f"person {person} had visits {mine}"


def _person(fx: float, fy: float, h: float, rng: np.random.Generator) -> Boxes:
    j = rng.normal(0, 1.5, 4)
    return np.array([fx - 0.2 * h, fy - h, fx + 0.2 * h, fy]) + j


# ---- synthetic shop scenes, whole pipeline ----------------------------------------------
COUNTER = {"name": "counter", "kind": "staff",
           "polygon": [[0.0, 0.85], [0.15, 0.85], [0.15, 1.0], [0.0, 1.0]]}
DOOR = {"name": "door", "kind": "entrance",
        "polygon": [[0.3, 0.9], [0.7, 0.9], [0.7, 1.0], [0.3, 1.0]]}


def visitors_of(events: list) -> list:
    return [e for e in of_type(events, "visit_start") if not e.staff]


@pytest.mark.parametrize("seed", range(3))
def test_a_mannequin_is_never_a_visitor_but_the_person_beside_it_is(seed: int) -> None:
    mannequin = standing(0.0, 200.0, 300, 400, step_in=0.0)
    visitor = standing(5.0, 200.0, 400, 400)
    events = run_scenario([mannequin, visitor], 205.0, seed=seed)
    [start] = of_type(events, "visit_start")
    [ping] = of_type(events, "ping")
    assert ping.visitor == start.visitor and ping.t == pytest.approx(95.0, abs=3.0)
    assert all(e.visitor == start.visitor for e in events)


def test_someone_standing_still_since_the_sensor_started_counts_once_they_move() -> None:
    """Inside when the sensor starts, still for 30 s (like a mannequin so far), then walks
    out: one visit, its dwell from the first sighting; no ping while they were still."""
    regular = Person([(0.0, 300.0, 400.0), (30.0, 300.0, 400.0), (33.0, 639.0, 400.0)])
    events = run_scenario([regular], 40.0)
    [start], [end] = of_type(events, "visit_start"), of_type(events, "visit_end")
    assert start.visitor == end.visitor and 30.0 <= start.t <= 31.0
    assert end.dwell_s == pytest.approx(33.0, abs=1.0)


def test_a_still_figure_whose_head_turns_is_a_person() -> None:
    """Still feet since the sensor started, but the head turns from t=20: a visit then,
    dated from the first sighting; a mannequin's head never turns (test above)."""
    person = Person([(0.0, 300.0, 400.0), (120.0, 300.0, 400.0)],
                    yaw=looking_around(20.0, 120.0))
    events = run_scenario([person], 125.0)
    [start] = of_type(events, "visit_start")
    assert 20.0 <= start.t <= 22.0
    [end] = of_type(events, "visit_end")
    assert end.dwell_s == pytest.approx(120.0, abs=1.0)


def test_someone_who_walks_in_and_stands_still_is_a_visitor() -> None:
    walks_in = Person([(0.0, 620.0, 400.0), (3.0, 400.0, 400.0), (150.0, 400.0, 400.0)])
    [ping] = of_type(run_scenario([walks_in], 155.0), "ping")
    assert ping.reason == "linger" and ping.t == pytest.approx(90.0, abs=3.0)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("hidden_s", [4.0, 9.0])
def test_behind_a_shelf_keeps_the_visit_and_its_space_window(seed: int,
                                                             hidden_s: float) -> None:
    """Walks behind a tall shelf, browses hidden there and comes out further on."""
    path = [(0.0, 600.0, 400.0), (5.0, 300.0, 400.0), (5.0 + hidden_s, 250.0, 380.0),
            (130.0, 250.0, 380.0)]
    person = Person(path, hidden=[(5.0, 5.0 + hidden_s)])
    events = run_scenario([person], 135.0, seed=seed)
    assert len(of_type(events, "visit_start")) == 1
    [end] = of_type(events, "visit_end")
    assert end.dwell_s == pytest.approx(130.0, abs=1.0)
    [ping] = of_type(events, "ping")
    assert ping.t == pytest.approx(90.0, abs=3.0)  # the space window did not restart


@pytest.mark.parametrize("seed", range(5))
def test_two_people_crossing_keep_their_own_dwell(seed: int) -> None:
    a = Person([(0.0, 620.0, 400.0), (8.0, 20.0, 400.0)], height=150)
    b = Person([(2.0, 20.0, 405.0), (10.0, 620.0, 405.0)], height=150)
    events = run_scenario([a, b], 14.0, seed=seed)
    ends = sorted(of_type(events, "visit_end"), key=lambda e: e.visitor)
    assert len(ends) == 2
    assert [e.dwell_s for e in ends] == pytest.approx([7.6, 7.6], abs=1.0)


@pytest.mark.parametrize("seed", range(3))
def test_staff_occluded_on_the_floor_stay_staff(seed: int) -> None:
    staff = Person([(0.0, 40.0, 460.0), (10.0, 40.0, 460.0), (14.0, 300.0, 350.0),
                    (30.0, 320.0, 350.0), (34.0, 40.0, 460.0), (60.0, 40.0, 460.0)],
                   hidden=[(16.0, 22.0)])
    events = run_scenario([staff], 65.0, settings_with([COUNTER]), seed=seed)
    starts = of_type(events, "visit_start")
    assert [e.staff for e in starts] == [True]
    assert of_type(events, "ping") == []


def test_leaving_behind_a_shelf_and_someone_else_across_the_room_are_two_visits() -> None:
    """A leaves mid-picture behind a shelf (a back door); 5 s later B appears across the room
    from behind the counter and walks about: two visits, B's dwell its own."""
    a = Person([(0.0, 600.0, 380.0), (6.0, 150.0, 380.0)], height=100)
    b = Person([(11.0, 560.0, 250.0), (14.0, 480.0, 300.0), (40.0, 480.0, 300.0)], height=100)
    events = run_scenario([a, b], 45.0)
    ends = sorted(of_type(events, "visit_end"), key=lambda e: e.t)
    assert len(ends) == 2 and ends[0].visitor != ends[1].visitor
    assert ends[0].dwell_s == pytest.approx(6.0, abs=1.0)
    assert ends[1].dwell_s == pytest.approx(29.0, abs=1.0)


def test_entrance_counts_in_and_out_and_ends_the_visit_at_once() -> None:
    comes_and_goes = Person([(0.0, 320.0, 479.0), (3.0, 320.0, 300.0), (20.0, 320.0, 300.0),
                             (23.0, 320.0, 479.0)])
    events = run_scenario([comes_and_goes], 40.0, settings_with([DOOR]))
    [entered], [exited] = of_type(events, "entered"), of_type(events, "exited")
    [end] = of_type(events, "visit_end")
    assert entered.visitor == exited.visitor == end.visitor
    assert exited.t == end.t == pytest.approx(23.0, abs=0.2)
    # the visit_end is decided within half a second of the last sighting, not after a grace
    position = events.index(end)
    assert all(e.t <= end.t + 0.6 for e in events[:position])


def test_born_at_the_edge_is_never_joined() -> None:
    """Someone lost mid-picture; a newcomer entering at the edge right there is someone new."""
    visits = Visits(BehaviourConfig(), ZoneMap([], TUD), TUD)
    for k in range(10):  # walks about mid-picture (so no scenery)
        visits.update(_tracks([(1, [400 + 10 * k, 200, 460 + 10 * k, 360])]), k * 0.1)
    visits.update(Tracks.empty(), 1.0)
    comer = _tracks([(2, [585, 200, 639, 360])])
    out = visits.update(comer, 1.1)
    assert set(out.ids.tolist()) == {1, 2}


def test_a_new_track_where_someone_was_just_lost_continues_their_visit() -> None:
    visits = Visits(BehaviourConfig(visit_min_s=0.5), ZoneMap([], TUD), TUD)
    for k in range(10):
        visits.update(_tracks([(1, [200 + 15 * k, 200, 260 + 15 * k, 360])]), k * 0.1)
    out = None
    for k in range(12, 22):  # lost 0.2 s, then a taller (merged) box a little further on
        out = visits.update(_tracks([(2, [200 + 15 * k, 170, 270 + 15 * k, 365])]), k * 0.1)
    assert out is not None and out.ids.tolist() == [1] and out.matched.all()
    assert visits.first_seen(1) == 0.0 and visits.joins == 1


def _tracks(rows: list[tuple[int, list[float]]]) -> Tracks:
    n = len(rows)
    return Tracks(np.array([r[0] for r in rows], np.int64),
                  np.array([r[1] for r in rows], np.float32).reshape(n, 4),
                  np.full(n, 0.9, np.float32), np.full(n, np.nan, np.float32),
                  np.ones(n, bool))

