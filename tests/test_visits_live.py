"""The appearance cue through the real sensor: the TUD videos, YOLOX-nano, cue on and off.

The cue (edge/behaviour/looks.py) may only refuse continuations, and the visit layer's recheck
(edge/behaviour/visits.py) only moves a track the tracker picked up again without a clear
view. Neither may hand a visit to someone else, or put anyone's dwell further off, where
boxes alone did not: scored against the clips' ground truth, per visitor id as behaviour
sees it (a held-back track counted as the visitor it became).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge.config.settings import load_settings
from edge.offline.metrics import (
    DwellScores,
    VisitScores,
    dwell_errors,
    provisional_in_hindsight,
    visits_per_person,
)
from edge.offline.mot import read_mot_ground_truth
from edge.perception.sources import open_source
from edge.service.sensor import Sensor
from tests.conftest import model_file, shared_file

FPS = 25.0


def visitors_seen(sequence: str, cue: bool) -> dict[int, tuple[list[int], np.ndarray]]:
    """Per video frame, the visitors seen in it (id, box) as the live sensor follows them."""
    settings = load_settings(None, models_dir=model_file("yolox_nano.onnx").parent,
                             detector={"model": "yolox-nano", "input_size": 416,
                                       "runtime": "onnxruntime", "threads": 1},
                             tracker={"appearance_cue": cue})
    frames: list[tuple[int, list[int], np.ndarray]] = []
    pairs: list[list[tuple[int, int | None]]] = []

    def watch(t: float, pipeline: Any) -> None:
        shown = pipeline.shown
        seen = shown[shown.matched]
        ids = seen.ids.tolist()
        frames.append((round(t * FPS) + 1, ids, seen.xyxy.astype(np.float64)))  # gt from 1
        pairs.append([(vid, pipeline.visits.visitors[vid].track if vid > 0 else -vid)
                      for vid in ids])

    sensor = Sensor(settings, frame_size=(640, 480), watchers=[watch])
    source = open_source(str(shared_file(f"footage/{sequence}/{sequence}.mp4")),
                         settings.source)
    for frame in source.frames():
        sensor.process(frame)
    source.close()
    sensor.finish()
    became = provisional_in_hindsight(pairs)  # a held-back track is the visitor it became
    return {frame: (ids, boxes) for (frame, _, boxes), ids in zip(frames, became, strict=True)}


def scores(sequence: str, cue: bool) -> tuple[VisitScores, DwellScores]:
    gt = read_mot_ground_truth(shared_file(f"footage/{sequence}/gt/gt.txt"))
    seen = visitors_seen(sequence, cue)
    return visits_per_person(gt, seen, FPS, min_s=0.5), dwell_errors(gt, seen, FPS)


@pytest.mark.perception
@pytest.mark.parametrize("sequence", ["TUD-Stadtmitte", "TUD-Campus"])
def test_with_the_cue_no_more_visits_are_handed_over_and_dwell_is_no_further_off(
        sequence: str) -> None:
    """Measured: TUD-Campus the same with and without; TUD-Stadtmitte 9 visits instead of 8,
    because the recheck stops gt person 9 inheriting person 8's visit 0.3 s into it (person
    9's own visit follows; that 0.3 s still counts as a hand-over and a split), and the mean
    dwell error falls from 1.20 to 1.05 s."""
    (cue, cue_dwell), (boxes, boxes_dwell) = scores(sequence, True), scores(sequence, False)
    print(sequence, "cue:", cue, cue_dwell, "boxes alone:", boxes, boxes_dwell)
    assert cue.people == boxes.people > 0
    assert cue.handed_over <= boxes.handed_over, (cue, boxes)
    assert cue_dwell.mean_error_s <= boxes_dwell.mean_error_s, (cue_dwell, boxes_dwell)
    assert cue.per_person <= 1.1, cue  # issue 13's floor
