"""The appearance cue on real pictures: TUD-Campus's hidden walker and their companion.

tests/test_visits.py hides gt person 5 of TUD-Campus for 5 s and 8 s with boxes only; a
companion walking in step behind them (gt person 8) emerges on their path and takes their
visit over (xfail there: boxes cannot tell). Here the same clip is played forward and back
with its real pictures: the hidden person's box is removed while the pictures still show
them, and every frame's cue is computed from the pictures and the boxes left
(edge/perception/appearance.py), as perception does live.
"""

from __future__ import annotations

import json
from functools import cache

import numpy as np
import numpy.typing as npt
import pytest

from edge.behaviour.looks import LOOK_VETO
from edge.offline.metrics import owners, visits_per_person, wrong_joins
from edge.offline.trace import frame_line
from edge.perception.appearance import LOOK_BINS, clear_views, torso_looks
from edge.vocabulary.types import Detections
from tests.conftest import shared_file
from tests.test_visits import (
    FPS,
    GtFrames,
    edited,
    follow,
    inside,
    mid_picture_window,
    played,
    presence,
    tud,
)

cv2 = pytest.importorskip("cv2")
PLAYS = 5
Looks = list[npt.NDArray[np.float32]]


@cache
def pictures(sequence: str) -> tuple[npt.NDArray[np.uint8], ...]:
    video = cv2.VideoCapture(str(shared_file(f"footage/{sequence}/{sequence}.mp4")))
    out = []
    while True:
        ok, image = video.read()
        if not ok:
            break
        out.append(image)
    video.release()
    return tuple(out)


def looks_of(sequence: str, frames: GtFrames) -> Looks:
    """Each played frame's cue, from its picture and the boxes in it (as perception would)."""
    pics = pictures(sequence)
    order = played(len(pics), PLAYS)
    assert len(order) == len(frames)
    return [torso_looks(pics[order[k]], boxes.astype(np.float32))
            for k, (_, boxes) in enumerate(frames)]


def seen_clear_window(frames: GtFrames, looks: Looks, n: int, views: int = 5
                      ) -> tuple[int, int]:
    """Like ``mid_picture_window``, but the hide starts only after the person was seen clear
    (torso overlapping no other box) ``views`` times: before that there is no look of them."""
    person, first = mid_picture_window(frames, n)
    pad = int(FPS)
    clear = [k for k, (ids, _) in enumerate(frames) if person in ids.tolist()
             and not np.isnan(looks[k][ids.tolist().index(person), 0])]
    for start in range(max(first, clear[views - 1] + 1), len(frames) - n - pad):
        around = [frames[k][1][frames[k][0] == person] for k in range(start - pad,
                                                                       start + n + pad)]
        if all(len(b) and inside(b[0]) for b in around):
            return person, start
    pytest.skip(f"person {person} is never seen clear and then mid-picture for {n / FPS} s")


def assert_their_visit_is_theirs(frames: GtFrames, looks: Looks | None, person: int) -> None:
    """One visit for ``person``, dwell within 1 s, nobody else's track joined into it and it
    followed nobody else (other people's visits are not judged here)."""
    gt = dict(enumerate(frames))
    by_visitor, by_track, visitor_of = follow(frames, looks)
    mine = [v for v, g in owners(gt, by_visitor).items() if g == person]
    assert len(mine) == 1, f"person {person} had visits {mine}"
    first = [k for k, (ids, _) in by_visitor.items() if mine[0] in ids]
    a, b = presence(frames)[person]
    assert abs((first[-1] - first[0]) - (b - a)) / FPS <= 1.0
    theirs_only = {tid: vid for tid, vid in visitor_of.items() if vid == mine[0]}
    assert wrong_joins(gt, by_track, theirs_only) == 0, "someone else joined their visit"
    theirs = {k: ([v for v in ids if v == mine[0]], boxes[np.asarray(ids) == mine[0]])
              for k, (ids, boxes) in by_visitor.items()}
    assert visits_per_person(gt, theirs, FPS, min_s=0.5).handed_over == 0, \
        "their visit also followed someone else"


BOXES_TELL = pytest.mark.xfail(strict=True, reason="boxes alone: the companion takes over")
# Hidden 5 s, the hidden walker's coasting track is lost before the clip turns round; the
# companion's track then carries on, with no clear view, on the walker reappearing where the
# companion vanished. The visit layer holds such a track back (edge/behaviour/visits.py,
# ``_to_recheck``) until its clear views show whose it is: the walker's, so it continues
# their visit, and the companion's next track continues the companion's.
NEVER_CLEAR = pytest.mark.xfail(strict=True, reason="hidden from frame 26: person 5 was never "
                                "seen clear before (always behind persons 2 and 3), so there "
                                "is no look to compare")


@pytest.mark.perception
@pytest.mark.parametrize(("hidden_s", "cue"), [
    pytest.param(5.0, False, marks=BOXES_TELL), (5.0, True),
    pytest.param(8.0, False, marks=BOXES_TELL), (8.0, True)])
def test_the_companion_does_not_take_over_a_hidden_walkers_visit(hidden_s: float,
                                                                 cue: bool) -> None:
    """Hidden mid-picture once seen clear five times (from gt frame 35): with the cue,
    person 5's visit stays theirs; the same boxes without it hand it to their companion."""
    frames = tud("TUD-Campus", plays=PLAYS)
    n = int(hidden_s * FPS)
    person, start = seen_clear_window(frames, looks_of("TUD-Campus", frames), n)
    hidden = edited(frames, person, start, n, lambda box, ids, boxes: None)
    looks = looks_of("TUD-Campus", hidden) if cue else None
    assert_their_visit_is_theirs(hidden, looks, person)


@pytest.mark.perception
@pytest.mark.parametrize("hidden_s", [pytest.param(5.0, marks=NEVER_CLEAR),
                                      pytest.param(8.0, marks=NEVER_CLEAR)])
def test_hidden_before_ever_seen_clear_the_cue_cannot_help(hidden_s: float) -> None:
    """tests/test_visits.py's known cases, with pictures: still the companion's."""
    frames = tud("TUD-Campus", plays=PLAYS)
    n = int(hidden_s * FPS)
    person, start = mid_picture_window(frames, n)
    hidden = edited(frames, person, start, n, lambda box, ids, boxes: None)
    assert_their_visit_is_theirs(hidden, looks_of("TUD-Campus", hidden), person)


@pytest.mark.perception
def test_looks_tell_the_walker_from_the_companion_but_not_from_themselves() -> None:
    """The numbers the veto rests on (edge/behaviour/looks.py): person 5's clear views stay
    near their mean; the companion's (person 5's box removed) are all further from it."""
    frames = tud("TUD-Campus", plays=1)
    looks = looks_of_one_play(frames)
    own = [lk for k, lk in views_of(frames, looks, 5)]
    assert len(own) >= 10
    mean = np.sqrt(np.mean(np.square(own), axis=0))
    without5 = [(ids[ids % 1000 != 5], boxes[ids % 1000 != 5]) for ids, boxes in frames]
    companion = [lk for k, lk in views_of(without5, looks_of_one_play(without5), 8)]
    assert len(companion) >= 10
    own_d = [float(np.sqrt(max(1.0 - float(mean @ lk), 0.0))) for lk in own]
    companion_d = [float(np.sqrt(max(1.0 - float(mean @ lk), 0.0))) for lk in companion]
    # measured: own 0.06-0.14 (17 views), companion 0.45-0.75 (median 0.56, 23 views)
    assert max(own_d) < 0.25 < LOOK_VETO < float(np.median(companion_d)), (own_d, companion_d)
    companion_mean = np.sqrt(np.mean(np.square(companion), axis=0))
    assert float(np.sqrt(1.0 - float(mean @ companion_mean))) > LOOK_VETO + 0.05


def looks_of_one_play(frames: GtFrames) -> Looks:
    pics = pictures("TUD-Campus")
    return [torso_looks(pics[k], boxes.astype(np.float32)) for k, (_, boxes) in
            enumerate(frames)]


def views_of(frames: GtFrames, looks: Looks, person: int
             ) -> list[tuple[int, npt.NDArray[np.float32]]]:
    """The clear views of annotated id ``person`` (``tud`` labels presences id + 1000 k)."""
    return [(k, looks[k][row]) for k, (ids, _) in enumerate(frames)
            for row in np.flatnonzero(ids % 1000 == person) if not np.isnan(looks[k][row, 0])]


def test_only_torsos_clear_of_other_boxes_get_a_look() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    image[:, :160] = (0, 0, 200)  # red left half, black right half
    boxes = np.array([[20, 20, 80, 200], [200, 20, 260, 200], [230, 40, 290, 220],
                      [300, 20, 340, 200]], np.float32)  # clear, overlapping pair, cut off
    looks = torso_looks(image, boxes)
    assert looks.shape == (4, LOOK_BINS)
    assert clear_views(boxes, (320, 240)).tolist() == [True, False, False, False]
    assert not np.isnan(looks[0]).any() and np.isnan(looks[1:]).all()
    assert float(looks[0] @ looks[0]) == pytest.approx(1.0)  # square roots of shares


def test_the_look_never_reaches_a_trace_and_its_shape_is_checked() -> None:
    image = np.full((240, 320, 3), 90, np.uint8)
    boxes = np.array([[20, 20, 80, 200]], np.float32)
    dets = Detections(boxes, np.array([0.9], np.float32), look=torso_looks(image, boxes))
    assert dets.look is not None and dets[np.array([True])].look is not None
    people = json.loads(frame_line(1.0, dets))["people"]
    assert [set(p) for p in people] == [{"box", "score", "yaw"}]
    with pytest.raises(ValueError, match="look must have shape"):
        Detections(boxes, np.array([0.9], np.float32), look=np.zeros((2, LOOK_BINS)))
