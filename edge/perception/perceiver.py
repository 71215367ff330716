"""Perception: motion gate -> person detector -> head yaw and looks, one frame at a time.

``observe`` returns ``None`` when the detector did not run on a frame ("not looked", which the
tracker treats as a prediction step), never an empty Detections for a frame nobody looked at.
The detector runs when the motion gate sees change, and at least every
``motion.redetect_interval_s`` while anyone is tracked, because people standing still make no
motion and must not be lost. An empty, still scene costs one shrink-and-compare per frame.
With ``looks`` each detection also gets the appearance cue (edge/perception/appearance.py),
in memory only.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from edge.perception.motion import MotionGate
from edge.perception.yaw_schedule import YawSchedule
from edge.vocabulary.types import Detections, Frame, HeadHints

if TYPE_CHECKING:
    from pathlib import Path

    from edge.config.sections import MotionConfig, YawConfig
    from edge.vocabulary.interfaces import Detector

log = logging.getLogger(__name__)

STAGES = ("motion", "detect", "yaw", "look")
TIMING_WINDOW = 2048  # recent samples per stage kept for medians


class Perception:
    """One camera's perception: the motion gate (``motion``), the person ``detector``
    (edge.perception.detector.load_detector) and the head-yaw estimator ``yaw`` (``load_yaw``;
    None: yaw stays NaN), read for each visitor at most every ``yaw_interval_s``
    (edge/perception/yaw_schedule.py); ``looks`` ([tracker] appearance_cue) adds each person's
    torso look (None when off: the pipeline then decides from boxes alone, as in a replay)."""

    def __init__(self, motion: MotionConfig, frame_size: tuple[int, int], *,
                 detector: Detector, yaw: Any = None, yaw_interval_s: float = 0.0,
                 looks: bool = False) -> None:
        self.detector = detector
        self.looks = looks
        self.gate_motion = MotionGate(motion, frame_size)
        self.redetect_s = motion.redetect_interval_s
        self.yaw = yaw
        self._last_detect_t = -math.inf
        self.stage_ms: dict[str, deque[float]] = {s: deque(maxlen=TIMING_WINDOW) for s in STAGES}
        self.detector_runs = 0
        self.frames = 0
        self.yaw_schedule = YawSchedule(yaw_interval_s)

    def observe(self, frame: Frame, tracking: bool,
                hints: HeadHints | None = None) -> Detections | None:
        """People in this frame, or None when the detector did not look at it. Yaw is NaN
        where the schedule did not read it: walkers and staff as of the last step (``hints``),
        and visitors read less than ``yaw_interval_s`` ago."""
        if not self.gate(frame, tracking):
            return None
        t0 = time.perf_counter()
        detections = self.detector.detect(frame.image)
        return self.annotate(frame, detections, (time.perf_counter() - t0) * 1000, hints)

    # ``observe`` before and after the detector, for a caller that runs the detector on
    # another thread (edge/service/overlap.py): ``gate`` and ``annotate`` keep this object's
    # state and run on the caller's thread.

    def gate(self, frame: Frame, tracking: bool) -> bool:
        """Whether the detector looks at this frame: the motion gate saw change, or someone
        is ``tracking`` and was last detected ``redetect_interval_s`` ago."""
        self.frames += 1
        t0 = time.perf_counter()
        moving = self.gate_motion.changed(frame.image)
        self.stage_ms["motion"].append((time.perf_counter() - t0) * 1000)
        if not (moving or (tracking and frame.t - self._last_detect_t >= self.redetect_s)):
            return False
        self._last_detect_t = frame.t
        self.detector_runs += 1
        return True

    def annotate(self, frame: Frame, detections: Detections, detect_ms: float,
                 hints: HeadHints | None) -> Detections:
        """``detections`` of ``frame`` with yaw (as scheduled) and looks added."""
        self.stage_ms["detect"].append(detect_ms)
        t2 = time.perf_counter()
        if self.yaw is not None and len(detections):
            wanted = self.yaw_schedule.choose(frame.t, detections.xyxy, detections.score,
                                              hints)
            yaw = np.full(len(detections), np.nan, np.float32)
            if wanted.any():
                yaw[wanted] = self.yaw.estimate(frame.image, detections.xyxy[wanted])
                self.yaw_schedule.saw(yaw)
            detections = detections.with_yaw(yaw)
            self.stage_ms["yaw"].append((time.perf_counter() - t2) * 1000)
        if self.looks and len(detections):
            from edge.perception.appearance import torso_looks

            t3 = time.perf_counter()
            detections = detections.with_look(torso_looks(frame.image, detections.xyxy))
            self.stage_ms["look"].append((time.perf_counter() - t3) * 1000)
        return detections

    def median_stage_ms(self) -> dict[str, float]:
        """Median ms per stage over the recent frames where it ran (NaN: never ran)."""
        return {s: float(np.median(v)) if v else math.nan for s, v in self.stage_ms.items()}


def load_yaw(cfg: YawConfig, models_dir: Path | None = None, runtime: str = "auto") -> Any:
    """The head-yaw estimator when enabled and available; None leaves yaw NaN. ``runtime``
    ([detector] runtime): auto runs YuNet on onnxruntime when installed (the same faces as
    cv2.FaceDetectorYN, 0.24 vs 0.65 ms per patch here), opencv keeps it on cv2."""
    if not cfg.enabled:
        return None
    try:
        from edge.perception.yaw import YawEstimator
    except ImportError:
        log.warning("head yaw is enabled but edge.perception.yaw is not available; yaw stays null")
        return None
    try:
        from edge.perception.runtimes import available

        if runtime != "opencv":  # auto, onnxruntime, ncnn: YuNet's fastest runtime here
            runtime = "onnxruntime" if "onnxruntime" in available() else "opencv"
        return YawEstimator.from_config(cfg, models_dir, runtime)
    except Exception as exc:  # a missing face model must not stop people detection
        log.warning("head yaw disabled: %s", exc)
        return None
