"""Box geometry shared by every stage: overlap of all pairs, and where a person stands.

Boxes are ``xyxy`` (x1, y1, x2, y2) pixels, one row per box.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]


def iou_matrix(a: npt.ArrayLike, b: npt.ArrayLike) -> F64:
    """IoU of every box in ``a`` (N,4 xyxy) with every box in ``b`` (M,4), as (N,M)."""
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    wh = np.minimum(a[:, None, 2:], b[:, 2:]) - np.maximum(a[:, None, :2], b[:, :2])
    np.maximum(wh, 0.0, out=wh)
    inter = wh[..., 0] * wh[..., 1]
    side_a, side_b = a[:, 2:] - a[:, :2], b[:, 2:] - b[:, :2]
    union = (side_a[:, 0] * side_a[:, 1])[:, None] + side_b[:, 0] * side_b[:, 1] - inter
    return np.asarray(inter / np.maximum(union, 1e-9))


def feet_of(xyxy: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Bottom centre of each box: where a person stands (zones are tested there)."""
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, xyxy[:, 3]], axis=1)
