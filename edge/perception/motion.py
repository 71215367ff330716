"""Motion gate: is anything moving? Decides when the (expensive) person detector runs.

Works on a small grey copy (``motion.width`` px wide, ~160): the frame is shrunk, blurred
against sensor noise and compared with a slowly updated background (running average). A
running average rather than the previous frame catches slow walkers, whose change from one
frame to the next is below the threshold, and costs about the same (~0.2 ms at 160x120).
MOG2 was measured too (bench/perception_motion.py): a few times slower for the same answer on
a fixed shop camera.

The shrink uses INTER_AREA only when the frame is a whole multiple of the small size (OpenCV's
fast integer path); otherwise INTER_LINEAR, which cost 0.10 ms where INTER_AREA cost 1.87 ms on
768x576 (issue 14; bench/motion_resize.py measures both). The blur that follows removes the
aliasing INTER_LINEAR's point sampling would add.
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge.config.sections import MotionConfig

# How fast the background follows the scene. Higher absorbs a parked trolley (or a person
# standing still) sooner; lower keeps a slow walker visible for longer. Standing people are
# handled by the redetect interval, not here.
BACKGROUND_RATE = 0.05


class MotionGate:
    """``changed(image)`` is True when more than ``min_area`` of the picture moved."""

    def __init__(self, cfg: MotionConfig, frame_size: tuple[int, int],
                 interpolation: int | None = None) -> None:
        width, height = frame_size
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {frame_size}")
        self.threshold = cfg.threshold
        small_w = min(cfg.width, width)
        self.small = (small_w, max(1, round(height * small_w / width)))
        self.min_pixels = max(1, int(cfg.min_area * self.small[0] * self.small[1]))
        whole = width % self.small[0] == 0 and height % self.small[1] == 0
        self.interpolation = interpolation if interpolation is not None else (
            cv2.INTER_AREA if whole else cv2.INTER_LINEAR)
        self._background: npt.NDArray[np.float32] | None = None
        self._grey = np.empty((self.small[1], self.small[0]), np.uint8)
        self._diff = np.empty_like(self._grey)
        self.changed_fraction = 0.0

    def _small_grey(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        small = cv2.resize(image, self.small, interpolation=self.interpolation)
        cv2.cvtColor(small, cv2.COLOR_BGR2GRAY, dst=self._grey)
        cv2.GaussianBlur(self._grey, (5, 5), 0, dst=self._grey)
        return self._grey

    def changed(self, image: npt.NDArray[np.uint8]) -> bool:
        grey = self._small_grey(image)
        if self._background is None:
            self._background = grey.astype(np.float32)
            self.changed_fraction = 1.0
            return True  # nothing to compare with yet: look once
        cv2.absdiff(grey, cv2.convertScaleAbs(self._background), dst=self._diff)
        moving = int(np.count_nonzero(self._diff > self.threshold))
        cv2.accumulateWeighted(grey, self._background, BACKGROUND_RATE)
        self.changed_fraction = moving / self._diff.size
        return moving >= self.min_pixels
