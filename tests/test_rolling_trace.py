"""The rolling anonymous trace in state_dir: one gzip trace per run and day, pruned after
keep_days, replaying exactly what the observations decided, and readable when cut short."""

from __future__ import annotations

import gzip
from datetime import datetime, timedelta
from pathlib import Path

from edge.config.settings import load_settings
from edge.offline.replay import replay
from edge.offline.rolling import RollingTrace
from edge.offline.trace import read_trace
from edge.service.sensor import Sensor
from tests.console_helpers import GOLDEN_CONFIG, GOLDEN_TRACE


def test_a_day_is_recorded_compressed_and_replays_what_the_sensor_decided(
        tmp_path: Path) -> None:
    settings = load_settings(GOLDEN_CONFIG)
    header, frames = read_trace(GOLDEN_TRACE)
    start = datetime(2026, 5, 2, 9, 0).astimezone()
    clock = {"t": 0.0}
    rolling = RollingTrace(tmp_path, 7, lambda: header.size, header.fps,
                           now=lambda: start + timedelta(seconds=clock["t"]))
    sensor = Sensor(settings, frame_size=header.size, looked=[rolling.write])
    for t, det in frames:
        clock["t"] = t
        sensor.step(t, det)
    sensor.finish()
    rolling.close()
    files = sorted((tmp_path / "trace").iterdir())
    assert [f.name for f in files] == ["2026-05-02_090000.jsonl.gz"]
    assert files[0].stat().st_size < GOLDEN_TRACE.stat().st_size / 4  # compressed
    assert b'"format":"dwell-trace"' in gzip.decompress(files[0].read_bytes())[:200]
    recorded, direct = replay(files[0], settings), replay(GOLDEN_TRACE, settings)
    assert recorded.counts.pings == direct.counts.pings == sensor.counts.pings
    assert recorded.counts.held == direct.counts.held
    assert read_trace(files[0])[0].start == start.replace(microsecond=0)


def test_midnight_starts_a_new_file_and_old_days_are_deleted(tmp_path: Path) -> None:
    folder = tmp_path / "trace"
    folder.mkdir()
    for name in ("2026-04-20_080000.jsonl.gz", "2026-04-30_080000.jsonl.gz", "notes.txt"):
        (folder / name).write_bytes(b"x")
    header, frames = read_trace(GOLDEN_TRACE)
    start = datetime(2026, 5, 1, 23, 59, 30).astimezone()
    clock = {"t": 0.0}
    rolling = RollingTrace(tmp_path, 3, lambda: header.size, header.fps,
                           now=lambda: start + timedelta(seconds=clock["t"]))
    for t, det in frames:
        clock["t"] = t
        rolling.write(t, det)
    rolling.close()
    names = sorted(p.name for p in folder.iterdir())
    # keep_days 3 on 2026-05-02: 04-30, 05-01 and 05-02 stay, 04-20 goes; other files stay
    assert names == ["2026-04-30_080000.jsonl.gz", "2026-05-01_235930.jsonl.gz",
                     "2026-05-02_000000.jsonl.gz", "notes.txt"]
    first, second = (list(read_trace(folder / n)[1]) for n in names[1:3])
    assert first and second and second[0][0] < 1.0  # the new day's t starts again at ~0
    assert abs(len(first) + len(second) - sum(1 for _ in read_trace(GOLDEN_TRACE)[1])) == 0


def test_a_file_cut_short_replays_up_to_its_last_complete_frame(tmp_path: Path) -> None:
    whole = gzip.compress(GOLDEN_TRACE.read_bytes())
    cut = tmp_path / "2026-05-02_090000.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    frames = list(read_trace(cut)[1])
    assert 100 < len(frames) < 11751
    assert replay(cut, load_settings(GOLDEN_CONFIG)).frames == len(frames)
