"""Detections and Tracks check their shapes once and filter with masks."""

from __future__ import annotations

import numpy as np
import pytest

from edge.vocabulary.events import Ping, VisitEnded
from edge.vocabulary.types import Detections, Tracks


def make_detections(n: int, seed: int = 0) -> Detections:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 500, (n, 2))
    wh = rng.uniform(20, 100, (n, 2))
    return Detections(np.hstack([xy, xy + wh]), rng.uniform(0.3, 1, n))


def test_yaw_defaults_to_nan_and_masks_filter_all_fields() -> None:
    d = make_detections(5)
    assert np.isnan(d.yaw).all() and d.xyxy.dtype == np.float32
    keep = d.score > 0.6
    sub = d[keep]
    assert len(sub) == int(keep.sum())
    assert np.array_equal(sub.xyxy, d.xyxy[keep])


def test_from_xywh_round_trips() -> None:
    d = Detections.from_xywh([[10, 20, 30, 40]], [0.9], [15.0])
    assert d.xyxy.tolist() == [[10, 20, 40, 60]]
    assert d.xywh.tolist() == [[10, 20, 30, 40]] and d.yaw.tolist() == [15.0]


@pytest.mark.parametrize(("xyxy", "score"), [([[1, 2, 3]], [0.5]), ([[1, 2, 3, 4]], [0.5, 0.6])])
def test_bad_shapes_refused(xyxy: list[list[int]], score: list[float]) -> None:
    with pytest.raises(ValueError):
        Detections(np.array(xyxy), np.array(score))


def test_tracks_feet_are_bottom_centre() -> None:
    t = Tracks(np.array([7]), np.array([[10, 20, 30, 60]], np.float32), np.ones(1, np.float32),
               np.full(1, np.nan, np.float32), np.ones(1, bool))
    assert t.feet.tolist() == [[20, 60]]


def test_event_json_has_contract_fields() -> None:
    assert VisitEnded(t=12.34567, visitor=3, dwell_s=8.5).to_json() == {
        "type": "visit_end", "t": 12.346, "visitor": 3, "dwell_s": 8.5, "staff": False}
    ping = Ping(t=1.0, visitor=2, id="abc", reason="help_point", dwell_s=4.0, zone="desk")
    assert ping.to_json()["type"] == "ping" and ping.to_json()["reason"] == "help_point"
