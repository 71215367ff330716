"""A seeded synthetic shop: anonymous boxes and head yaw for a one-minute scripted scene.

The camera hangs over the entrance looking into the shop, so visitors enter at the bottom edge
and walk "up" (away, smaller, backs to the camera: no yaw); a counter with the staff zone is at
the top right, the help point in front of it. The script exercises every behaviour the policy
decides on — a walk-through, a browser who lingers, a visitor at the help point, one who looks
around, and a member of staff attending — with demo-sized thresholds (:data:`DEMO_SETTINGS`):
the give-them-space window is 20 s instead of 90 s so the whole story fits in a minute.

Output is the trace format (GUIDE: header + one JSON line per frame, boxes as [x, y, w, h]
pixels, yaw in degrees or null) so `dwell replay` and the tests read it like a recorded day.
There are no pixels anywhere: this is also what makes the demo run without a camera or models.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.offline.trace import TraceHeader, frame_line, header_line
from edge.vocabulary.types import Detections

FPS = 10.0
SIZE = (640, 480)

# Zones of the synthetic shop (normalised 0..1; feet decide membership).
DEMO_ZONES: list[dict[str, Any]] = [
    {"name": "counter", "kind": "staff",
     "polygon": [[0.82, 0.30], [1.0, 0.30], [1.0, 0.52], [0.82, 0.52]]},
    {"name": "help desk", "kind": "help_point",
     "polygon": [[0.56, 0.50], [0.80, 0.50], [0.80, 0.70], [0.56, 0.70]]},
    {"name": "door", "kind": "entrance",
     "polygon": [[0.0, 0.9], [1.0, 0.9], [1.0, 1.0], [0.0, 1.0]]},
]

# Demo-sized thresholds: the same rules as a shop, on a one-minute clock.
DEMO_SETTINGS: dict[str, Any] = {
    "policy": {"space_window_s": 20.0, "linger_s": 8.0, "look_around_turns": 3,
               "look_around_window_s": 10.0, "visitor_cooldown_s": 120.0,
               "max_pings_per_minute": 6},
    # staff_near 0.6: the counter is close to the help desk in this small shop; staff behind
    # it are not yet "with" the visitor waiting there.
    "behaviour": {"visit_min_s": 0.5, "help_point_s": 2.0, "attended_s": 3.0,
                  "staff_near": 0.6},
    "zones": DEMO_ZONES,
}


@dataclass(frozen=True)
class Actor:
    """One person of the script: where their feet are when, and when they look around."""

    role: str
    story: str
    path: list[tuple[float, float, float]]  # (t, x, y) waypoints, feet in 0..1 coordinates
    sweeps: list[tuple[float, float]] = field(default_factory=list)  # looking-around intervals
    facing: float = 0.0  # yaw (deg) while standing and not looking around

    @property
    def start(self) -> float:
        return self.path[0][0]

    @property
    def end(self) -> float:
        return self.path[-1][0]

    def feet(self, t: float) -> tuple[float, float, float] | None:
        """(x, y, dy/dt) at time t, None outside the actor's visit."""
        if not self.start <= t <= self.end:
            return None
        for (t0, x0, y0), (t1, x1, y1) in zip(self.path, self.path[1:], strict=False):
            if t0 <= t <= t1:
                a = 0.0 if t1 == t0 else (t - t0) / (t1 - t0)
                vy = 0.0 if t1 == t0 else (y1 - y0) / (t1 - t0)
                moving = (x0, y0) != (x1, y1)
                return x0 + a * (x1 - x0), y0 + a * (y1 - y0), vy if moving else 0.0
        _, x_last, y_last = self.path[-1]
        return x_last, y_last, 0.0


def shop_script() -> list[Actor]:
    """The scripted minute. Times are seconds of shop time; the demo may play it faster."""
    stand = 0.005  # a standing person still sways a little (in normalised units)
    # The browser keeps moving further than linger_radius: browsing, not lingering.
    aisle = [(0.50, 0.62), (0.27, 0.66), (0.48, 0.72), (0.28, 0.60)]
    browse = [(23.0 + 2.5 * k, *aisle[k % 4]) for k in range(13)]
    return [
        Actor("staff", "member of staff behind the counter, later walks over to help",
              [(0.0, 0.91, 0.42), (30.0, 0.91, 0.42 + stand), (32.0, 0.82, 0.62),
               (40.0, 0.82 + stand, 0.62), (42.0, 0.91, 0.42), (62.0, 0.91, 0.42)]),
        Actor("walk_through", "walks in, glances, walks out",
              [(1.0, 0.40, 1.0), (3.5, 0.40, 0.55), (6.0, 0.42, 1.0)]),
        Actor("linger", "stops at a shelf by the door and stays there",
              [(4.0, 0.10, 1.0), (6.0, 0.10, 0.72), (26.0, 0.10 + stand, 0.72),
               (48.0, 0.10, 0.72), (50.0, 0.10, 1.0)],
              sweeps=[(36.0, 44.0)], facing=-25.0),
        Actor("help_point", "goes straight to the help desk and waits",
              [(14.0, 0.66, 1.0), (17.0, 0.66, 0.60), (42.0, 0.66 + stand, 0.60),
               (45.0, 0.66, 1.0)], facing=15.0),
        Actor("look_around", "browses the middle aisle, then looks around for someone",
              [(20.0, 0.40, 1.0), *browse, (55.0, 0.40, 1.0)],
              sweeps=[(40.0, 50.0)], facing=0.0),
    ]


def box_height(y: float, height: int) -> float:
    """Perspective: people further in (smaller y) look smaller."""
    return height * (0.30 + 0.35 * y)


def generate(seed: int = 0, fps: float = FPS, size: tuple[int, int] = SIZE,
             miss_rate: float = 0.03) -> Iterator[tuple[float, Detections]]:
    """(t, detections) per frame, like a detector on a camera; seeded noise and misses."""
    rng = np.random.default_rng(seed)
    actors = shop_script()
    end = max(a.end for a in actors)
    width, height = size
    for index in range(int(end * fps) + 1):
        t = index / fps
        boxes, scores, yaws = [], [], []
        for actor in actors:
            feet = actor.feet(t)
            if feet is None or rng.random() < miss_rate:
                continue
            x, y, vy = feet
            h = box_height(y, height)
            w = 0.4 * h
            cx = x * width + rng.normal(0, 1.5)
            bottom = y * height + rng.normal(0, 1.5)
            x0, y0 = max(0.0, cx - w / 2), max(0.0, bottom - h)
            x1, y1 = min(width - 1.0, cx + w / 2), min(height - 1.0, bottom)
            boxes.append([x0, y0, x1 - x0, y1 - y0])
            scores.append(float(rng.uniform(0.6, 0.95)))
            yaws.append(_yaw(actor, t, vy, rng))
        yield t, Detections.from_xywh(np.asarray(boxes, np.float32).reshape(-1, 4),
                                      np.asarray(scores, np.float32),
                                      np.asarray(yaws, np.float32))


def _yaw(actor: Actor, t: float, vy: float, rng: np.random.Generator) -> float:
    """A sweep while looking around; else NaN with the back to the camera (walking in)."""
    for t0, t1 in actor.sweeps:
        if t0 <= t <= t1:  # searching for someone: turned towards the room, face visible
            return 50.0 * math.sin(2 * math.pi * (t - t0) / 2.5) + float(rng.normal(0, 3))
    if vy < -1e-6:
        return math.nan
    return actor.facing + float(rng.normal(0, 3))


def trace_lines(seed: int = 0, fps: float = FPS, size: tuple[int, int] = SIZE) -> Iterator[str]:
    """The trace as JSONL lines (written as `dwell record` writes them): the header, then one
    line per frame."""
    yield header_line(TraceHeader(fps, size))
    for t, det in generate(seed, fps, size):
        yield frame_line(t, det)


def write_trace(path: Path | None = None, seed: int = 0, fps: float = FPS) -> Path:
    """Write the trace to ``path`` (default: a new temp file) and return where it went."""
    if path is None:
        fd, name = tempfile.mkstemp(prefix="dwell-synthetic-", suffix=".jsonl")
        path = Path(name)
        os.close(fd)
    with path.open("w", encoding="utf-8") as fh:
        for line in trace_lines(seed, fps):
            fh.write(line + "\n")
    return path
