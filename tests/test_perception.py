"""Perception: when the detector runs (fake detector), and person accuracy on real footage."""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from edge.config.settings import Settings, load_settings
from edge.offline.metrics import detection_precision_recall
from edge.perception.detector import load_detector
from edge.perception.perceiver import Perception
from edge.perception.sources import open_source
from edge.vocabulary.types import Detections, Frame, HeadHints
from tests.conftest import model_file, shared_file

W, H = 320, 240
BOX = np.array([[10, 20, 60, 200]], np.float32)


class CountingDetector:
    """Finds one person wherever it looks and counts how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        self.calls += 1
        return Detections(BOX, np.array([0.9], np.float32))


class FixedYaw:
    def estimate(self, image: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.float32]
                 ) -> npt.NDArray[np.float32]:
        return np.full(len(xyxy), 25.0, np.float32)


def settings(**overrides: object) -> Settings:
    return load_settings(None, **overrides)


def still(n: int, fps: float = 10.0, start: int = 0) -> list[Frame]:
    image = np.full((H, W, 3), 90, np.uint8)
    return [Frame(image, i / fps, i) for i in range(start, start + n)]


def moving(n: int, fps: float = 10.0) -> list[Frame]:
    frames = []
    for i in range(n):
        image = np.full((H, W, 3), 90, np.uint8)
        x = 10 + 8 * i
        image[60:200, x:x + 40] = 230
        frames.append(Frame(image, i / fps, i))
    return frames


def make(**overrides: object) -> tuple[Perception, CountingDetector]:
    det = CountingDetector()
    return Perception(settings(**overrides).motion, (W, H), detector=det, yaw=None), det


def test_empty_still_scene_runs_the_detector_once() -> None:
    perception, det = make()
    results = [perception.observe(f, tracking=False) for f in still(100)]
    assert det.calls == 1  # the first frame: nothing to compare with yet
    assert results[0] is not None and all(r is None for r in results[1:])


def test_standing_people_are_redetected_at_the_interval() -> None:
    perception, det = make(motion={"redetect_interval_s": 1.0})
    results = [perception.observe(f, tracking=True) for f in still(101)]  # 10 s at 10 fps
    looked = [f.t for f, r in zip(still(101), results, strict=True) if r is not None]
    assert looked == pytest.approx([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert det.calls == 11


def test_interval_is_seconds_not_frames() -> None:
    perception, det = make(motion={"redetect_interval_s": 0.5})
    for f in still(31, fps=30.0):  # 1 s at 30 fps
        perception.observe(f, tracking=True)
    assert det.calls == 3  # t = 0, 0.5, 1.0


def test_motion_runs_the_detector_every_moving_frame() -> None:
    perception, det = make()
    results = [perception.observe(f, tracking=False) for f in moving(20)]
    assert all(r is not None for r in results) and det.calls == 20


def test_yaw_is_filled_by_the_estimator_and_nan_without_one() -> None:
    det = CountingDetector()
    with_yaw = Perception(settings().motion, (W, H), detector=det, yaw=FixedYaw())
    found = with_yaw.observe(still(1)[0], tracking=False)
    assert found is not None and found.yaw.tolist() == [25.0]
    without = Perception(settings().motion, (W, H), detector=det)
    found = without.observe(still(1)[0], tracking=False)
    assert found is not None and math.isnan(float(found.yaw[0]))


class CountingYaw(FixedYaw):
    def __init__(self) -> None:
        self.asked: list[int] = []

    def estimate(self, image: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.float32]
                 ) -> npt.NDArray[np.float32]:
        self.asked.append(len(xyxy))
        return super().estimate(image, xyxy)


def hint(box: npt.NDArray[np.float32], visitor: int, can_count: bool) -> HeadHints:
    return HeadHints(np.array([visitor], np.int64), box, np.array([can_count]))


def test_no_yaw_is_read_for_someone_walking_or_staff_as_of_the_last_step() -> None:
    """Sweeps made while walking never count and staff are never pinged about
    (docs/behaviour.md), so their yaw is not read."""
    yaw = CountingYaw()
    perception = Perception(settings().motion, (W, H), detector=CountingDetector(), yaw=yaw)
    frames = moving(3)  # the detector looks at every frame
    walker = BOX + np.float32(3)  # last step's box of the same person, a few px away
    far = np.array([[200, 150, 230, 230]], np.float32)  # someone else
    found = perception.observe(frames[0], tracking=False, hints=hint(walker, 4, False))
    assert found is not None and math.isnan(float(found.yaw[0])) and yaw.asked == []
    found = perception.observe(frames[1], tracking=True, hints=hint(far, 5, False))
    assert found is not None and found.yaw.tolist() == [25.0] and yaw.asked == [1]
    schedule = perception.yaw_schedule
    assert (schedule.read, schedule.skipped_cannot_count) == (1, 1)


def test_a_visitors_head_is_read_at_most_every_interval() -> None:
    """At 10 fps with a 0.3 s interval the same visitor is read on frames 0, 3, 6, 9; a
    newcomer matching no hint is read on every frame."""
    yaw = CountingYaw()
    perception = Perception(settings().motion, (W, H), detector=CountingDetector(), yaw=yaw,
                            yaw_interval_s=0.3)
    read = []
    for frame in moving(10):
        found = perception.observe(frame, tracking=True, hints=hint(BOX + 2, 9, True))
        assert found is not None
        read.append(not math.isnan(float(found.yaw[0])))
    assert [k for k, r in enumerate(read) if r] == [0, 3, 6, 9]
    assert perception.yaw_schedule.skipped_not_due == 6
    newcomer = Perception(settings().motion, (W, H), detector=CountingDetector(), yaw=yaw,
                          yaw_interval_s=0.3)
    far = np.array([[200, 150, 230, 230]], np.float32)
    assert all(not math.isnan(float(f.yaw[0])) for f in
               (newcomer.observe(fr, tracking=True, hints=hint(far, 9, True))
                for fr in moving(4)) if f is not None)
    assert newcomer.yaw_schedule.read == 4


def test_stage_timings_are_kept() -> None:
    perception, _ = make()
    for f in moving(5):
        perception.observe(f, tracking=False)
    ms = perception.median_stage_ms()
    assert ms["motion"] >= 0 and ms["detect"] >= 0 and math.isnan(ms["yaw"])
    assert len(perception.stage_ms["motion"]) == 5


# ---- real model on real footage ----

@pytest.mark.perception
def test_person_precision_and_recall_on_tud_stadtmitte() -> None:
    """Floors: precision >= 0.85, recall >= 0.80 at IoU 0.5 with yolox-nano@416, through the
    whole Perception (motion gate included: people walk through every frame of this clip)."""
    seq = shared_file("footage/TUD-Stadtmitte")
    models_dir = model_file("yolox_nano.onnx").parent
    s = settings(models_dir=models_dir, detector={"model": "yolox-nano", "input_size": 416},
                 yaw={"enabled": False})
    cv2.setNumThreads(1)
    source = open_source(str(seq / "TUD-Stadtmitte.mp4"), s.source)
    perception = Perception(s.motion, source.size,
                            detector=load_detector(s.detector, s.models_dir))
    pred: dict[int, np.ndarray] = {}
    for frame in source.frames():
        found = perception.observe(frame, tracking=True)
        if found is not None:
            pred[frame.index + 1] = found.xyxy  # MOT frames count from 1
    assert len(pred) >= 0.95 * 179
    rows = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",")
    gt: dict[int, np.ndarray] = {}
    for frame_no in pred:
        boxes = rows[rows[:, 0] == frame_no][:, 2:6].copy()
        boxes[:, 2:] += boxes[:, :2]
        gt[frame_no] = boxes
    precision, recall = detection_precision_recall(gt, pred, iou=0.5)
    print(f"TUD-Stadtmitte yolox-nano@416: precision {precision:.3f} recall {recall:.3f}")
    assert precision >= 0.85
    assert recall >= 0.80


def test_a_head_without_a_face_waits_longer_each_time_up_to_a_cap() -> None:
    """No trusted face when last read (back turned): read again after FACELESS_FACTOR
    intervals, doubling with each further faceless read up to FACELESS_MAX_FACTOR; once a
    face shows, every interval again, and the backoff starts over."""
    nan = math.nan
    faces = iter([nan, nan, nan, 10.0, 12.0, nan, 14.0])

    class Turning(CountingYaw):
        def estimate(self, image: npt.NDArray[np.uint8], xyxy: npt.NDArray[np.float32]
                     ) -> npt.NDArray[np.float32]:
            super().estimate(image, xyxy)
            return np.full(len(xyxy), next(faces), np.float32)

    perception = Perception(settings().motion, (W, H), detector=CountingDetector(),
                            yaw=Turning(), yaw_interval_s=0.2)
    read = []
    for k, frame in enumerate(moving(30)):  # 10 fps
        before = perception.yaw_schedule.read
        perception.observe(frame, tracking=True, hints=hint(BOX + 2, 3, True))
        if perception.yaw_schedule.read > before:
            read.append(k)
    # faceless at 0, 4, 12: waits 0.4, 0.8, 0.8 s (capped); faces at 20 and 22: 0.2 s;
    # faceless again at 24: 0.4 s, not 0.8
    assert read == [0, 4, 12, 20, 22, 24, 28]
