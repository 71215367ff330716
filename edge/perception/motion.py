"""Motion gate: is anything moving? Decides when the (expensive) person detector runs.

Works on a small grey copy (``motion.width`` px wide, ~160): the frame is shrunk, blurred
against sensor noise and compared with a slowly updated background (running average). A
running average rather than the previous frame catches slow walkers, whose change from one
frame to the next is below the threshold, and costs about the same (~0.2 ms at 160x120).
MOG2 was measured too (bench/perception_motion.py): a few times slower for the same answer on
a fixed shop camera.

The shrink (issue 14; bench/motion_resize.py measures every way in one run):

- a power-of-two multiple of the small size (640x480 -> 160x120): grey first, then halved with
  INTER_LINEAR, which at exactly 2x is the mean of each 2x2 block, so the result is INTER_AREA's
  to within 2 grey levels at a quarter of its cost (0.10 vs 0.41 ms here: OpenCV's INTER_AREA
  has no fast path for colour frames);
- another whole multiple: grey first, then INTER_AREA (a third of the pixels to average);
- anything else: INTER_LINEAR on the colour frame, which cost 0.10 ms where INTER_AREA cost
  1.87 ms on 768x576. The blur that follows removes the aliasing its point sampling adds.
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


SHRINKS = ("halve", "area", "linear", "area-colour")


def shrink_for(frame_size: tuple[int, int], small: tuple[int, int]) -> str:
    """The cheapest shrink that still averages (see the module docstring)."""
    (width, height), (w, h) = frame_size, small
    if width % w or height % h or width // w != height // h:
        return "linear"
    factor = width // w
    return "halve" if factor & (factor - 1) == 0 else "area"


class MotionGate:
    """``changed(image)`` is True when more than ``min_area`` of the picture moved."""

    def __init__(self, cfg: MotionConfig, frame_size: tuple[int, int],
                 shrink: str | None = None) -> None:
        width, height = frame_size
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {frame_size}")
        self.threshold = cfg.threshold
        small_w = min(cfg.width, width)
        self.small = (small_w, max(1, round(height * small_w / width)))
        self.min_pixels = max(1, int(cfg.min_area * self.small[0] * self.small[1]))
        self.shrink = shrink if shrink is not None else shrink_for(frame_size, self.small)
        if self.shrink not in SHRINKS:
            raise ValueError(f"motion shrink {self.shrink!r}: one of {', '.join(SHRINKS)}")
        self._background: npt.NDArray[np.float32] | None = None
        self._grey = np.empty((self.small[1], self.small[0]), np.uint8)
        self._diff = np.empty_like(self._grey)
        self.changed_fraction = 0.0

    def _small_grey(self, image: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        if self.shrink in ("linear", "area-colour"):  # area-colour: the old way, for bench
            how = cv2.INTER_LINEAR if self.shrink == "linear" else cv2.INTER_AREA
            small = cv2.resize(image, self.small, interpolation=how)
            cv2.cvtColor(small, cv2.COLOR_BGR2GRAY, dst=self._grey)
        else:
            grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            if self.shrink == "halve":
                while grey.shape[1] > self.small[0]:
                    grey = cv2.resize(grey, (grey.shape[1] // 2, grey.shape[0] // 2),
                                      interpolation=cv2.INTER_LINEAR)
                self._grey[:] = grey
            else:
                cv2.resize(grey, self.small, dst=self._grey, interpolation=cv2.INTER_AREA)
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
