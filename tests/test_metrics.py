"""Our own MOT metrics: precision/recall, IDF1, ID switches, visits per person."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edge.offline.metrics import (
    assign_max,
    detection_precision_recall,
    idf1_and_switches,
    swaps,
    visits_per_person,
)

A = [0.0, 0.0, 10.0, 10.0]
B = [100.0, 0.0, 110.0, 10.0]


def tracks(pairs: list[list[tuple[int, list[float]]]]) -> dict[int, tuple[list[int], list]]:
    return {f: ([i for i, _ in frame], [b for _, b in frame]) for f, frame in enumerate(pairs)}


def test_assign_max_equals_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        n, m = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        w = rng.random((n, m)) * (rng.random((n, m)) > 0.3)
        rows, cols = assign_max(w)
        assert len(set(rows.tolist())) == len(rows) and len(set(cols.tolist())) == len(cols)
        k = min(n, m)
        best = max(sum(w[r, c] for r, c in zip(rs, cs, strict=True))
                   for rs in itertools.combinations(range(n), k)
                   for cs in itertools.permutations(range(m), k))
        assert w[rows, cols].sum() == pytest.approx(best)


def test_precision_recall_by_hand() -> None:
    gt = {1: [A, B], 2: [A]}
    shifted = [2.0, 0.0, 12.0, 10.0]  # IoU 8*10/(12*10) = 0.67 with A
    far = [300.0, 0.0, 310.0, 10.0]
    pred = {1: [shifted], 2: [A, far], 3: [far]}
    precision, recall = detection_precision_recall(gt, pred)
    assert precision == pytest.approx(2 / 4)
    assert recall == pytest.approx(2 / 3)
    p_strict, r_strict = detection_precision_recall(gt, pred, iou=0.7)
    assert (p_strict, r_strict) == pytest.approx((1 / 4, 1 / 3))
    assert detection_precision_recall([[A]], [np.zeros((0, 4))]) == (1.0, 0.0)


def test_perfect_tracking() -> None:
    gt = tracks([[(1, A), (2, B)]] * 10)
    pred = tracks([[(7, A), (9, B)]] * 10)
    s = idf1_and_switches(gt, pred)
    assert (s.idf1, s.id_switches, s.gt_ids, s.pred_ids) == (1.0, 0, 2, 2)


def test_a_swap_halfway_costs_two_switches_and_half_the_idf1() -> None:
    gt = tracks([[(1, A), (2, B)]] * 10)
    pred = tracks([[(7, A), (9, B)]] * 5 + [[(9, A), (7, B)]] * 5)
    s = idf1_and_switches(gt, pred)
    assert s.id_switches == 2
    assert s.idf1 == pytest.approx(0.5)


def test_a_split_track_costs_one_switch() -> None:
    gt = tracks([[(1, A)]] * 10)
    pred = tracks([[(7, A)]] * 6 + [[], []] + [[(8, A)]] * 2)
    s = idf1_and_switches(gt, pred)
    assert s.id_switches == 1
    # best identity 7 shares 6 frames; 10 gt boxes, 8 predicted
    assert s.idf1 == pytest.approx(2 * 6 / 18)
    assert (s.idp, s.idr) == pytest.approx((6 / 8, 6 / 10))


def test_visits_per_person_counts_splits() -> None:
    fps = 10.0
    # person 1: 3 s, tracked as two ids of 1.5 s each; person 2: 0.5 s (too short to count)
    gt = tracks([[(1, A)] + ([(2, B)] if f < 5 else []) for f in range(30)])
    pred = tracks([[(10 if f < 15 else 11, A)] + ([(12, B)] if f < 5 else [])
                   for f in range(30)])
    v = visits_per_person(gt, pred, fps, min_s=1.0)
    assert (v.visits, v.people, v.split_people) == (2, 1, 1)
    assert v.per_person == 2.0
    one = tracks([[(10, A)] for _ in range(30)])
    assert visits_per_person(gt, one, fps).split_people == 0
    assert visits_per_person(gt, one, fps).handed_over == 0


def test_visits_per_person_counts_hand_overs() -> None:
    """One id following person 1 for 1.5 s, then person 2 for 1.5 s: handed over."""
    gt = tracks([[(1 if f < 15 else 2, A if f < 15 else B)] for f in range(30)])
    pred = tracks([[(10, A if f < 15 else B)] for f in range(30)])
    v = visits_per_person(gt, pred, fps=10.0, min_s=1.0)
    assert (v.visits, v.people, v.split_people, v.handed_over) == (1, 2, 0, 1)


def test_swaps_count_two_ids_exchanging_their_people() -> None:
    fps = 10.0
    gt = tracks([[(1, A), (2, B)]] * 20)
    swapped = tracks([[(7, A), (9, B)]] * 10 + [[(9, A), (7, B)]] * 10)
    assert swaps(gt, swapped, fps) == 1
    kept = tracks([[(7, A), (9, B)]] * 20)
    assert swaps(gt, kept, fps) == 0
    blink = tracks([[(7, A), (9, B)]] * 10 + [[(9, A), (7, B)]] + [[(7, A), (9, B)]] * 9)
    assert swaps(gt, blink, fps) == 0  # one mixed-up frame is not a swap
    split = tracks([[(7, A), (9, B)]] * 10 + [[(8, A), (9, B)]] * 10)
    assert swaps(gt, split, fps) == 0  # a new id is a split, not a swap
