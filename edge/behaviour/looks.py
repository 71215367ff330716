"""The appearance cue as the tracker and the visit layer use it: a veto, never a reason.

A look (edge/perception/appearance.py) is a coarse colour histogram of a person's torso,
stored as square roots of its shares, so that the Hellinger distance of two looks is
sqrt(1 - their dot product): 0 for the same colours, 1 for colours that share nothing. Each
person keeps the mean of their clear views (``Look``) while they are followed or remembered;
a continuation (a re-acquired track, a joined visit) is refused only when both sides have a
look (a person's from ``LEAST_VIEWS`` views or more) and they differ by more than
``LOOK_VETO``. When either has none (a replayed trace,
ground truth, a person never seen clear) nothing is decided differently from boxes alone.

``LOOK_VETO`` trades: lower refuses more wrong continuations (a companion in different
clothes taking over a hidden person's path) but splits more visits of one person whose look
changed (turning round with a bag, walking from shade into sun). Measured on the TUD clips'
ground truth: one person's looks differ by up to 0.31 (0.5 for single views), TUD-Campus's
persons 5 and 8 by 0.55; a view that is not clear of others is never used.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

LOOK_VETO = 0.45
# A look from fewer clear views than this vetoes nothing (one odd view: an arm swung across,
# a bag turned round). A newcomer's single view may veto a person's look of this many views.
LEAST_VIEWS = 3
# The mean follows at most this many views: slow light changes along the way are followed.
_VIEWS = 20

F64 = npt.NDArray[np.float64]


def distances(a: F64, b: F64) -> F64:
    """Hellinger distances of every look of ``a`` (n, K) to every look of ``b`` (m, K);
    NaN where either is unknown (NaN row)."""
    dot = a @ b.T
    out: F64 = np.sqrt(np.maximum(1.0 - dot, 0.0))
    return out


def unlike(a: F64, b: F64) -> npt.NDArray[np.bool_]:
    """Pairs whose looks are both known and too different to be one person."""
    with np.errstate(invalid="ignore"):
        veto: npt.NDArray[np.bool_] = distances(a, b) > LOOK_VETO
    return veto


def blend(mean: F64, views: F64, new: F64) -> None:
    """Fold this frame's looks ``new`` (n, K; NaN rows: none) into ``mean`` and its view
    counts ``views`` (both n rows, in place): a running mean of the shares."""
    known = ~np.isnan(new[:, 0])
    if not known.any():
        return
    idx = known.nonzero()[0]
    n = np.minimum(views[idx] + 1.0, _VIEWS)
    old = mean[idx]
    fresh = np.isnan(old[:, 0])
    shares = np.where(fresh[:, None], 0.0, old * old)
    w = np.where(fresh, 1.0, 1.0 / n)[:, None]
    mean[idx] = np.sqrt(shares * (1.0 - w) + new[idx] * new[idx] * w)
    views[idx] = n


class Look:
    """One person's look (the mean of their clear views), or none yet."""

    __slots__ = ("mean", "views")

    def __init__(self) -> None:
        self.mean: F64 | None = None
        self.views = 0.0

    def add(self, look: npt.NDArray[np.floating]) -> None:
        if look[0] != look[0]:  # NaN: no clear view now
            return
        if self.mean is None:
            self.mean, self.views = np.asarray(look, np.float64).copy(), 1.0
            return
        self.views = min(self.views + 1.0, _VIEWS)
        w = 1.0 / self.views
        mean = self.mean  # this Look's own array: updated in place, as
        mean *= mean  # sqrt(mean * mean * (1 - w) + look**2 * w)
        mean *= 1.0 - w
        mean += np.square(look) * w
        np.sqrt(mean, out=mean)

    def unlike(self, newcomer: Look) -> bool:
        """This person's look (of ``LEAST_VIEWS`` views or more) and a newcomer's (any) are
        known and too different to be one person."""
        if self.mean is None or newcomer.mean is None or self.views < LEAST_VIEWS:
            return False
        return bool(math.sqrt(max(1.0 - float(self.mean @ newcomer.mean), 0.0)) > LOOK_VETO)


# The tracker's veto applies to people unseen this long (a crossing, an occlusion), not to
# people matched frame after frame by their boxes (one view in a hundred of the same person
# differs from their mean by more than the veto).
LOOK_GAP_S = 0.1
# A detection whose torso is not clear now is taken to look like the person seen just now whose
# predicted box it overlaps this much (people walking together overlap; the one in front is
# not someone new because the one behind emerged).
_SAME_BOX_IOU = 0.5


class TrackLooks:
    """The tracker's people's looks, one row per person (rows as the tracker's state): the
    mean of their clear views (NaN rows: none yet) and how many."""

    def __init__(self, n: int, bins: int) -> None:
        self.mean = np.full((n, bins), np.nan)
        self.views = np.zeros(n)

    def keep(self, rows: npt.NDArray[np.bool_]) -> None:
        self.mean, self.views = self.mean[rows], self.views[rows]

    def add(self, looks: F64 | None, n: int) -> None:
        """New people (their first detection's looks; None: none)."""
        new = np.full((n, self.mean.shape[1]), np.nan) if looks is None else looks
        self.mean = np.concatenate([self.mean, new])
        self.views = np.concatenate([self.views, (~np.isnan(new[:, 0])).astype(float)])

    def veto(self, det_look: F64, unseen: F64, iou: F64) -> npt.NDArray[np.bool_] | None:
        """(people, detections): True where a person unseen for ``LOOK_GAP_S`` or more, with
        a look of ``LEAST_VIEWS``, and the detection look too different to be one. A
        detection with no clear view now borrows the look of the person just seen whose
        predicted box it overlaps by ``_SAME_BOX_IOU`` (``iou``: people x detections). None:
        nobody is judged."""
        judged = (unseen >= LOOK_GAP_S) & (self.views >= LEAST_VIEWS)
        if not judged.any():  # everyone seen just now: nothing to veto (most frames)
            return None
        unknown = np.isnan(det_look[:, 0]).nonzero()[0]
        recent = ((unseen < LOOK_GAP_S) & ~np.isnan(self.mean[:, 0])).nonzero()[0]
        if len(unknown) and len(recent):
            overlap = iou[np.ix_(recent, unknown)]
            best = overlap.argmax(axis=0)
            near = overlap[best, np.arange(len(unknown))] >= _SAME_BOX_IOU
            det_look = det_look.copy()
            det_look[unknown[near]] = self.mean[recent[best[near]]]
        veto = unlike(self.mean, det_look)
        veto &= judged[:, None]
        return veto

    def see(self, det_look: F64, det_of_trk: npt.NDArray[np.intp],
            matched: npt.NDArray[np.bool_]) -> None:
        """Fold the matched people's clear views of this frame into their looks."""
        new = np.full_like(self.mean, np.nan)
        new[matched] = det_look[det_of_trk[matched]]
        blend(self.mean, self.views, new)
