"""Tracker: turns per-frame detections into people with a stable anonymous id per visit.

Every person is a box (centre x, centre y, width, height) with a velocity of its centre in
pixels per second. Between sightings the box moves with that velocity, which fades with the
time constant ``velocity_damping_s`` (so a person lost behind a pillar is predicted a bounded
distance on, not across the shop). Each frame is matched in two stages, all on arrays:

1. detections against every predicted box by IoU (one numpy call for all pairs), best pairs
   first. Doubtful detections (score below ``new_track_score``, ByteTrack's idea) only take
   part for people seen within the last 0.5 s and at IoU >= 0.4: they keep someone alive
   through a weak frame but never start a person. A box more than 1.4x taller or shorter
   than the person's is never theirs (in a crowd the detector merges two people into one);
2. confident detections left over against people still unmatched, by centre distance in box
   heights to the stretch between where the person was last seen and where their last
   velocity would have taken them (re-acquires someone who stopped, or walked on, while
   hidden), up to ``reacquire_distance``.

When the frame size is known, a person who walks out of the picture ends at once, so the next
one entering at that edge does not inherit their visit.

When the detections carry the appearance cue (``Detections.look``: live, from pixels; never
in a trace), each person keeps the mean look of their clear views, and a person unseen for
``LOOK_GAP_S`` or more is not continued by a detection whose look is clearly different
(edge/behaviour/looks.py): a companion emerging from behind someone hidden, on their path, is
someone new. People seen until now are matched by boxes alone (their look may change as they
turn). Without looks every decision is the boxes' alone, as in a replayed trace.

Matching is greedy on the best pairs (mutual-best rounds, equal to sorting all pairs): on the
TUD clips the Hungarian method gave the same tracks, and greedy needs no scipy. A new person
is confirmed (gets an id) on the second sighting; an id stays in the output, predicted
(``matched=False``), until the person has been unseen by the detector for longer than
``occlusion_grace_s``. Frames the detector did not look at (``None``) move the predictions
but never count as a miss. Ids come from this tracker's own counter, start at 1 and are never
reused.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from edge.behaviour.looks import TrackLooks
from edge.config.sections import TrackerConfig
from edge.vocabulary.boxes import iou_matrix
from edge.vocabulary.types import Detections, Tracks

F64 = npt.NDArray[np.float64]

# A doubtful detection must overlap at least this much to continue someone (ByteTrack uses 0.5).
_LOW_SCORE_MIN_IOU = 0.4
# ... and only someone seen this recently (a detector miss, not an occlusion).
_LOW_SCORE_GAP_S = 0.5
# Fastest believable walking speed, in box heights per second (1.4 m/s is ~0.8).
_MAX_SPEED = 2.0
# Height ratio beyond which a box is a different person (or two merged), not the same one
# seen nearer or further away, or with their legs hidden.
_MAX_HEIGHT_RATIO = 1.4
# Time constant with which the velocity follows new sightings: at 25 fps each sighting moves it
# ~1/8 of the way (box jitter stays out of it), after a 1 s gap almost all the way.
_VELOCITY_SMOOTHING_S = 0.3
# Least weight of a detection against the prediction for the box the motion model keeps (at
# high frame rates; after a gap the detection counts fully).
_POSITION_GAIN = 0.7
# A box this close to the picture's edge (fraction of its size) is cut off by it.
_EDGE_MARGIN = 0.01
# Speed towards an edge, in box heights per second, that counts as walking out (a slow walk is
# ~0.5); below it the person is standing there, swaying, and a miss is just a miss.
_EXIT_SPEED = 0.25
def greedy_match(score: F64, floor: float) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Pairs (rows, cols) of a one-to-one matching taking the best-scoring pairs first.

    Each round accepts every pair that is the best of both its row and its column (the
    global best always is one), so the result equals greedy-by-sorted-score in a few array
    rounds instead of a Python loop over all pairs. Pairs scoring below ``floor`` never match.
    """
    rows_out: list[npt.NDArray[np.intp]] = []
    cols_out: list[npt.NDArray[np.intp]] = []
    s = np.where(score >= floor, score, -np.inf)
    while s.size:
        best_col = s.argmax(axis=1)
        best_row = s.argmax(axis=0)
        rows = ((best_row[best_col] == np.arange(len(s)))
                & np.isfinite(s[np.arange(len(s)), best_col])).nonzero()[0]
        if not len(rows):
            break
        cols = best_col[rows]
        rows_out.append(rows)
        cols_out.append(cols)
        if len(rows) == min(s.shape):
            break
        s[rows, :] = -np.inf
        s[:, cols] = -np.inf
    if not rows_out:
        empty = np.zeros(0, np.intp)
        return empty, empty
    return np.concatenate(rows_out), np.concatenate(cols_out)


# Box conversions as one matrix product each (one numpy call instead of six).
_TO_CXCYWH = np.array([[0.5, 0, -1, 0], [0, 0.5, 0, -1], [0.5, 0, 1, 0], [0, 0.5, 0, 1]])
_TO_XYXY = np.array([[1, 0, 1, 0], [0, 1, 0, 1], [-0.5, 0, 0.5, 0], [0, -0.5, 0, 0.5]])


def _cxcywh(xyxy: F64) -> F64:
    out: F64 = xyxy @ _TO_CXCYWH
    return out


def _xyxy(box: F64) -> F64:
    out: F64 = box @ _TO_XYXY
    return out


# Columns of the state matrix: one row per person followed, so that dropping or adding people
# is one array operation instead of one per field.
_BOX, _VEL, _SEEN_XYXY = slice(0, 4), slice(4, 8), slice(8, 12)  # cx,cy,w,h; px/s; detection
_CENTRE_VEL = slice(4, 6)  # the size velocity (6:8) stays 0
_T_SEEN, _HITS, _ID, _SCORE = 12, 13, 14, 15  # last matched time, sightings, id (0 = unconfirmed)
_COLS = 16


class IouTracker:
    """Anonymous people across frames; see the module docstring for how.

    ``frame_size`` (W, H), when known, lets a person who walks out of the picture end their
    visit as soon as their predicted box is mostly outside it, instead of coasting for the
    whole grace and being handed to the next person who enters at the same edge.
    """

    def __init__(self, cfg: TrackerConfig, frame_size: tuple[int, int] | None = None) -> None:
        self.cfg = cfg
        self.frame_size = frame_size
        self._size = None if frame_size is None else np.asarray(frame_size, np.float64)
        self._next_id = 1
        self._s = np.zeros((0, _COLS))
        # each person's mean look and its view count (rows as _s), once any detection had one
        self._looks: TrackLooks | None = None  # once any detection had a look

    def __len__(self) -> int:
        """People followed now, confirmed or not."""
        return len(self._s)

    @property
    def ids_issued(self) -> int:
        return self._next_id - 1

    def _predict(self, unseen: F64) -> F64:
        """Boxes (cx, cy, w, h) after ``unseen`` seconds, velocity fading meanwhile."""
        s = self._s
        damp = self.cfg.velocity_damping_s
        # integral of exp(-s/damp) ds over [0, unseen]
        travel = np.expm1(np.maximum(unseen, 0.0) * (-1.0 / damp)) * -damp
        return s[:, _BOX] + s[:, _VEL] * travel[:, None]

    def update(self, detections: Detections | None, t: float) -> Tracks:
        """Advance to time ``t``; ``None`` means the detector did not look (not: nobody)."""
        n_trk = len(self._s)
        if not n_trk and (detections is None or not len(detections)):
            return Tracks.empty()
        unseen = t - self._s[:, _T_SEEN]
        pred = self._predict(unseen)
        pred_xyxy = _xyxy(pred)
        if detections is None:
            return self._output(pred_xyxy, np.zeros(n_trk, bool), None, None, None)
        det_box = detections.xyxy.astype(np.float64)
        det_look = None if detections.look is None else detections.look.astype(np.float64)
        if det_look is not None and self._looks is None:
            self._looks = TrackLooks(n_trk, det_look.shape[1])
        det_of_trk = np.full(n_trk, -1, np.intp)
        if n_trk and len(det_box):
            det_of_trk = self._associate(pred, pred_xyxy, det_box, detections.score, unseen,
                                         det_look)
        matched = det_of_trk >= 0
        n_matched = np.count_nonzero(matched)  # (count_nonzero: 8x faster than .any())
        everyone = n_matched == n_trk
        if n_matched:
            self._correct(det_box, det_of_trk, matched, everyone, detections.score, unseen, t)
            if det_look is not None and self._looks is not None:
                self._looks.see(det_look, det_of_trk, matched)
        gone = None if everyone else self._gone(pred_xyxy, matched, unseen)
        out = self._output(pred_xyxy, matched, det_of_trk, detections, gone)
        if gone is not None:
            self._keep(~gone)
        if len(det_box) > n_trk or not everyone:  # someone may be new
            free = np.ones(len(det_box), bool)
            free[det_of_trk[matched]] = False
            self._start(det_box, detections.score, free, t, det_look)
        return out

    def _keep(self, rows: npt.NDArray[np.bool_]) -> None:
        self._s = self._s[rows]
        if self._looks is not None:
            self._looks.keep(rows)

    def _associate(self, pred: F64, pred_xyxy: F64, det_box: F64,
                   score: npt.NDArray[np.float32], unseen: F64,
                   det_look: F64 | None = None) -> npt.NDArray[np.intp]:
        """For each tracked person, the index of their detection, or -1 (pairs that the
        appearance cue refuses never match, see ``TrackLooks.veto``)."""
        cfg = self.cfg
        det_of_trk = np.full(len(pred), -1, np.intp)
        strong = score >= cfg.new_track_score
        iou = iou_matrix(pred_xyxy, det_box)
        veto = (None if det_look is None or self._looks is None
                else self._looks.veto(det_look, unseen, iou))

        # 1. overlap with where each person is predicted to be, best pairs first. Doubtful
        # detections take part only for people seen until just now and only when they
        # overlap well (ByteTrack's second stage, folded in: a separate later stage let a
        # confident box of a passer-by beat a doubtful but well-overlapping box of the person)
        usable = strong | ((iou >= _LOW_SCORE_MIN_IOU)
                           & (unseen <= _LOW_SCORE_GAP_S)[:, None])
        # a box much taller or shorter than the person's is someone else, or two people
        ratio = pred[:, 3:4] / np.maximum(det_box[:, 3] - det_box[:, 1], 1.0)
        usable &= (ratio < _MAX_HEIGHT_RATIO) & (ratio > 1 / _MAX_HEIGHT_RATIO)
        if veto is not None:
            usable &= ~veto
        r, c = greedy_match(np.where(usable, iou, -1.0), max(cfg.min_iou, 1e-6))
        det_of_trk[r] = c
        if len(r) == len(pred):
            return det_of_trk
        det_free = np.ones(len(det_box), bool)
        det_free[c] = False

        # 2. confident leftovers by centre distance in box heights (drifted predictions)
        free_t = ((det_of_trk < 0) & (self._s[:, _ID] > 0)).nonzero()[0]
        free_d = (strong & det_free).nonzero()[0]
        if len(free_t) and len(free_d) and cfg.reacquire_distance > 0:
            dist = self._reacquire_distance(free_t, pred[free_t], _cxcywh(det_box[free_d]),
                                            unseen[free_t])
            if veto is not None:
                dist = np.where(veto[np.ix_(free_t, free_d)], np.inf, dist)
            r, c = greedy_match(-dist, -cfg.reacquire_distance)
            det_of_trk[free_t[r]] = free_d[c]
        return det_of_trk

    def _reacquire_distance(self, free_t: npt.NDArray[np.intp], pred: F64, det: F64,
                            unseen: F64) -> F64:
        """How far (in box heights) each detection is from where each unseen person may be.

        Someone hidden may have stopped (at their last box) or walked on at their last
        velocity; anywhere on that segment is as likely, so the distance is to the segment.
        Infinite when the box heights differ too much to be the same person.
        """
        s = self._s[free_t]
        start = s[:, None, 0:2]
        step = (s[:, 4:6] * np.maximum(unseen, 0.0)[:, None])[:, None, :]
        rel = det[None, :, 0:2] - start
        along = (rel * step).sum(axis=2) / np.maximum((step * step).sum(axis=2), 1e-9)
        along = np.minimum(np.maximum(along, 0.0), 1.0)
        off = rel - along[:, :, None] * step
        height = np.sqrt(pred[:, None, 3] * det[None, :, 3])
        dist = np.hypot(off[..., 0], off[..., 1]) / np.maximum(height, 1.0)
        ratio = pred[:, None, 3] / np.maximum(det[None, :, 3], 1.0)
        bad = (ratio > _MAX_HEIGHT_RATIO) | (ratio < 1 / _MAX_HEIGHT_RATIO)
        return np.where(bad, np.inf, dist)

    def _correct(self, det_box: F64, det_of_trk: npt.NDArray[np.intp],
                 matched: npt.NDArray[np.bool_], everyone: bool,
                 score: npt.NDArray[np.float32], unseen: F64, t: float) -> None:
        """Alpha-beta update of the matched people's box and velocity from their detection.

        The innovation is measured against the undamped extrapolation: the damping only
        hedges the prediction while someone is unseen, it is no evidence that they slowed.
        Both gains grow with the time since the last sighting, so box jitter at high frame
        rates stays out of the velocity, and after a long gap the new sighting counts fully.
        """
        # the usual case, everyone seen: work on the state in place
        idx = slice(None) if everyone else matched.nonzero()[0]
        rows = self._s if everyone else self._s[idx]
        d = det_of_trk[idx]
        z_xyxy = det_box[d]
        dt = np.maximum(unseen[idx], 1e-3)
        extrapolated = rows[:, _BOX] + rows[:, _VEL] * dt[:, None]
        residual = _cxcywh(z_xyxy) - extrapolated
        fading = np.exp(dt * (-1.0 / _VELOCITY_SMOOTHING_S))
        # on the second sighting the velocity is just the displacement
        beta = np.where(rows[:, _HITS] == 1, 1.0, 1.0 - fading)
        alpha = 1.0 - (1.0 - _POSITION_GAIN) * fading
        # only the centre moves: box sizes from a detector jitter far more than people grow or
        # shrink, and an extrapolated size blew unseen boxes up (or down) to nonsense
        rows[:, _CENTRE_VEL] += residual[:, :2] * (beta / dt)[:, None]
        # nobody walks faster than ~2 body heights a second: a faster estimate comes from a
        # wrong or jittery box, and would fling the prediction away while they are unseen
        limit = rows[:, 3:4] * _MAX_SPEED
        np.minimum(np.maximum(rows[:, _CENTRE_VEL], -limit), limit, out=rows[:, _CENTRE_VEL])
        rows[:, _BOX] = extrapolated + residual * alpha[:, None]
        rows[:, _SEEN_XYXY] = z_xyxy
        rows[:, _SCORE] = score[d]
        rows[:, _T_SEEN] = t
        rows[:, _HITS] += 1
        unconfirmed = rows[:, _ID] == 0  # every track is confirmed on its second sighting
        n = int(np.count_nonzero(unconfirmed))
        if n:
            rows[unconfirmed, _ID] = np.arange(self._next_id, self._next_id + n)
            self._next_id += n
        if not everyone:
            self._s[idx] = rows

    def _output(self, pred_xyxy: F64, matched: npt.NDArray[np.bool_],
                det_of_trk: npt.NDArray[np.intp] | None, detections: Detections | None,
                gone: npt.NDArray[np.bool_] | None) -> Tracks:
        """Confirmed people still within their grace: the detection box when seen now, else
        the prediction."""
        s = self._s
        show = s[:, _ID] > 0
        if gone is not None:
            show &= ~gone
        xyxy = np.where(matched[:, None], s[:, _SEEN_XYXY], pred_xyxy).astype(np.float32)
        yaw = np.full(len(s), np.nan, np.float32)
        if detections is not None and det_of_trk is not None and np.count_nonzero(matched):
            yaw[matched] = detections.yaw[det_of_trk[matched]]
        ids, score = s[:, _ID].astype(np.int64), s[:, _SCORE].astype(np.float32)
        look = None
        if detections is not None and detections.look is not None and det_of_trk is not None:
            look = np.full((len(s), detections.look.shape[1]), np.nan, np.float32)
            look[matched] = detections.look[det_of_trk[matched]]
        if np.count_nonzero(show) == len(show):
            return Tracks(ids, xyxy, score, yaw, matched, look)
        return Tracks(ids[show], xyxy[show], score[show], yaw[show], matched[show],
                      None if look is None else look[show])

    def _gone(self, pred_xyxy: F64, matched: npt.NDArray[np.bool_],
              unseen: F64) -> npt.NDArray[np.bool_]:
        """People unseen past the grace or gone out of the picture, and unconfirmed ones
        missed once (most of those are one-frame false detections): their visit is over."""
        gone = np.zeros(len(matched), bool)
        missed = (~matched).nonzero()[0]
        if len(missed):
            s = self._s[missed]
            ended = (unseen[missed] > self.cfg.occlusion_grace_s) | (s[:, _ID] == 0)
            if self._size is not None:
                ended |= self._left_picture(pred_xyxy[missed], s)
            gone[missed] = ended
        return gone

    def _left_picture(self, pred_xyxy: F64, s: F64) -> npt.NDArray[np.bool_]:
        """People walking out of the picture: their predicted box is mostly outside, or their
        last box touched an edge (so it was cut off there) while they walked towards it."""
        assert self._size is not None
        inside = np.minimum(pred_xyxy[:, 2:], self._size) - np.maximum(pred_xyxy[:, :2], 0.0)
        np.maximum(inside, 0.0, out=inside)
        side = pred_xyxy[:, 2:] - pred_xyxy[:, :2]
        outside = inside[:, 0] * inside[:, 1] < 0.5 * side[:, 0] * side[:, 1]
        margin = _EDGE_MARGIN * self._size
        walking = _EXIT_SPEED * s[:, 3:4]
        vel = s[:, 4:6]
        towards_edge = (((s[:, 8:10] <= margin) & (vel < -walking))
                        | ((s[:, 10:12] >= self._size - margin) & (vel > walking)))
        left: npt.NDArray[np.bool_] = outside | towards_edge[:, 0] | towards_edge[:, 1]
        return left

    def _start(self, det_box: F64, score: npt.NDArray[np.float32],
               free: npt.NDArray[np.bool_], t: float, det_look: F64 | None = None) -> None:
        """Unmatched confident detections become new (unconfirmed) people."""
        new = free & (score >= self.cfg.new_track_score)
        n = np.count_nonzero(new)
        if not n:
            return
        if self._looks is not None:
            self._looks.add(None if det_look is None else det_look[new], int(n))
        rows = np.zeros((n, _COLS))
        rows[:, _BOX] = _cxcywh(det_box[new])
        rows[:, _SEEN_XYXY] = det_box[new]
        rows[:, _T_SEEN] = t
        rows[:, _HITS] = 1
        rows[:, _SCORE] = score[new]
        self._s = np.concatenate([self._s, rows])
