"""The appearance cue: a coarse colour histogram of each person's torso, in memory only.

Boxes alone cannot tell a hidden person from a companion walking in step behind them who
emerges on their path (TUD-Campus, gt persons 5 and 8), nor two people after a crossing. The
cue tells clothes apart roughly: the torso region (the middle 40 % of the box's width, 20-45 %
of its height: below the head, above the hands) in HSV, each pixel counted in one of
``LOOK_BINS`` bins: 8 hues x 2 saturations for coloured pixels (saturation >= 30), 4
brightness levels for grey, white and black ones. The 20 shares are stored as square roots,
so that 1 - the dot product of two looks is the squared Hellinger distance (one matrix
product for all pairs, in edge/behaviour). Measured on the TUD clips' ground truth: the same
person's looks (halves of their clear views) differ by at most 0.31, persons 5 and 8 of
TUD-Campus by 0.55, other people mostly by more than 0.34.

Only clear views count: a torso region that overlaps another detected person's box may show
that person, and gets no look (NaN row); nor does a box cut by the picture's edge or one too
narrow for a whole person (a partial box: its middle is not their torso). The cue is
20 numbers of a few hundred pixels' colours: it cannot be turned back into a picture, says
nothing about a face, and two people in similar clothes have the same look. It is computed
here, carried on ``Detections`` in memory, kept by the tracker and the visit layer only while
that person is followed or remembered, and never written to a trace, an event, MQTT or the
disk (docs/privacy-notice.md).
"""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from edge.vocabulary.types import FloatArray

_HUES, _SATS, _GREYS = 8, 2, 4
LOOK_BINS = _GREYS + _HUES * _SATS
_MIN_SAT = 30  # below: grey (the hue of a white or black pixel is noise)
# The torso region, as fractions of the box (x0, x1, y0, y1).
_X0, _X1, _Y0, _Y1 = 0.3, 0.7, 0.2, 0.45
_MIN_PIXELS = 48  # sampled pixels: a torso smaller than this (someone far off) tells nothing
# A box narrower than this many heights is part of a person (cut by a post, a shelf, someone
# in front): whole people are 0.3-0.5 heights wide.
_LEAST_WIDTH = 0.25
_STEP = 2  # every second pixel each way: a quarter of the work, the same shares within ~0.02


def _bin_parts() -> npt.NDArray[np.uint8]:
    """(256, 1, 3) lookup table of the bin parts of an HSV pixel (see ``torso_looks``)."""
    v = np.arange(256)
    table = np.empty((256, 1, 3), np.uint8)
    table[:, 0, 0] = _GREYS + (np.minimum(v, 179) * _HUES // 180) * _SATS
    table[:, 0, 1] = np.where(v >= _MIN_SAT, np.minimum(
        (v - _MIN_SAT) * _SATS // (256 - _MIN_SAT), _SATS - 1), _GREY)
    table[:, 0, 2] = v * _GREYS // 256
    return table


_GREY = 255
_BIN_PARTS = _bin_parts()


def torso_regions(xyxy: FloatArray) -> FloatArray:
    """The torso region (xyxy) of each box."""
    w, h = xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]
    return np.stack([xyxy[:, 0] + _X0 * w, xyxy[:, 1] + _Y0 * h,
                     xyxy[:, 0] + _X1 * w, xyxy[:, 1] + _Y1 * h], axis=1).astype(np.float32)


def clear_views(xyxy: FloatArray, size: tuple[int, int],
                region: FloatArray | None = None) -> npt.NDArray[np.bool_]:
    """Which boxes are whole people inside the picture whose torso region (``region``:
    ``torso_regions(xyxy)`` when not given) overlaps no other box."""
    if region is None:
        region = torso_regions(xyxy)
    w, h = size
    clear = ((xyxy[:, 0] >= 1) & (xyxy[:, 1] >= 1) & (xyxy[:, 2] <= w - 1)
             & (xyxy[:, 3] <= h - 1)
             & (xyxy[:, 2] - xyxy[:, 0] >= _LEAST_WIDTH * (xyxy[:, 3] - xyxy[:, 1])))
    n = len(xyxy)
    if n > 1:
        hit = ((np.minimum(region[:, None, 2], xyxy[None, :, 2])
                > np.maximum(region[:, None, 0], xyxy[None, :, 0]))
               & (np.minimum(region[:, None, 3], xyxy[None, :, 3])
                  > np.maximum(region[:, None, 1], xyxy[None, :, 1])))
        hit[np.arange(n), np.arange(n)] = False
        clear &= ~hit.any(axis=1)
    return clear


def torso_looks(image: npt.NDArray[np.uint8], xyxy: FloatArray) -> FloatArray:
    """The look (LOOK_BINS square-rooted shares) of each person in ``image`` (BGR); NaN rows
    for people whose torso is not clearly in view (see ``clear_views``). All torsos' pixels
    go through one colour conversion and one count."""
    out = np.full((len(xyxy), LOOK_BINS), np.nan, np.float32)
    if not len(xyxy):
        return out
    region = torso_regions(xyxy)
    clear = clear_views(xyxy, (image.shape[1], image.shape[0]), region)
    corners = region.astype(np.int32).tolist()  # int() of each: truncation, as before
    rows, patches = [], []
    for i in clear.nonzero()[0].tolist():
        x0, y0, x1, y1 = corners[i]
        patch = image[y0:y1:_STEP, x0:x1:_STEP].reshape(-1, 3)
        if len(patch) >= _MIN_PIXELS:
            rows.append(i)
            patches.append(patch)
    if not rows:
        return out
    pixels = np.concatenate(patches)[:, None, :]
    # one table lookup per channel: hue -> its colour bin, saturation -> its level (255:
    # grey), value -> its grey bin
    parts = cv2.LUT(cv2.cvtColor(pixels, cv2.COLOR_BGR2HSV), _BIN_PARTS).reshape(-1, 3)
    hue, sat, val = parts[:, 0], parts[:, 1], parts[:, 2]
    bins = np.where(sat == _GREY, val, hue + sat)
    owner = np.repeat(np.arange(len(rows)), [len(p) for p in patches])
    counts = np.bincount(owner * LOOK_BINS + bins, minlength=len(rows) * LOOK_BINS)
    counts = counts.reshape(len(rows), LOOK_BINS).astype(np.float32)
    out[rows] = np.sqrt(counts / counts.sum(axis=1, keepdims=True))
    return out
