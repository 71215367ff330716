"""The synthetic shop trace: deterministic, in the trace format, and it tells the demo's story."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from edge.demo.synthetic import (
    DEMO_SETTINGS,
    FPS,
    SIZE,
    generate,
    shop_script,
    trace_lines,
    write_trace,
)


def test_same_seed_same_trace_other_seed_differs() -> None:
    assert list(trace_lines(seed=3)) == list(trace_lines(seed=3))
    assert list(trace_lines(seed=3)) != list(trace_lines(seed=4))


def test_lines_follow_the_trace_format() -> None:
    lines = [json.loads(line) for line in trace_lines()]
    assert lines[0] == {"format": "dwell-trace", "version": 1, "fps": FPS, "size": list(SIZE)}
    ts = [line["t"] for line in lines[1:]]
    assert np.allclose(np.diff(ts), 1 / FPS)
    w, h = SIZE
    for line in lines[1:]:
        assert set(line) == {"t", "people"}
        for person in line["people"]:
            x, y, bw, bh = person["box"]
            assert x >= 0 and y >= 0 and x + bw <= w and y + bh <= h and bw > 0 and bh > 0
            assert 0 < person["score"] < 1
            assert person["yaw"] is None or -90 <= person["yaw"] <= 90


def test_written_file_is_the_same_trace(tmp_path: Path) -> None:
    path = write_trace(tmp_path / "shop.jsonl", seed=1)
    assert path.read_text().splitlines() == list(trace_lines(seed=1))
    temp = write_trace(seed=1)
    try:
        assert temp.read_text() == path.read_text()
    finally:
        temp.unlink()


def test_script_has_every_role_and_people_never_overlap_much() -> None:
    roles = {a.role for a in shop_script()}
    assert roles == {"staff", "walk_through", "linger", "help_point", "look_around"}
    # Overlapping boxes of different people would test the tracker, not tell the demo's story.
    for _, det in generate(seed=0, miss_rate=0.0):
        b = det.xyxy
        for i in range(len(b)):
            for j in range(i + 1, len(b)):
                ix = min(b[i, 2], b[j, 2]) - max(b[i, 0], b[j, 0])
                iy = min(b[i, 3], b[j, 3]) - max(b[i, 1], b[j, 1])
                inter = max(ix, 0) * max(iy, 0)
                smaller = min((b[i, 2] - b[i, 0]) * (b[i, 3] - b[i, 1]),
                              (b[j, 2] - b[j, 0]) * (b[j, 3] - b[j, 1]))
                assert inter < 0.1 * smaller


def test_looking_around_sweeps_wide_and_walking_in_shows_no_face() -> None:
    looker = next(a for a in shop_script() if a.role == "look_around")
    t0, t1 = looker.sweeps[0]
    yaws = []
    for t, det in generate(seed=0, miss_rate=0.0):
        if t0 <= t <= t1:
            feet = looker.feet(t)
            assert feet is not None
            middle = (det.xyxy[:, 0] + det.xyxy[:, 2]) / 2 / SIZE[0]
            k = int(np.argmin(np.abs(middle - feet[0])))
            yaws.append(float(det.yaw[k]))
    assert max(yaws) > 40 and min(yaws) < -40
    first = next(det for t, det in generate(seed=0, miss_rate=0.0) if t == 2.0)
    assert any(math.isnan(y) for y in first.yaw)  # the walk-through, walking in


def test_demo_settings_are_valid_settings() -> None:
    from edge.config.settings import Settings

    settings = Settings(**DEMO_SETTINGS)
    assert settings.policy.space_window_s == 20.0
    assert {z.kind for z in settings.zones} == {"staff", "help_point", "entrance"}


def test_pipeline_pings_what_the_script_means() -> None:
    """Through the real pipeline: a linger ping held to the space window, a help-point ping
    inside it, a looking-around ping, and nothing for the walk-through or the staff."""
    import edge.behaviour.pipeline as pipeline_mod
    from edge.config.settings import Settings

    pipeline = pipeline_mod.Pipeline(Settings(**DEMO_SETTINGS), SIZE)
    events = []
    t = 0.0
    for t, det in generate(seed=0):
        events += pipeline.step(t, det)
    events += pipeline.finish(t)
    pings = [e for e in events if e.type == "ping"]
    reasons = sorted(p.reason for p in pings)
    assert reasons == ["help_point", "linger", "looking_around"], [e.to_json() for e in pings]
    space = DEMO_SETTINGS["policy"]["space_window_s"]
    for ping in pings:
        if ping.reason != "help_point":
            assert ping.dwell_s >= space - 1e-6
    help_ping = next(p for p in pings if p.reason == "help_point")
    assert help_ping.dwell_s < space
    assert len({p.visitor for p in pings}) == 3
