"""Seeded synthetic scenes: scripted people -> per-frame Detections, as a detector would see them.

A ``Person`` follows waypoints of their feet (t, x, y) in pixels, linearly between them, and is
present from the first waypoint's t to the last one's. Boxes get a little seeded jitter, like a
detector's. ``yaw`` gives head yaw in degrees at t (None: no face seen). ``hidden`` intervals
drop the person from the detections (an occlusion or detector misses).

Used by the behaviour tests and scenarios (tests/builders.py), the replay benchmark
(bench/replay_speed.py) and anyone who wants a trace without footage: only boxes, scores and
head angles, never a picture.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.offline.trace import TraceHeader, TraceWriter
from edge.vocabulary.types import Detections

SIZE = (640, 480)

Yaw = Callable[[float], float | None]


def make_detections(xywh: Sequence[Sequence[float]], score: Sequence[float] | None = None,
                    yaw: Sequence[float | None] | None = None) -> Detections:
    """Detections from [x, y, w, h] boxes; score defaults to 0.9, yaw None -> NaN."""
    n = len(xywh)
    boxes = np.asarray(xywh, np.float32).reshape(n, 4)
    scores = np.full(n, 0.9, np.float32) if score is None else np.asarray(score, np.float32)
    yaws = None if yaw is None else np.asarray(
        [math.nan if y is None else y for y in yaw], np.float32)
    return Detections.from_xywh(boxes, scores, yaws)


def facing(_t: float) -> float:
    """Looking at the shelves in front of them, straight towards the camera-ish."""
    return 0.0


def looking_around(t0: float, t1: float, period_s: float = 3.0,
                   amplitude: float = 45.0) -> Yaw:
    """Head swinging left-right (triangle wave) between t0 and t1, facing otherwise."""

    def yaw(t: float) -> float:
        if not t0 <= t < t1:
            return 0.0
        phase = ((t - t0) / period_s) % 1.0
        return amplitude * (4 * phase - 1 if phase < 0.5 else 3 - 4 * phase)

    return yaw


def no_face(_t: float) -> None:
    return None


@dataclass
class Person:
    path: list[tuple[float, float, float]]  # (t, feet x, feet y), t increasing
    height: float = 200.0
    yaw: Yaw = facing
    hidden: list[tuple[float, float]] = field(default_factory=list)
    score: float = 0.9

    @property
    def start(self) -> float:
        return self.path[0][0]

    @property
    def end(self) -> float:
        return self.path[-1][0]

    def feet(self, t: float) -> tuple[float, float]:
        ts = [p[0] for p in self.path]
        x = float(np.interp(t, ts, [p[1] for p in self.path]))
        y = float(np.interp(t, ts, [p[2] for p in self.path]))
        return x, y

    def visible(self, t: float) -> bool:
        return self.start <= t <= self.end and not any(a <= t < b for a, b in self.hidden)


def standing(t0: float, t1: float, x: float, y: float, step_in: float = 0.4,
             **kw: object) -> Person:
    """Steps ``step_in`` box heights towards (x, y) from the middle of the picture's side in
    the first second, then stands there. A real person who appears from behind something
    moves a little; a detection that never moved from where it appeared is scenery (a
    mannequin: ``step_in=0``) and no visitor. The step stays inside ``linger_radius``, so
    the linger clock runs from the first sighting."""
    height = float(kw.get("height", Person.height))  # type: ignore[arg-type]
    d = step_in * height * (1.0 if x < SIZE[0] / 2 else -1.0)
    path = [(t0, x + d, y), (min(t0 + 1.0, t1), x, y), (t1, x, y)] if d else [(t0, x, y),
                                                                            (t1, x, y)]
    return Person(path, **kw)  # type: ignore[arg-type]


def walk_through(t0: float, y: float = 400.0, speed_px_s: float = 120.0,
                 **kw: object) -> Person:
    """Across the whole frame, left to right, without stopping."""
    dur = (SIZE[0] + 100) / speed_px_s
    return Person([(t0, -40.0, y), (t0 + dur, SIZE[0] + 60.0, y)], **kw)  # type: ignore[arg-type]


def browsing(t0: float, t1: float, stops: Sequence[tuple[float, float]], stop_s: float = 8.0,
             **kw: object) -> Person:
    """Walks between shelves, pausing ``stop_s`` at each (shorter than linger_s), repeating."""
    path = []
    t, i = t0, 0
    while t < t1:
        x, y = stops[i % len(stops)]
        path.append((t, x, y))
        path.append((min(t + stop_s, t1), x, y))
        t += stop_s + 3.0
        i += 1
    return Person(path, **kw)  # type: ignore[arg-type]


def make_trace(people: Iterable[Person], duration: float, fps: float = 10.0, seed: int = 0,
               jitter_px: float = 1.5) -> list[tuple[float, Detections]]:
    """One (t, Detections) per frame from t=0 to ``duration``, seeded box jitter."""
    rng = np.random.default_rng(seed)
    people = list(people)
    times = np.round(np.arange(round(duration * fps) + 1) / fps, 6)
    tracks = []
    for p in people:  # where everyone is at every frame, in one numpy call per person
        ts = [q[0] for q in p.path]
        xs = np.interp(times, ts, [q[1] for q in p.path]).tolist()
        ys = np.interp(times, ts, [q[2] for q in p.path]).tolist()
        tracks.append((p, xs, ys))
    frames = []
    for i, t in enumerate(times.tolist()):
        boxes, scores, yaws = [], [], []
        for p, xs, ys in tracks:
            if not p.visible(t):
                continue
            noise = rng.normal(0, 1, 5)
            h = p.height * (1 + 0.01 * noise[0])
            w = 0.4 * p.height * (1 + 0.01 * noise[1])
            fx = xs[i] + jitter_px * noise[2]
            fy = ys[i] + jitter_px * noise[3]
            boxes.append([fx - w / 2, fy - h, w, h])
            scores.append(p.score)
            yaw = p.yaw(t)
            yaws.append(None if yaw is None else yaw + 2.0 * noise[4])
        frames.append((t, make_detections(boxes, scores, yaws) if boxes
                       else Detections.empty()))
    return frames


def write_trace(path: Path, frames: Iterable[tuple[float, Detections]], fps: float = 10.0,
                size: tuple[int, int] = SIZE, start: object = None) -> Path:
    with TraceWriter.open(path, TraceHeader(fps, size, start)) as writer:  # type: ignore[arg-type]
        for t, dets in frames:
            writer.write(t, dets)
    return path
