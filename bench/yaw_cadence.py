"""Head yaw read at most every ``yaw.interval_s`` per visitor: which decisions change?

Replays traces through the whole pipeline twice in one run: with every recorded yaw (what
reading every head on every frame gives) and with yaw kept only where
edge/perception/yaw_schedule.py would have read it (``YawSchedule`` fed the pipeline's own
``head_hints`` after each step, exactly as `dwell run` drives it), for several intervals.
Prints, per trace and interval: heads read (share of person-frames), the visitors seen looking
around in both runs / only with every yaw / only with the schedule, the largest delay of a
visitor's first looking_around, whether the same visitors are pinged for the same reasons,
and the largest delay of a ping.

Traces: the golden trace (tests/data, 10 fps, four looking-around visitors) and seeded scenes
(edge/offline/scenes.py) at 10 and 25 fps: visitors looking around with sweep periods of
2-4 s and amplitudes of 35-60 degrees (half of them with their back to the camera at first and
no face when turned past 50 degrees), browsers and walkers around them.

    .venv/bin/python bench/yaw_cadence.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.config.settings import Settings, load_settings
from edge.offline.scenes import (
    Person,
    Yaw,
    browsing,
    looking_around,
    make_trace,
    standing,
    walk_through,
)
from edge.offline.trace import read_trace
from edge.perception.yaw_schedule import YawSchedule
from edge.service.sensor import Sensor
from edge.vocabulary.events import Event
from edge.vocabulary.types import Detections

ROOT = Path(__file__).resolve().parent.parent
INTERVALS = (0.1, 0.2, 0.3, 0.5, 1.0)
Frames = list[tuple[float, Detections]]


def golden() -> tuple[Settings, Frames]:
    data = ROOT / "tests" / "data"
    _, frames = read_trace(data / "golden_trace.jsonl")
    return load_settings(data / "golden.toml"), list(frames)


def profile_lost(yaw: Yaw, t_away: float, beyond_deg: float = 50.0) -> Yaw:
    """No face before ``t_away`` (back to the camera) nor when turned past ``beyond_deg``
    (a profile: the face detector finds no face there)."""

    def seen(t: float) -> float | None:
        y = yaw(t)
        return None if t < t_away or y is None or abs(y) > beyond_deg else y

    return seen


def scene(fps: float, seed: int) -> tuple[Settings, Frames]:
    rng = np.random.default_rng(seed)
    people: list[Person] = []
    for k in range(6):  # lookers, each at a spot of their own, starting at different times
        t0 = float(rng.uniform(0, 20))
        period = float(rng.uniform(2.0, 4.0))
        amplitude = float(rng.uniform(35, 60))
        yaw = looking_around(t0 + 25, t0 + 45, period, amplitude)
        if k % 2:  # half of them: back to the camera at first, no face in profile
            yaw = profile_lost(yaw, t0 + float(rng.uniform(5, 24)))
        people.append(standing(t0, t0 + 60, 80 + 95 * k, float(rng.uniform(250, 450)),
                               yaw=yaw))
    people += [browsing(5, 80, [(150, 300), (450, 350)]), walk_through(12), walk_through(40)]
    settings = load_settings(None, policy={"space_window_s": 20.0})
    return settings, make_trace(people, 85.0, fps=fps, seed=seed)


def run(settings: Settings, frames: Frames, interval: float | None) -> tuple[list[Event], float]:
    """Events, and the share of person-frames whose yaw was kept (None: all of them)."""
    sensor = Sensor(settings, frame_size=(640, 480), ping_id=lambda v, t, r: f"{v}-{t}-{r}")
    assert sensor.pipeline is not None
    schedule = YawSchedule(interval or 0.0)
    events: list[Event] = []
    kept = total = 0
    for t, dets in frames:
        if interval is not None and len(dets):
            wanted = schedule.choose(t, dets.xyxy, dets.score, sensor.pipeline.head_hints)
            dets = dets.with_yaw(np.where(wanted, dets.yaw, np.nan).astype(np.float32))
            schedule.saw(dets.yaw)
            kept += int(wanted.sum())
        total += len(dets)
        events += sensor.step(t, dets)
    events += sensor.finish()
    return events, (kept / total if interval is not None and total else 1.0)


def first_looks(events: list[Event]) -> dict[int, float]:
    """Each visitor's first looking_around (later ones cannot ping again within the cooldown)."""
    first: dict[int, float] = {}
    for e in events:
        if e.type == "looking_around":
            first.setdefault(e.visitor, e.t)
    return first


def compare(base: list[Event], other: list[Event]) -> tuple[int, int, int, float]:
    """Visitors seen looking around: (in both, only in ``base``, only in ``other``, largest
    delay of the first look in s)."""
    a, b = first_looks(base), first_looks(other)
    both = a.keys() & b.keys()
    delay = max((b[v] - a[v] for v in both), default=float("nan"), key=abs)
    return len(both), len(a.keys() - b.keys()), len(b.keys() - a.keys()), delay


def pings(events: list[Event]) -> dict[tuple[int, str], float]:
    """(visitor, reason) of each ping -> when."""
    return {(e.visitor, getattr(e, "reason", "")): e.t for e in events if e.type == "ping"}


def ping_delay(base: list[Event], other: list[Event]) -> float:
    a, b = pings(base), pings(other)
    return max((b[k] - a[k] for k in a.keys() & b.keys()), default=float("nan"), key=abs)


def main() -> None:
    cases = {"golden 10 fps": golden()}
    for fps in (10.0, 25.0):
        for seed in range(3):
            cases[f"scene {seed} {fps:g} fps"] = scene(fps, seed)
    print(f"{'trace':<18} {'interval':>8} {'read':>6} {'lookers':>7} {'both':>5} {'miss':>5} "
          f"{'extra':>5} {'delay s':>7} {'pings':>5} {'same':>5} {'delay s':>7}")
    for name, (settings, frames) in cases.items():
        base, _ = run(settings, frames, None)
        looks = len(first_looks(base))
        for interval in INTERVALS:
            events, read = run(settings, frames, interval)
            equal, miss, extra, delay = compare(base, events)
            print(f"{name:<18} {interval:8.1f} {read:6.0%} {looks:7d} {equal:5d} {miss:5d} "
                  f"{extra:5d} {delay:7.2f} {len(pings(base)):5d} "
                  f"{pings(base).keys() == pings(events).keys()!s:>5} "
                  f"{ping_delay(base, events):7.2f}")


if __name__ == "__main__":
    main()
