"""Builders for behaviour/policy inputs: scripted people -> per-frame Detections, seeded.

A ``Person`` follows waypoints of their feet (t, x, y) in pixels, linearly between them, and is
present from the first waypoint's t to the last one's. Boxes get a little seeded jitter, like a
detector's. ``yaw`` gives head yaw in degrees at t (None: no face seen). ``hidden`` intervals
drop the person from the detections (an occlusion or detector misses).

Regenerate the golden files (after an intended behaviour change, review the diff!):

    .venv/bin/python -m tests.builders golden
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edge.offline.trace import TraceHeader, TraceWriter
from edge.vocabulary.acks import Ack
from edge.vocabulary.types import Detections

SIZE = (640, 480)
DATA = Path(__file__).resolve().parent / "data"
GOLDEN_TRACE = DATA / "golden_trace.jsonl"
GOLDEN_EVENTS = DATA / "golden_events.jsonl"
GOLDEN_CONFIG = DATA / "golden.toml"

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


def golden_people() -> list[Person]:
    """A short shop scene (config tests/data/golden.toml) touching every rule at least once."""
    h = {"height": 120.0}
    return [
        walk_through(1.0, y=300.0, **h),                                    # passer-by
        browsing(2.0, 30.0, [(480, 330), (380, 340), (260, 300)], stop_s=5.0, **h),
        standing(6.0, 60.0, 330.0, 420.0, **h),                 # lingers in the window
        Person([(12.0, 600.0, 250.0), (16.0, 580.0, 440.0), (30.0, 580.0, 440.0)],
               **h),                                                        # help point
        Person([(34.0, 620.0, 330.0), (38.0, 560.0, 330.0), (41.0, 480.0, 320.0),
                (47.0, 480.0, 320.0), (50.0, 450.0, 330.0), (65.0, 450.0, 330.0)],
               height=100.0, yaw=looking_around(52.0, 62.0)),               # looks around
        Person([(0.5, 60.0, 460.0), (16.0, 60.0, 460.0), (18.0, 170.0, 310.0),
                (45.0, 170.0, 310.0), (47.0, 60.0, 460.0), (70.0, 60.0, 460.0)],
               **h),                                                        # staff
        standing(3.0, 70.0, 100.0, 300.0, hidden=[(30.0, 31.5)], **h),      # attended
        standing(8.0, 60.0, 440.0, 200.0, **h),                             # a party
        standing(8.5, 60.0, 500.0, 200.0, **h),                             # of two
        standing(2.0, 75.0, 600.0, 130.0, height=80.0),                     # in the street
    ]


def regenerate_golden() -> None:
    import subprocess

    write_trace(GOLDEN_TRACE, make_trace(golden_people(), 75.0, fps=10.0, seed=7))
    subprocess.run([sys.executable, "-m", "edge.cli", "--config", str(GOLDEN_CONFIG), "replay",
                    str(GOLDEN_TRACE), "--out", str(GOLDEN_EVENTS)], check=True)
    print(f"wrote {GOLDEN_TRACE} and {GOLDEN_EVENTS}")


if __name__ == "__main__":  # pragma: no cover
    if sys.argv[1:] == ["golden"]:
        regenerate_golden()
    else:
        sys.exit("usage: python -m tests.builders golden")


def settings_with(zones: Sequence[dict[str, object]] = (), **sections: dict[str, object]) -> Any:
    """Settings with some keys changed: settings_with(policy={"linger_s": 10})."""
    from edge.config.settings import Settings

    return Settings(zones=list(zones), **sections)  # type: ignore[arg-type]


def run_scenario(people: Iterable[Person], duration: float, settings: Any = None, *,
                 fps: float = 10.0, seed: int = 0, start_wall: Any = None,
                 acks: Sequence[tuple[float, str]] = ()) -> list[Any]:
    """Events (and pings) of the real pipeline over a scripted scene.

    ``acks``: (t, reason) pairs — at t, acknowledge the latest ping so far (any reason) when
    ``reason`` is "latest".
    """
    from edge.behaviour.pipeline import Pipeline
    from edge.behaviour.policy import deterministic_ping_ids

    pipeline = Pipeline(settings or settings_with(), SIZE, ping_id=deterministic_ping_ids("t"),
                        start_wall=start_wall)
    pending = sorted(acks)
    events: list[Any] = []
    for t, dets in make_trace(people, duration, fps=fps, seed=seed):
        while pending and pending[0][0] <= t:
            pending.pop(0)
            pings = [e for e in events if e.type == "ping"]
            if pings:
                events += pipeline.acknowledge(Ack(pings[-1].id, "on_my_way", "anna"), t)
        events += pipeline.step(t, dets)
    events += pipeline.finish()
    return events


def of_type(events: Iterable[Any], kind: str) -> list[Any]:
    return [e for e in events if e.type == kind]
