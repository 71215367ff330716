"""Whose head to read on this frame: yaw only where a reading can count.

The face detector is the dearest stage after the person detector, and most of its readings
cannot change a decision:

- sweeps made while walking never count as looking around, and staff are never pinged about
  (docs/behaviour.md): their heads are not read at all;
- a look around is several sweeps of ``look_around_min_deg`` over seconds, each read as the
  median of three readings, so a visitor's head read every ``yaw.interval_s`` (0.2 s: five
  times a second) shows the same people looking around as one read on every frame at 25 fps,
  at most about one sweep later (bench/yaw_cadence.py replays traces both ways and counts
  the decisions that differ: docs/behaviour.md);
- a head that showed no trusted face when last read (turned away, too small, blurred) most
  likely shows none a moment later, and a reading without a face counts for nothing: it is
  read again after ``FACELESS_FACTOR`` intervals, and each further reading without a face
  doubles that wait, up to ``FACELESS_MAX_FACTOR`` intervals (0.8 s at 0.2 s). Someone who
  keeps their back to the camera costs a face search a little more than once a second
  instead of five times; someone turning to the camera is seen at most 0.6 s later than
  with a read every interval, before a sweep of theirs can count (it needs three readings
  with a face, and a sweep takes seconds). On TUD-Stadtmitte 140 of 194 face searches found
  no face.

Who is who comes from the pipeline's last step (``HeadHints``: visitor ids and boxes): a
detection overlapping a hinted box by IoU >= ``MATCH_IOU`` is that visitor (at 25 fps a
walker moves a few percent of their box between frames). A detection that matches nobody is
read when it is confident enough to start a track (a newcomer), not otherwise. Nothing here is
kept beyond the visitor ids currently hinted.
"""

from __future__ import annotations

import math

import numpy as np

from edge.vocabulary.boxes import iou_matrix
from edge.vocabulary.types import BoolArray, FloatArray, HeadHints

MATCH_IOU = 0.5
FACELESS_FACTOR = 2.0
FACELESS_MAX_FACTOR = 4.0
_SLACK_S = 1e-6  # frame times are sums of 1/fps: 0.2 s later must count as 0.2 s


class YawSchedule:
    """Chooses, per frame, the detections whose head yaw is read; counts what it skipped."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._last_read: dict[int, float] = {}  # visitor id -> when their head was last read
        # visitors whose last reading found no trusted face -> their wait, in intervals
        self._faceless: dict[int, float] = {}
        self._asked: list[tuple[int, int]] = []  # (detection, visitor) read in this frame
        self.read = 0
        self.skipped_cannot_count = 0  # walking or staff
        self.skipped_not_due = 0  # read less than interval_s ago
        self.skipped_weak = 0  # nobody's, and too weak to start a track

    def choose(self, t: float, xyxy: FloatArray, score: FloatArray,
               hints: HeadHints | None) -> BoolArray:
        """Which of this frame's detections (``xyxy``, ``score``) to read at time ``t``."""
        wanted = np.ones(len(xyxy), bool)
        self._asked = []
        if hints is not None and len(xyxy):
            matched = np.zeros(len(xyxy), bool)
            if len(hints):
                iou = iou_matrix(xyxy, hints.xyxy)
                best = iou.argmax(axis=1)
                matched = iou[np.arange(len(xyxy)), best] >= MATCH_IOU
                for i in np.flatnonzero(matched).tolist():
                    k = int(best[i])
                    visitor = int(hints.ids[k])
                    wanted[i] = self._due(t, visitor, bool(hints.can_count[k]))
                    if wanted[i]:
                        self._asked.append((i, visitor))
                self._forget_all_but(hints)
            weak = ~matched & (score < hints.new_track_score)
            self.skipped_weak += int(weak.sum())
            wanted &= ~weak
        self.read += int(wanted.sum())
        return wanted

    def _due(self, t: float, visitor: int, can_count: bool) -> bool:
        if not can_count:
            self.skipped_cannot_count += 1
            return False
        wait = self.interval_s * self._faceless.get(visitor, 1.0)
        if t - self._last_read.get(visitor, -math.inf) < wait - _SLACK_S:
            self.skipped_not_due += 1
            return False
        self._last_read[visitor] = t
        return True

    def saw(self, yaw: FloatArray) -> None:
        """This frame's yaw per detection (NaN: no trusted face) after ``choose``."""
        for i, visitor in self._asked:
            if yaw[i] == yaw[i]:
                self._faceless.pop(visitor, None)
            else:
                before = self._faceless.get(visitor)
                self._faceless[visitor] = (FACELESS_FACTOR if before is None
                                           else min(2 * before, FACELESS_MAX_FACTOR))

    def _forget_all_but(self, hints: HeadHints) -> None:
        if len(self._last_read) > 2 * len(hints) + 8:  # now and then, not every frame
            keep = set(hints.ids.tolist())
            self._last_read = {v: t for v, t in self._last_read.items() if v in keep}
            self._faceless = {v: f for v, f in self._faceless.items() if v in keep}
