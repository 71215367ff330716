"""Yaw read at most every ``yaw.interval_s`` per visitor decides what reading every head on
every frame decides: replays run both ways, as `dwell run` drives perception (the pipeline's
own head hints after each step), on the golden trace and seeded scenes of people looking
around (bench/yaw_cadence.py prints the same comparison for several intervals)."""

from __future__ import annotations

import pytest

from bench.yaw_cadence import first_looks, golden, pings, run, scene
from edge.config.sections import YawConfig

DEFAULT = YawConfig().interval_s  # type: ignore[call-arg]


def test_the_golden_trace_pings_alike_with_the_default_interval() -> None:
    settings, frames = golden()
    every, _ = run(settings, frames, None)
    scheduled, read = run(settings, frames, DEFAULT)
    assert pings(scheduled).keys() == pings(every).keys()
    assert first_looks(scheduled).keys() == first_looks(every).keys()
    assert read < 0.6  # at 10 fps, about every other head


@pytest.mark.parametrize("fps", [10.0, 25.0])
@pytest.mark.parametrize("seed", range(3))
def test_every_looker_is_still_seen_looking_around(fps: float, seed: int) -> None:
    settings, frames = scene(fps, seed)
    every, _ = run(settings, frames, None)
    scheduled, read = run(settings, frames, DEFAULT)
    looks, seen = first_looks(every), first_looks(scheduled)
    assert len(looks) >= 6 and seen.keys() == looks.keys()
    assert all(abs(seen[v] - looks[v]) <= 2.5 for v in looks)  # at most about one sweep later
    assert len(pings(scheduled)) == len(pings(every))
    assert read < (0.6 if fps == 10 else 0.25)


def test_reading_once_a_second_would_miss_lookers() -> None:
    """Why the default is not longer: the same comparison catches what a 1 s interval loses."""
    missed = 0
    for seed in range(3):
        settings, frames = scene(25.0, seed)
        every, _ = run(settings, frames, None)
        sparse, _ = run(settings, frames, 1.0)
        missed += len(first_looks(every).keys() - first_looks(sparse).keys())
    assert missed > 0
