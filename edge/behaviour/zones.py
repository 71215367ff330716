"""Zones in pixels: which zone each person's feet are in.

Config holds zones as polygons in normalised image coordinates (0..1); this stage scales them
to the frame size once, in ``__init__``, and then tests all feet against all zones with numpy
(one call per zone per frame, no per-person loops).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from edge.config.sections import Zone, ZoneKind
from edge.vocabulary.boxes import feet_of
from edge.vocabulary.types import BoolArray, Detections, FloatArray

Edges = tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], npt.NDArray[np.float64],
              npt.NDArray[np.float64]]
"""A polygon's edges as (1, M) rows: x1, y1, x2, y2 (corner i to corner i+1, closed)."""


def edges_of(polygon: npt.NDArray[np.float64]) -> Edges:
    nxt = np.concatenate((polygon[1:], polygon[:1]))
    return (polygon[:, 0][None, :], polygon[:, 1][None, :], nxt[:, 0][None, :],
            nxt[:, 1][None, :])


def points_in_edges(points: FloatArray, edges: Edges) -> BoolArray:
    """Even-odd ray casting for every point at once; ``points`` (N,2)."""
    if len(points) == 0:
        return np.zeros(0, bool)
    x1, y1, x2, y2 = edges
    x = points[:, 0].astype(np.float64)[:, None]
    y = points[:, 1].astype(np.float64)[:, None]
    straddles = (y1 > y) != (y2 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        x_cross = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
    crossings = straddles & (x < x_cross)
    return np.asarray(crossings.sum(axis=1) % 2 == 1)


def points_in_polygon(points: FloatArray, polygon: npt.NDArray[np.float64]) -> BoolArray:
    """Even-odd ray casting for every point at once; ``points`` (N,2), ``polygon`` (M,2)."""
    return points_in_edges(points, edges_of(polygon))


@dataclass(frozen=True, slots=True)
class Places:
    """Where each of some feet are: the first configured (non-ignore) zone's name (None: in
    none), and whether in a help point / a staff zone (None when no such zone is configured)."""

    names: list[str | None]
    help: list[bool] | None
    staff: list[bool] | None


class ZoneMap:
    """The configured zones scaled to one frame size."""

    def __init__(self, zones: Sequence[Zone], frame_size: tuple[int, int] | None) -> None:
        if zones and frame_size is None:
            raise ValueError("zones are configured but the frame size is unknown: pass "
                             "frame_size (W, H) so they can be scaled to pixels")
        w, h = frame_size or (1, 1)
        self.zones = list(zones)
        # edges computed once: the per-frame test is then only the crossing arithmetic
        self._polys = [edges_of(np.asarray(z.polygon, np.float64) * np.array([w, h], np.float64))
                       for z in self.zones]
        self.has_ignore = any(z.kind == "ignore" for z in self.zones)
        self.has_help_point = any(z.kind == "help_point" for z in self.zones)
        self.has_staff = any(z.kind == "staff" for z in self.zones)
        self.has_entrance = any(z.kind == "entrance" for z in self.zones)

    def __len__(self) -> int:
        return len(self.zones)

    def inside(self, feet: FloatArray, kind: ZoneKind) -> BoolArray:
        """Which feet are inside any zone of this kind."""
        out = np.zeros(len(feet), bool)
        for zone, poly in zip(self.zones, self._polys, strict=True):
            if zone.kind == kind:
                out |= points_in_edges(feet, poly)
        return out

    def names(self, feet: FloatArray) -> list[str | None]:
        """The first configured (non-ignore) zone each point is in, None when in none."""
        result: list[str | None] = [None] * len(feet)
        if not self.zones or len(feet) == 0:
            return result
        for zone, poly in zip(self.zones, self._polys, strict=True):
            if zone.kind == "ignore":
                continue
            hits = points_in_edges(feet, poly)
            for i in np.flatnonzero(hits):
                if result[i] is None:
                    result[i] = zone.name
        return result

    def places(self, feet: FloatArray) -> Places:
        """``names``, and ``inside`` for help points and staff zones, testing each zone once."""
        n = len(feet)
        names: list[str | None] = [None] * n
        helps = np.zeros(n, bool) if self.has_help_point else None
        staff = np.zeros(n, bool) if self.has_staff else None
        if n:
            for zone, poly in zip(self.zones, self._polys, strict=True):
                if zone.kind == "ignore":
                    continue
                hits = points_in_edges(feet, poly)
                for i in np.flatnonzero(hits).tolist():
                    if names[i] is None:
                        names[i] = zone.name
                if zone.kind == "help_point" and helps is not None:
                    helps |= hits
                elif zone.kind == "staff" and staff is not None:
                    staff |= hits
        return Places(names, None if helps is None else helps.tolist(),
                      None if staff is None else staff.tolist())

    def kind_of(self, name: str | None) -> ZoneKind | None:
        for zone in self.zones:
            if zone.name == name:
                return zone.kind
        return None

    def drop_ignored(self, detections: Detections) -> Detections:
        """People standing in an ignore zone (a street window, a poster) are not visitors."""
        if not self.has_ignore or len(detections) == 0:
            return detections
        keep = ~self.inside(feet_of(detections.xyxy), "ignore")
        return detections if keep.all() else detections[keep]
