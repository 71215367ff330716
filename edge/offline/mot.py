"""MOT Challenge text files: detections to replay, ground truth to measure against.

One box a line: ``frame,id,x,y,w,h,score,...`` with 1-based frames and pixel boxes (x, y top
left). det.txt files put the detector's confidence in the score column and -1 as id; gt.txt
files keep the person's id there and, in MOT16 and later (9 columns), a 0/1 "consider" flag
in the score column followed by the class (1 = pedestrian) and the visibility. MOT15 gt files
(like TUD's) have 10 columns: the score column is 1 and world coordinates follow.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from edge.vocabulary.errors import InputError
from edge.vocabulary.types import Detections, FloatArray, IntArray

_PEDESTRIAN = 1


def _read_rows(path: str | Path) -> np.ndarray:
    """All rows as float64 (N, 7..10); the first 7 columns are frame,id,x,y,w,h,score."""
    rows: list[list[float]] = []
    width = 0
    try:
        lines = Path(path).read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read MOT file: {exc}", path) from None
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.replace(" ", "").split(",") if "," in text else text.split()
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"not a number in {text!r}", path, number) from None
        if len(values) < 6:
            raise InputError(f"needs at least frame,id,x,y,w,h, got {len(values)} fields",
                             path, number)
        if not all(np.isfinite(values[:7])):
            raise InputError(f"non-finite value in {text!r}", path, number)
        frame, w, h = values[0], values[4], values[5]
        if frame < 1 or frame != int(frame):
            raise InputError(f"frame must be a whole number >= 1, got {parts[0]}", path, number)
        if w <= 0 or h <= 0:
            raise InputError(f"box width and height must be positive, got {w} x {h}",
                             path, number)
        if len(values) < 7:
            values.append(1.0)  # no score column: a box as sure as ground truth
        width = max(width, len(values))
        rows.append(values[:10])
    if not rows:
        return np.zeros((0, 7))
    out = np.full((len(rows), min(width, 10)), np.nan)
    for i, values in enumerate(rows):
        out[i, : len(values)] = values
    return out


def read_mot_detections(path: str | Path, fps: float) -> Iterator[tuple[float, Detections]]:
    """Every frame from 1 to the last one in the file as (t, detections); t = (frame-1)/fps.

    Frames without a line yield empty Detections (the detector looked and saw nobody). The id
    column is ignored. The whole file is validated before the first frame is yielded, so a
    malformed line raises :class:`InputError` (with file and line) before anything happens.
    """
    if not fps > 0:
        raise InputError(f"fps must be positive, got {fps}", path)
    rows = _read_rows(path)
    if not len(rows):
        return
    frames = rows[:, 0].astype(np.int64)
    order = np.argsort(frames, kind="stable")
    rows, frames = rows[order], frames[order]
    # where each frame's rows start and end in the sorted array
    last = int(frames[-1])
    starts = np.searchsorted(frames, np.arange(1, last + 2))
    for frame in range(1, last + 1):
        a, b = starts[frame - 1], starts[frame]
        t = (frame - 1) / fps
        if a == b:
            yield t, Detections.empty()
        else:
            block = rows[a:b]
            yield t, Detections.from_xywh(block[:, 2:6], block[:, 6])


def read_mot_ground_truth(path: str | Path) -> dict[int, tuple[IntArray, FloatArray]]:
    """Ground truth as {frame: (ids, xyxy)}; frames without people are absent.

    In MOT16+ files (9 columns) rows flagged "not considered" or of a class other than
    pedestrian are dropped, as the MOT benchmark does.
    """
    rows = _read_rows(path)
    if rows.shape[1] == 9:
        rows = rows[(rows[:, 6] != 0) & (rows[:, 7] == _PEDESTRIAN)]
    out: dict[int, tuple[IntArray, FloatArray]] = {}
    frames = rows[:, 0].astype(np.int64)
    for frame in np.unique(frames):
        block = rows[frames == frame]
        out[int(frame)] = (block[:, 1].astype(np.int64),
                           Detections.from_xywh(block[:, 2:6], block[:, 6]).xyxy)
    return out
