"""Detection and tracking scores against MOT ground truth, in plain numpy.

Written here because motmetrics 1.4 crashes on numpy 2 and the others pull in heavy
dependencies. Definitions follow the MOT benchmark: a prediction and a ground-truth box
correspond when their IoU is at least ``iou`` (0.5); IDF1 (Ristani et al. 2016) matches whole
identities one-to-one to maximise the frames they share; an ID switch (CLEAR MOT) is a ground
truth person matched to a different prediction id than the last time they were matched.

Inputs are per-frame mappings ``{frame: xyxy}`` (detections) or ``{frame: (ids, xyxy)}``
(tracks); a sequence is taken as frames 0, 1, 2, ... A frame missing on one side is empty.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.vocabulary.boxes import iou_matrix

Boxes = npt.ArrayLike
Frames = Mapping[int, Boxes] | Sequence[Boxes]
IdFrames = Mapping[int, tuple[npt.ArrayLike, Boxes]] | Sequence[tuple[npt.ArrayLike, Boxes]]


def _as_map(frames: Frames | IdFrames) -> Mapping[int, object]:
    return frames if isinstance(frames, Mapping) else dict(enumerate(frames))


def _boxes(a: object) -> npt.NDArray[np.float64]:
    arr = np.asarray(a, np.float64)
    return arr.reshape(-1, 4)


def assign_max(weight: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.intp],
                                                          npt.NDArray[np.intp]]:
    """One-to-one pairs (rows, cols) maximising the total weight (Hungarian method).

    Shortest augmenting paths with potentials, O(n^2 m); pairs of weight <= 0 are dropped.
    """
    n_rows, n_cols = weight.shape
    if not n_rows or not n_cols:
        empty = np.zeros(0, np.intp)
        return empty, empty
    transpose = n_rows > n_cols
    w = weight.T if transpose else weight
    n, m = w.shape
    cost = w.max() - w  # minimise cost == maximise weight; n <= m
    u, v = np.zeros(n + 1), np.zeros(m + 1)
    col_row = np.zeros(m + 1, np.intp)  # 1-based row matched to each column, 0 = none
    for i in range(1, n + 1):
        col_row[0] = i
        j0 = 0
        minv = np.full(m + 1, np.inf)
        used = np.zeros(m + 1, bool)
        way = np.zeros(m + 1, np.intp)
        while True:
            used[j0] = True
            i0 = col_row[j0]
            free = ~used[1:]
            cur = cost[i0 - 1] - u[i0] - v[1:]
            better = free & (cur < minv[1:])
            minv[1:][better] = cur[better]
            way[1:][better] = j0
            cand = np.where(free, minv[1:], np.inf)
            j1 = int(cand.argmin()) + 1
            delta = cand[j1 - 1]
            u[col_row[used]] += delta
            v[used] -= delta
            minv[1:][free] -= delta
            j0 = j1
            if col_row[j0] == 0:
                break
        while j0:
            j1 = way[j0]
            col_row[j0] = col_row[j1]
            j0 = j1
    cols = np.flatnonzero(col_row[1:])
    rows = col_row[1:][cols] - 1
    if transpose:
        rows, cols = cols, rows
    keep = weight[rows, cols] > 0
    order = np.argsort(rows[keep])
    return rows[keep][order], cols[keep][order]


def detection_precision_recall(gt: Frames, pred: Frames, iou: float = 0.5
                               ) -> tuple[float, float]:
    """Precision and recall of predicted boxes against ground truth at IoU >= ``iou``."""
    gt_map, pred_map = _as_map(gt), _as_map(pred)
    tp = n_gt = n_pred = 0
    for frame in set(gt_map) | set(pred_map):
        g = _boxes(gt_map.get(frame, ()))
        p = _boxes(pred_map.get(frame, ()))
        n_gt += len(g)
        n_pred += len(p)
        if len(g) and len(p):
            overlap = iou_matrix(g, p)
            rows, _ = assign_max(np.where(overlap >= iou, overlap, 0.0))
            tp += len(rows)
    precision = tp / n_pred if n_pred else 1.0
    recall = tp / n_gt if n_gt else 1.0
    return precision, recall


@dataclass(frozen=True)
class IdScores:
    idf1: float
    idp: float
    idr: float
    id_switches: int
    gt_ids: int
    pred_ids: int


def _id_frames(frames: IdFrames) -> dict[int, tuple[npt.NDArray[np.int64],
                                                    npt.NDArray[np.float64]]]:
    out = {}
    for frame, pair in _as_map(frames).items():
        ids: npt.ArrayLike = pair[0]  # type: ignore[index]
        out[frame] = (np.asarray(ids, np.int64).reshape(-1), _boxes(pair[1]))  # type: ignore[index]
    return out


def idf1_and_switches(gt: IdFrames, pred: IdFrames, iou: float = 0.5) -> IdScores:
    """IDF1 (global one-to-one identity matching) and CLEAR-MOT ID switches."""
    g_map, p_map = _id_frames(gt), _id_frames(pred)
    g_ids = np.unique(np.concatenate([ids for ids, _ in g_map.values()] or [np.zeros(0, np.int64)]))
    p_ids = np.unique(np.concatenate([ids for ids, _ in p_map.values()] or [np.zeros(0, np.int64)]))
    g_index = {int(i): k for k, i in enumerate(g_ids)}
    p_index = {int(i): k for k, i in enumerate(p_ids)}
    shared = np.zeros((len(g_ids), len(p_ids)))
    n_gt = n_pred = switches = 0
    last_match: dict[int, int] = {}
    for frame in sorted(set(g_map) | set(p_map)):
        gi, gb = g_map.get(frame, (np.zeros(0, np.int64), np.zeros((0, 4))))
        pi, pb = p_map.get(frame, (np.zeros(0, np.int64), np.zeros((0, 4))))
        n_gt += len(gi)
        n_pred += len(pi)
        if not len(gi) or not len(pi):
            continue
        overlap = iou_matrix(gb, pb)
        ok = overlap >= iou
        rows, cols = np.nonzero(ok)
        np.add.at(shared, ([g_index[int(i)] for i in gi[rows]],
                           [p_index[int(i)] for i in pi[cols]]), 1)
        # CLEAR MOT (as motmetrics does it): first keep each person's last correspondence
        # where it still holds, in ground-truth order, then pair the rest optimally
        weight = np.where(ok, overlap, 0.0)
        for r, g in enumerate(gi):
            prev = last_match.get(int(g))
            hit = (pi == prev).nonzero()[0] if prev is not None else np.zeros(0, np.intp)
            if len(hit) and weight[r, hit[0]] > 0:
                weight[r, :] = 0.0  # this person and that id are taken
                weight[:, hit[0]] = 0.0
        r_idx, c_idx = assign_max(weight)
        for r, c in zip(r_idx, c_idx, strict=True):
            g, p = int(gi[r]), int(pi[c])
            if g in last_match and last_match[g] != p:
                switches += 1
            last_match[g] = p
    g_r, p_c = assign_max(shared)
    idtp = float(shared[g_r, p_c].sum())
    idf1 = 2 * idtp / (n_gt + n_pred) if n_gt + n_pred else 1.0
    return IdScores(idf1=idf1, idp=idtp / n_pred if n_pred else 1.0,
                    idr=idtp / n_gt if n_gt else 1.0, id_switches=switches,
                    gt_ids=len(g_ids), pred_ids=len(p_ids))


@dataclass(frozen=True)
class VisitScores:
    visits: int          # predicted ids lasting >= min_s
    people: int          # ground-truth people lasting >= min_s
    split_people: int    # of those, people whose time is spread over >= 2 lasting ids
    per_person: float    # visits / people (1.0 is ideal)
    handed_over: int = 0  # lasting ids that followed >= 2 people, each for >= min_s / 2


def _spans(frames: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]]
           ) -> dict[int, tuple[int, int]]:
    spans: dict[int, tuple[int, int]] = {}
    for frame, (ids, _) in frames.items():
        for i in ids.tolist():
            a, b = spans.get(i, (frame, frame))
            spans[i] = (min(a, frame), max(b, frame))
    return spans


def visits_per_person(gt: IdFrames, pred: IdFrames, fps: float, min_s: float = 1.0,
                      iou: float = 0.5) -> VisitScores:
    """Ids lasting >= ``min_s`` (first to last frame) per ground-truth person lasting as long.

    A lasting predicted id belongs to the ground-truth person it overlaps (IoU >= ``iou``) in
    most frames; a person with two or more lasting ids was split into several visits (their
    dwell restarts). An id that followed two people for ``min_s / 2`` each was handed over
    (the second person inherits the first one's dwell).
    """
    g_map, p_map = _id_frames(gt), _id_frames(pred)
    g_long = [i for i, (a, b) in _spans(g_map).items() if (b - a) / fps >= min_s]
    p_long = [i for i, (a, b) in _spans(p_map).items() if (b - a) / fps >= min_s]
    votes = _owner_votes(g_map, p_map, iou)
    owner_votes = {p: votes.get(p, {}) for p in p_long}
    own = [max(v, key=lambda g: v[g]) for v in owner_votes.values() if v]
    split = sum(1 for g in g_long if own.count(g) >= 2)
    people = len(g_long)
    # an id that followed one person, then another: the second inherits the first's dwell
    enough = min_s / 2 * fps
    handed = sum(1 for v in owner_votes.values() if sum(n >= enough for n in v.values()) >= 2)
    return VisitScores(visits=len(p_long), people=people, split_people=split,
                       per_person=len(p_long) / people if people else float("nan"),
                       handed_over=handed)


def _owner_votes(g_map: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
                 p_map: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
                 iou: float) -> dict[int, dict[int, int]]:
    """For each predicted id, in how many frames it was each ground-truth person."""
    votes: dict[int, dict[int, int]] = {}
    for _frame, p, g in _matched(g_map, p_map, iou):
        mine = votes.setdefault(p, {})
        mine[g] = mine.get(g, 0) + 1
    return votes


def _matched(g_map: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
             p_map: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
             iou: float) -> Iterator[tuple[int, int, int]]:
    """(frame, predicted id, ground-truth id) of every one-to-one match at IoU >= ``iou``,
    frames in order."""
    for frame in sorted(p_map):
        pi, pb = p_map[frame]
        gi, gb = g_map.get(frame, (np.zeros(0, np.int64), np.zeros((0, 4))))
        if not len(gi) or not len(pi):
            continue
        overlap = iou_matrix(pb, gb)
        r, c = assign_max(np.where(overlap >= iou, overlap, 0.0))
        for p, g in zip(pi[r].tolist(), gi[c].tolist(), strict=True):
            yield frame, p, g


def owners(gt: IdFrames, pred: IdFrames, iou: float = 0.5) -> dict[int, int]:
    """The ground-truth person each predicted id overlapped (IoU >= ``iou``) most often."""
    votes = _owner_votes(_id_frames(gt), _id_frames(pred), iou)
    return {p: max(v, key=lambda g: v[g]) for p, v in votes.items() if v}


@dataclass(frozen=True)
class DwellScores:
    people: int         # ground-truth people present >= min_s
    mean_error_s: float  # mean |dwell of their longest visit - their presence|
    worst_error_s: float


def dwell_errors(gt: IdFrames, pred: IdFrames, fps: float, min_s: float = 0.5,
                 iou: float = 0.5) -> DwellScores:
    """How far each person's dwell (first to last frame of the longest visit they own) is
    from their presence in the ground truth; a split visit counts only its longest part, a
    person with no visit their whole presence."""
    g_map, p_map = _id_frames(gt), _id_frames(pred)
    g_spans, p_spans = _spans(g_map), _spans(p_map)
    mine: dict[int, list[int]] = {}
    for p, g in owners(gt, pred, iou).items():
        mine.setdefault(g, []).append(p)
    errors = []
    for g, (a, b) in g_spans.items():
        if (b - a) / fps < min_s:
            continue
        best = max(((p_spans[p][1] - p_spans[p][0]) for p in mine.get(g, [])), default=0)
        errors.append(abs(best - (b - a)) / fps)
    if not errors:
        return DwellScores(0, 0.0, 0.0)
    return DwellScores(len(errors), float(np.mean(errors)), float(max(errors)))


def wrong_joins(gt: IdFrames, tracks: IdFrames, visitor_of: Mapping[int, int],
                iou: float = 0.5) -> int:
    """Tracks joined into a visit that belongs to another ground-truth person: for each
    visitor, the distinct owners of its tracks beyond the first (``visitor_of``: track id
    -> visitor id; ``tracks``: per-frame track ids)."""
    track_owner = owners(gt, tracks, iou)
    people: dict[int, set[int]] = {}
    for tid, vid in visitor_of.items():
        if tid in track_owner:
            people.setdefault(vid, set()).add(track_owner[tid])
    return sum(len(s) - 1 for s in people.values())


def swaps(gt: IdFrames, pred: IdFrames, fps: float, iou: float = 0.5,
          hold_s: float = 0.4, window_s: float = 1.0) -> int:
    """Crossing swaps: two predicted ids that exchanged their ground-truth people (id p went
    from person A to B and id q from B to A within ``window_s`` of each other), each side
    held for at least ``hold_s`` so that a one-frame mix-up in a merged box is not counted.
    Each swap hands one person's dwell to the other."""
    g_map, p_map = _id_frames(gt), _id_frames(pred)
    follows: dict[int, list[tuple[int, int]]] = {}  # pred id -> [(frame, gt id)]
    for frame, p, g in _matched(g_map, p_map, iou):
        follows.setdefault(p, []).append((frame, g))
    hold, window = max(1, round(hold_s * fps)), window_s * fps
    changes = []  # (frame, pred id, from, to)
    for p, seq in follows.items():
        runs: list[list[int]] = []  # [gt id, first frame, length]
        for frame, g in seq:
            if runs and runs[-1][0] == g:
                runs[-1][2] += 1
            else:
                runs.append([g, frame, 1])
        held = [r for r in runs if r[2] >= hold]
        changes += [(b[1], p, a[0], b[0]) for a, b in itertools.pairwise(held)
                    if a[0] != b[0]]
    found = 0
    for k, (f1, p1, a, b) in enumerate(changes):
        found += any(p2 != p1 and (a2, b2) == (b, a) and abs(f2 - f1) <= window
                     for f2, p2, a2, b2 in changes[k + 1:])
    return found


def provisional_in_hindsight(frames: Sequence[Sequence[tuple[int, int | None]]]
                             ) -> list[list[int]]:
    """Each frame's visitor ids with the provisional ones as what they became: ``frames``
    holds each frame's (visitor id, track id) pairs, a negative visitor id being a track held
    back by the visit layer (track ``-id``). A held-back sighting becomes the first visitor
    its track carries after it (a track may be held back more than once, e.g. rechecked, and
    become a different visitor each time); one whose track never carried one stays as is.
    Events never name provisional ids; scores count them as the visitor they became."""
    became: dict[int, int] = {}  # track -> the next visitor it carries, walking backwards
    out: list[list[int]] = []
    for pairs in reversed(frames):
        ids = []
        for vid, tid in pairs:
            if tid is not None and vid > 0:
                became[tid] = vid
            ids.append(became.get(tid, vid) if vid < 0 and tid is not None else vid)
        out.append(ids)
    return out[::-1]
