"""Recorded days on disk (edge/offline/seen_store.py): a settled rolling trace is tracked once
and answered from ``state_dir/seen`` after that, with exactly the events of a full replay; a
file still being written, a given trace, a stale or unreadable recording never is."""

from __future__ import annotations

import gzip
import logging
import os
import time
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.config.settings import Settings, load_settings
from edge.console.api import changed
from edge.offline import seen_store
from edge.offline.replay import replay
from edge.offline.rolling import prune
from edge.offline.seen import SeenDays
from edge.offline.seen_store import SeenStore
from tests.builders import (
    GOLDEN_CONFIG,
    busy_people,
    events_of,
    make_trace,
    with_door,
    write_trace,
)

START = datetime(2026, 5, 2, 9, 0, 0)
DAY = "2026-05-02_090000.jsonl.gz"
CHANGES: list[dict[str, Any]] = [{"linger_s": 3.0}, {"linger_s": 60.0},
                                 {"space_window_s": 0.0}, {"visitor_cooldown_s": 0.0},
                                 {"max_pings_per_minute": 1}]


def settle(path: Path, age_s: float = 3600.0) -> Path:
    """Makes ``path`` look closed an hour ago (the rolling trace flushes every minute)."""
    then = time.time() - age_s
    os.utime(path, (then, then))
    return path


@pytest.fixture(scope="module")
def busy_text(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    tmp = tmp_path_factory.mktemp("busy")
    frames = make_trace(busy_people(3), 200.0, fps=10.0, seed=3)
    return write_trace(tmp / "busy.trace.jsonl", frames, start=START).read_bytes()


@pytest.fixture
def state(tmp_path: Path, busy_text: bytes) -> Path:
    """A state_dir with one settled day of a busy floor in trace/."""
    folder = tmp_path / "state" / "trace"
    folder.mkdir(parents=True)
    (folder / DAY).write_bytes(gzip.compress(busy_text))
    settle(folder / DAY)
    return tmp_path / "state"


@pytest.fixture(scope="module")
def base() -> Settings:
    return with_door(load_settings(GOLDEN_CONFIG))


def test_a_stored_day_answers_a_new_console_exactly_as_a_full_replay(
        state: Path, base: Settings) -> None:
    trace = state / "trace" / DAY
    first = SeenDays(store=SeenStore.of(state))
    assert events_of(trace, base, first) == events_of(trace, base)
    stored = state / "seen" / "2026-05-02_090000.seen.npz"
    assert first.full == 1 and stored.is_file()
    kinds = {e["type"] for e in events_of(trace, base)}
    assert {"entered", "exited", "ping", "party"} <= kinds  # crossings and first sightings
    pings = set()
    for change in CHANGES:  # a console started afresh each time: nothing in memory
        other = changed(base, {"policy": change})
        again = SeenDays(store=SeenStore.of(state))
        got = events_of(trace, other, again)
        assert (again.loaded, again.full) == (1, 0), change
        assert got == events_of(trace, other), change
        pings.add(sum(e["type"] == "ping" for e in got))
    assert len(pings) >= 3, "the changes must change what is pinged"


def test_a_trace_still_being_written_or_given_on_the_command_line_is_not_stored(
        tmp_path: Path, state: Path, base: Settings, busy_text: bytes) -> None:
    today = state / "trace" / "2026-05-03_090000.jsonl.gz"
    today.write_bytes(gzip.compress(busy_text))  # written just now: the sensor is on it
    given = tmp_path / "given.jsonl"
    given.write_bytes(busy_text)
    settle(given)
    days = SeenDays(store=SeenStore.of(state))
    for path in (today, given):
        days.replay(path, base, lambda e: None)
    assert days.full == 2 and not (state / "seen").exists()


def test_a_grown_trace_other_zones_or_other_code_replay_in_full(
        state: Path, base: Settings, busy_text: bytes,
        monkeypatch: pytest.MonkeyPatch) -> None:
    trace = state / "trace" / DAY
    SeenDays(store=SeenStore.of(state)).replay(trace, base, lambda e: None)
    other_zones = changed(base, {"behaviour": {"linger_radius": 0.2}})
    days = SeenDays(store=SeenStore.of(state))
    assert events_of(trace, other_zones, days) == events_of(trace, other_zones)
    assert (days.loaded, days.full) == (0, 1)  # and its recording replaces the stored one
    monkeypatch.setattr(seen_store, "CODE", "an-update")
    days = SeenDays(store=SeenStore.of(state))
    days.replay(trace, other_zones, lambda e: None)
    assert (days.loaded, days.full) == (0, 1)
    monkeypatch.undo()
    half = busy_text[: len(busy_text) // 2].rsplit(b"\n", 1)[0] + b"\n"
    trace.write_bytes(gzip.compress(half))
    settle(trace)
    days = SeenDays(store=SeenStore.of(state))
    assert events_of(trace, base, days) == events_of(trace, base)
    assert (days.loaded, days.full) == (0, 1)


def corrupt_truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:3000])


def corrupt_garbage(path: Path) -> None:
    path.write_bytes(b"not a zip at all")


def corrupt_arrays(path: Path) -> None:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["offsets"] = arrays["offsets"][:-5]  # frames no longer fit their rows
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)


def corrupt_meta(path: Path) -> None:
    with np.load(path) as npz:
        arrays = {k: npz[k] for k in npz.files}
    arrays["meta"] = np.frombuffer(b'{"format": "dwell-seen/1", "code"', np.uint8)
    with path.open("wb") as fh:
        np.savez_compressed(fh, **arrays)


def corrupt_member(path: Path) -> None:
    """A zip whose ``ids`` member is cut: numpy fails only when that member is read."""
    with zipfile.ZipFile(path) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    members["ids.npy"] = members["ids.npy"][:40]
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)


@pytest.mark.parametrize("damage", [corrupt_truncated, corrupt_garbage, corrupt_arrays,
                                    corrupt_meta, corrupt_member])
def test_an_unreadable_recording_is_named_in_the_log_and_the_day_replayed_in_full(
        damage: Any, state: Path, base: Settings, caplog: pytest.LogCaptureFixture) -> None:
    trace = state / "trace" / DAY
    SeenDays(store=SeenStore.of(state)).replay(trace, base, lambda e: None)
    stored = state / "seen" / "2026-05-02_090000.seen.npz"
    damage(stored)
    other = changed(base, {"policy": {"linger_s": 3.0}})
    days = SeenDays(store=SeenStore.of(state))
    with caplog.at_level(logging.WARNING, logger="dwell.console"):
        got = events_of(trace, other, days)
    assert got == events_of(trace, other)
    assert (days.loaded, days.full) == (0, 1)
    assert str(stored) in caplog.text and "unreadable" in caplog.text
    again = SeenDays(store=SeenStore.of(state))  # the full replay stored a good one again
    again.replay(trace, other, lambda e: None)
    assert (again.loaded, again.full) == (1, 0)


def test_recordings_go_with_their_traces(state: Path, base: Settings, busy_text: bytes) -> None:
    folder = state / "trace"
    old = folder / "2026-04-20_090000.jsonl.gz"
    old.write_bytes(gzip.compress(busy_text))
    settle(old)
    days = SeenDays(store=SeenStore.of(state))
    assert days.prerecord([old, folder / DAY], base) == [old, folder / DAY]
    assert sorted(p.name for p in (state / "seen").iterdir()) == [
        "2026-04-20_090000.seen.npz", "2026-05-02_090000.seen.npz"]
    prune(folder, keep_days=3, today=datetime(2026, 5, 2).date())  # the sensor's daily prune
    assert [p.name for p in (state / "seen").iterdir()] == ["2026-05-02_090000.seen.npz"]
    (folder / DAY).unlink()  # deleted by hand: the console's idle work deletes its recording
    gone = SeenStore.of(state).prune([])
    assert [p.name for p in gone] == ["2026-05-02_090000.seen.npz"]


def test_prerecord_skips_what_is_stored_or_still_written_and_gives_way(
        state: Path, base: Settings, busy_text: bytes) -> None:
    folder = state / "trace"
    today = folder / "2026-05-03_090000.jsonl.gz"
    today.write_bytes(gzip.compress(busy_text))
    days = SeenDays(store=SeenStore.of(state))
    asked = []

    def waiting() -> bool:  # a question arrives while the day is being recorded
        asked.append(1)
        return len(asked) > 1

    assert days.prerecord([folder / DAY, today], base, stop=waiting) == []
    assert not any((state / "seen").glob("*.npz")), "a recording given up stores nothing"
    assert days.prerecord([folder / DAY, today], base) == [folder / DAY]
    assert days.prerecord([folder / DAY, today], base) == []  # already stored
    assert days.nbytes == 0, "recorded ahead, not held in memory"
    assert len(asked) >= 2


def test_the_console_records_settled_days_when_idle_and_answers_the_first_question_from_disk(
        tmp_path: Path, state: Path) -> None:
    from edge.service.console_host import TraceConsole
    from tests.console_helpers import Client, console_config, finished

    config = console_config(tmp_path, extra='\n[[zones]]\nname = "door"\nkind = "entrance"\n'
                            'polygon = [[0.0, 0.4], [0.12, 0.4], [0.12, 1.0], [0.0, 1.0]]\n')
    host = TraceConsole(load_settings(config), ("127.0.0.1", 0), trace=None,
                        config_path=config, speed=50.0)
    console = host.server.console
    try:
        console.idle_work()  # what the jobs worker runs after first_idle_s of no question
        assert (state / "seen" / "2026-05-02_090000.seen.npz").is_file()
        client = Client(host.url)
        assert client.login().status == 303
        answer = finished(client, client.post_json(
            "/api/whatif", {"trace": "2026-05-02", "changes": {"policy": {"linger_s": 60}}}))
        data = answer.json()
        assert (console.days.loaded, console.days.full) == (1, 0)
        full = replay(state / "trace" / DAY, changed(console.settings,
                                                     {"policy": {"linger_s": 60}})).counts
        assert data["changed"]["pings"] == full.pings_sent
    finally:
        host.close()


def test_a_recording_that_cannot_be_stored_still_answers(
        state: Path, base: Settings, caplog: pytest.LogCaptureFixture) -> None:
    (state / "seen").write_text("a file where the folder should be")  # or a full disk
    trace = state / "trace" / DAY
    days = SeenDays(store=SeenStore.of(state))
    with caplog.at_level(logging.WARNING, logger="dwell.console"):
        assert events_of(trace, base, days) == events_of(trace, base)
    assert "cannot store the recorded day" in caplog.text and DAY in caplog.text
    assert days.prerecord([trace], base) == []  # nothing stored, nothing claimed
