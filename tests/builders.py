"""Builders for behaviour/policy tests: the scenes of edge/offline/scenes.py, the golden
files and the real pipeline run over a scene.

Regenerate the golden files (after an intended behaviour change, review the diff!):

    .venv/bin/python -m tests.builders golden
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edge.config.sections import Zone
from edge.config.settings import Settings
from edge.offline.replay import replay
from edge.offline.scenes import (  # noqa: F401  (re-exported for the tests)
    SIZE,
    Person,
    Yaw,
    browsing,
    facing,
    looking_around,
    make_detections,
    make_trace,
    no_face,
    standing,
    walk_through,
    write_trace,
)
from edge.offline.seen import SeenDays
from edge.vocabulary.acks import Ack

DATA = Path(__file__).resolve().parent / "data"
GOLDEN_TRACE = DATA / "golden_trace.jsonl"
GOLDEN_EVENTS = DATA / "golden_events.jsonl"
GOLDEN_CONFIG = DATA / "golden.toml"


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


def busy_people(seed: int) -> list[Person]:
    """A seeded busy floor: people standing, browsing, looking around, at the help point,
    walking through, staff behind the counter, arriving in pairs."""
    rng = np.random.default_rng(seed)
    people = [Person([(0.5, 60.0, 460.0), (200.0, 60.0, 460.0)], height=120.0),  # staff
              # in through the door on the left, a while at a shelf, and out the same way
              Person([(5.0, 20.0, 440.0), (9.0, 250.0, 400.0), (60.0, 250.0, 400.0),
                      (64.0, 20.0, 440.0), (65.0, 20.0, 440.0)], height=120.0),
              Person([(90.0, 20.0, 430.0), (94.0, 300.0, 380.0), (130.0, 320.0, 380.0),
                      (134.0, 20.0, 430.0), (135.0, 20.0, 430.0)], height=110.0)]
    for _ in range(14):
        t0 = float(rng.uniform(0, 150))
        t1 = t0 + float(rng.uniform(15, 60))
        x, y = float(rng.uniform(120, 560)), float(rng.uniform(250, 470))
        h = {"height": float(rng.uniform(90, 140))}
        kind = int(rng.integers(0, 5))
        if kind == 0:
            people.append(standing(t0, t1, x, y, **h))
        elif kind == 1:
            stops = [(float(rng.uniform(120, 560)), float(rng.uniform(250, 470)))
                     for _ in range(3)]
            people.append(browsing(t0, t1, stops, stop_s=float(rng.uniform(3, 12)), **h))
        elif kind == 2:
            people.append(standing(t0, t1, x, y, yaw=looking_around(t0 + 3, t1), **h))
        elif kind == 3:
            people.append(Person([(t0, 600.0, 250.0), (t0 + 4, 580.0, 440.0),
                                  (t1, 580.0, 440.0)], **h))  # walks to the help point
        else:
            people.append(walk_through(t0, y=y, **h))
            people.append(standing(t0 + 0.5, t1, x + 40, y, **h))  # and a pair
            people.append(standing(t0 + 1.0, t1, x + 80, y, **h))
    return people


def with_door(settings: Settings) -> Settings:
    """The golden zones and an entrance on the left, where the busy scenes' people walk in."""
    door = Zone(name="door", kind="entrance",
                polygon=[(0.0, 0.4), (0.12, 0.4), (0.12, 1.0), (0.0, 1.0)])
    return settings.model_copy(update={"zones": [*settings.zones, door]})


def events_of(path: Path, settings: Settings, days: SeenDays | None = None) -> list[dict]:
    """The events of replaying ``path``: in full, or through ``days`` (what-if's fast path)."""
    seen: list[Any] = []
    if days is None:
        replay(path, settings, on_event=seen.append)
    else:
        days.replay(path, settings, seen.append)
    return [e.to_json() for e in seen]
