"""What-if's fast path (edge/offline/seen.py) against the full `dwell replay` pipeline: the
same events, event for event, for changed values of every [policy] key, on the golden
trace, real people's boxes (TUD-Stadtmitte) and seeded synthetic busy scenes."""

from __future__ import annotations

import gzip
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from edge.config.settings import load_settings
from edge.console.api import changed
from edge.console.report import outcome
from edge.offline.mot import read_mot_detections
from edge.offline.scenes import (
    make_trace,
    write_trace,
)
from edge.offline.seen import SeenDay, SeenDays, seen_key
from edge.offline.trace import read_trace
from tests.builders import GOLDEN_CONFIG, GOLDEN_TRACE, busy_people, events_of, with_door
from tests.conftest import shared_file

START = datetime(2026, 5, 2, 9, 0, 0)
POLICY_CHANGES: list[dict[str, Any]] = [
    {"space_window_s": 0.0}, {"space_window_s": 45.0},
    {"linger_s": 3.0}, {"linger_s": 25.0}, {"linger_s": 60.0},
    {"look_around_turns": 1}, {"look_around_turns": 5},
    {"look_around_window_s": 3.0}, {"look_around_window_s": 30.0},
    {"visitor_cooldown_s": 0.0}, {"visitor_cooldown_s": 10.0},
    {"max_pings_per_minute": 1}, {"max_pings_per_minute": 10},
    {"stale_s": 1.0}, {"stale_s": 600.0},
    {"escalate_after_s": 5.0}, {"escalate_after_s": 30.0},
    {"opening_hours": ["09:00-09:01"]}, {"opening_hours": ["09:02-18:00"]},
    {"linger_s": 5.0, "space_window_s": 5.0, "max_pings_per_minute": 2},
]


@pytest.fixture(scope="module")
def traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("seen")
    out = {"golden": GOLDEN_TRACE}
    for seed in (1, 2):
        frames = make_trace(busy_people(seed), 200.0, fps=10.0, seed=seed)
        out[f"busy{seed}"] = write_trace(tmp / f"busy{seed}.trace.jsonl", frames, start=START)
    return out


@pytest.fixture(scope="module")
def days() -> SeenDays:
    return SeenDays(keep=8)


@pytest.mark.parametrize("name", ["golden", "busy1", "busy2"])
def test_fast_what_if_gives_the_events_of_a_full_replay_for_every_policy_key(
        name: str, traces: dict[str, Path], days: SeenDays) -> None:
    path, base = traces[name], load_settings(GOLDEN_CONFIG)
    if name != "golden":
        base = with_door(base)
    recorded = events_of(path, base, days)  # the first question records the day
    assert recorded == events_of(path, base)
    if name != "golden":  # entrance crossings, attended, parties and help points happen
        kinds = {e["type"] for e in recorded}
        assert {"entered", "exited", "attended", "party", "at_help_point"} <= kinds, kinds
    pings = set()
    # the golden trace gets every change; each busy scene half of them (busy2 those at even
    # positions, busy1 the odd ones: both values of a key are checked on a busy floor)
    changes = POLICY_CHANGES if name == "golden" else POLICY_CHANGES[int(name[-1]) % 2::2]
    for change in changes:
        other = changed(base, {"policy": change})
        before = days.fast
        fast = events_of(path, other, days)
        assert days.fast == before + 1, "a [policy] change must not re-track the day"
        assert fast == events_of(path, other), f"{name} {change}"
        pings.add(sum(e["type"] == "ping" for e in fast))
    assert len(pings) >= 4, "the changes must actually change what is pinged"


def test_fast_outcome_equals_the_full_one_on_a_busy_scene(traces: dict[str, Path],
                                                          days: SeenDays) -> None:
    path, base = traces["busy1"], load_settings(GOLDEN_CONFIG)
    other = changed(base, {"policy": {"linger_s": 20.0, "visitor_cooldown_s": 30.0}})
    outcome([path], base, days)
    fast, full = outcome([path], other, days), outcome([path], other)
    fast.pop("seconds")
    full.pop("seconds")
    assert fast == full and fast["pings"] > 0 and fast["lingered_never_pinged"]


def test_real_people_tud_stadtmitte(tmp_path: Path) -> None:
    gt = shared_file("footage/TUD-Stadtmitte/gt/gt.txt")
    path = write_trace(tmp_path / "tud.trace.jsonl", read_mot_detections(gt, 25.0), fps=25.0,
                       size=(640, 480), start=START)
    base = changed(load_settings(GOLDEN_CONFIG), {"policy": {"space_window_s": 0.0,
                                                             "linger_s": 6.0}})
    days = SeenDays()
    assert events_of(path, base, days) == events_of(path, base)
    counts = set()
    for change in ({"linger_s": 2.0}, {"linger_s": 4.0}, {"space_window_s": 3.0},
                   {"visitor_cooldown_s": 0.0, "linger_s": 1.0}, {"max_pings_per_minute": 1},
                   {"escalate_after_s": 1.0},
                   {"opening_hours": ["08:00-09:00"]}):  # closed all along: every ping held
        other = changed(base, {"policy": change})
        fast = events_of(path, other, days)
        assert fast == events_of(path, other), change
        counts.add(sum(e["type"] == "ping" for e in fast))
    assert days.full == 1 and len(counts) >= 3


@pytest.mark.parametrize("section,change", [
    ("behaviour", {"linger_radius": 0.2}), ("behaviour", {"visit_min_s": 3.0}),
    ("tracker", {"min_iou": 0.5})])
def test_a_change_that_tracker_or_visits_read_replays_in_full(
        section: str, change: dict, traces: dict[str, Path]) -> None:
    path, base = traces["busy2"], load_settings(GOLDEN_CONFIG)
    other = changed(base, {section: change})
    assert seen_key(other) != seen_key(base)
    days = SeenDays()
    days.replay(path, base, lambda e: None)
    assert events_of(path, other, days) == events_of(path, other)
    assert (days.full, days.fast) == (2, 0)
    day, _ = SeenDay.record(path, base, lambda e: None)
    with pytest.raises(ValueError, match="replay in full"):
        day.replay(other, lambda e: None)


def test_policy_keys_are_not_part_of_the_recording_key() -> None:
    base = load_settings(GOLDEN_CONFIG)
    for change in POLICY_CHANGES:
        assert seen_key(changed(base, {"policy": change})) == seen_key(base)


def test_todays_growing_file_is_tracked_on_from_where_it_was_recorded(
        tmp_path: Path, traces: dict[str, Path]) -> None:
    """The rolling trace of today is a gzip stream the sensor flushes every minute: a question
    asked at noon records the morning; one asked later tracks only what came since, and
    decides exactly what a full replay of the file as it is then decides."""
    base = with_door(load_settings(GOLDEN_CONFIG))
    lines = traces["busy1"].read_text().splitlines(keepends=True)
    today = tmp_path / "2026-05-02_090000.jsonl.gz"
    out = gzip.open(today, "wt", encoding="utf-8")  # noqa: SIM115 (the sensor keeps it open)
    days = SeenDays()
    try:
        for upto in (700, 1400):
            out.write("".join(lines[:upto] if upto == 700 else lines[700:upto]))
            out.write(lines[upto][:20])  # half a line: the sensor is writing it
            out.flush()
            for change in ({}, {"linger_s": 3.0}):
                other = changed(base, {"policy": change})
                assert events_of(today, other, days) == events_of(today, other), (upto, change)
            lines[upto] = lines[upto][20:]
        assert (days.full, days.extended, days.fast) == (1, 1, 2)
        (day,) = days._days.values()
        assert len(day.times) == sum(1 for _ in read_trace(today)[1])  # each frame once
    finally:
        out.write("".join(lines[1400:]))
        out.close()
    grown = changed(base, {"policy": {"visitor_cooldown_s": 0.0}})
    assert events_of(today, grown, days) == events_of(today, grown)  # closed at midnight
    assert days.extended == 2 and days.full == 1
    other_day = traces["busy2"].read_text()
    today.write_bytes(gzip.compress(other_day.encode()))  # not the same file grown
    assert events_of(today, base, days) == events_of(today, base)
    assert days.full == 2
