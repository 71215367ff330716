"""Zones: normalised polygons scaled to pixels; feet tested against them in one array call."""

from __future__ import annotations

import numpy as np
import pytest

from edge.behaviour.zones import ZoneMap, points_in_polygon
from edge.config.sections import Zone
from tests.builders import make_detections

SQUARE = Zone(name="desk", kind="help_point", polygon=[(0.5, 0.5), (1, 0.5), (1, 1), (0.5, 1)])
STREET = Zone(name="window", kind="ignore", polygon=[(0, 0), (1, 0), (1, 0.3), (0, 0.3)])
L_SHAPE = Zone(name="aisle", kind="entrance",
               polygon=[(0, 0), (0.4, 0), (0.4, 0.2), (0.2, 0.2), (0.2, 0.6), (0, 0.6)])


@pytest.mark.parametrize(("x", "y", "inside"), [
    (0.1, 0.1, True), (0.3, 0.1, True), (0.3, 0.4, False), (0.1, 0.5, True), (0.5, 0.5, False),
])
def test_concave_polygon(x: float, y: float, inside: bool) -> None:
    poly = np.asarray(L_SHAPE.polygon, np.float64)
    assert points_in_polygon(np.array([[x, y]], np.float32), poly).tolist() == [inside]


def test_zones_scale_to_the_frame_and_name_the_feet() -> None:
    zones = ZoneMap([SQUARE, L_SHAPE], (640, 480))
    feet = np.array([[600, 400], [10, 10], [300, 100]], np.float32)
    assert zones.names(feet) == ["desk", "aisle", None]
    assert zones.inside(feet, "help_point").tolist() == [True, False, False]


def test_ignore_zone_drops_people_whose_feet_are_there() -> None:
    zones = ZoneMap([STREET], (640, 480))
    dets = make_detections([[100, 20, 30, 100], [300, 200, 50, 150]])  # feet y 120, 350
    kept = zones.drop_ignored(dets)
    assert len(kept) == 1 and kept.xyxy[0, 0] == 300


def test_zones_need_a_frame_size() -> None:
    with pytest.raises(ValueError, match="frame size"):
        ZoneMap([SQUARE], None)
    assert len(ZoneMap([], None)) == 0
