"""The rolling anonymous trace in state_dir: one gzip trace per run and day, pruned after
keep_days, replaying exactly what the observations decided, and readable when cut short."""

from __future__ import annotations

import gzip
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

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


def test_dwell_console_without_a_trace_plays_the_newest_rolling_one(tmp_path: Path) -> None:
    from edge.service.console_host import TraceConsole
    from tests.console_helpers import Client, console_config, finished

    folder = tmp_path / "state" / "trace"
    folder.mkdir(parents=True)
    for name in ("2026-05-01_090000.jsonl.gz", "2026-05-02_090000.jsonl.gz"):
        (folder / name).write_bytes(gzip.compress(GOLDEN_TRACE.read_bytes()))
    config = console_config(tmp_path)
    host = TraceConsole(load_settings(config), ("127.0.0.1", 0), trace=None,
                        config_path=config)
    try:
        assert host.player.path.name == "2026-05-02_090000.jsonl.gz"
        client = Client(host.url)
        assert client.login().status == 303
        listing = client.get("/api/traces").json()
        assert [t["name"] for t in listing] == ["2026-05-02", "2026-05-01"]  # by day
        assert listing[1]["files"] == ["2026-05-01_090000.jsonl.gz"]
        report = finished(client, client.get("/api/report?trace=2026-05-01")).json()
        assert report["total"]["pings"] == 3 and report["trace"] == "2026-05-01"
        by_file = finished(client, client.get(
            "/api/report?trace=2026-05-01_090000.jsonl.gz")).json()
        assert by_file["total"] == report["total"]  # a file name still names that file
        assert client.get("/api/report?trace=../../etc/passwd").status == 404
    finally:
        host.close()


def test_dwell_console_with_no_trace_anywhere_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edge.cli.main import main
    from tests.console_helpers import console_config

    rc = main(["console", "--config", str(console_config(tmp_path)), "--listen", "127.0.0.1:0"])
    assert rc == 2
    assert "no trace to show" in capsys.readouterr().err


def test_a_restart_splits_a_day_into_files_that_the_report_and_what_if_join(
        tmp_path: Path) -> None:
    """Two runs of the sensor on one day (a restart at 11:00) are one day in the console:
    the report's numbers are the sum of both runs' replays, bucketed by their own hours, and
    a visitor of the second run is named with its run (numbers start again at 1)."""
    from edge.console.report import outcome, report
    from edge.console.shelf import Shelf

    folder = tmp_path / "state" / "trace"
    folder.mkdir(parents=True)
    lines = GOLDEN_TRACE.read_text().splitlines()
    head = json.loads(lines[0])
    for name, start in (("2026-05-02_090000", "2026-05-02T09:00:00"),
                        ("2026-05-02_110000", "2026-05-02T11:00:00"),
                        ("2026-05-03_090000", "2026-05-03T09:00:00")):
        text = "\n".join([json.dumps({**head, "start": start}), *lines[1:]]) + "\n"
        (folder / f"{name}.jsonl.gz").write_bytes(gzip.compress(text.encode()))
    shelf = Shelf(tmp_path / "state")
    assert [t["name"] for t in shelf.listing()] == ["2026-05-03", "2026-05-02"]
    name, files = shelf.find("2026-05-02")
    assert [f.name for f in files] == ["2026-05-02_090000.jsonl.gz", "2026-05-02_110000.jsonl.gz"]
    settings = load_settings(GOLDEN_CONFIG)
    single = replay(files[0], settings).counts
    data = report(files, settings, name=name)
    assert data["total"]["pings"] == 2 * single.pings_sent
    assert data["total"]["visits"] == 2 * single.visits
    assert data["total"]["held_by_rule"] == {k: 2 * v for k, v in single.held.items()}
    assert [h["hour"] for h in data["hours"]] == ["2026-05-02 09:00", "2026-05-02 11:00"]
    assert data["hours"][0]["pings"] == data["hours"][1]["pings"] == single.pings_sent
    what = outcome(files, settings)
    never = what["lingered_never_pinged"]
    first = [w for w in never if isinstance(w, int)]
    assert first and [f"11:00:00/{w}" for w in first] == [w for w in never if isinstance(w, str)]
