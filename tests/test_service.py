"""The service's parts: day stats, the sensor with its MQTT link, and the run loop's threads.

Unit tests of the code around the stages, so the publisher and the source are fakes here;
tests/test_run_cmd.py runs the real CLI against a real broker and a real video.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edge.config.settings import Settings
from edge.delivery.status import StatsSnapshot, StatusSnapshot
from edge.demo.synthetic import DEMO_SETTINGS, SIZE, generate
from edge.service.core import DayStats, MqttLink, day_counts_path
from edge.service.daycounts import DayCountsFile
from edge.service.live import Service
from edge.service.sensor import Sensor
from edge.vocabulary.acks import Ack
from edge.vocabulary.events import Acknowledged, Ping, VisitEnded, VisitStarted
from edge.vocabulary.interfaces import AckHandler, FrameSource, Publisher, SourceStats
from edge.vocabulary.types import Detections, Frame


def frame(i: int, t: float | None = None) -> Frame:
    return Frame(np.zeros((48, 64, 3), np.uint8), i / 10 if t is None else t, i)


class FakePublisher(Publisher):
    def __init__(self, settings: Settings, on_ack: AckHandler) -> None:
        self.on_ack = on_ack
        self.connection_error = None
        self.pings: list[Ping] = []
        self.statuses: list[StatusSnapshot] = []
        self.stats: list[StatsSnapshot] = []
        self.closed = False

    def publish(self, ping: Ping) -> None:
        self.pings.append(ping)

    def close(self) -> None:
        self.closed = True

    def set_status(self, snapshot: StatusSnapshot) -> None:
        self.statuses.append(snapshot)

    def publish_stats(self, snapshot: StatsSnapshot) -> None:
        self.stats.append(snapshot)

    def ack_median_s(self) -> float | None:
        return None

    def wait_connected(self, timeout: float) -> bool:
        return True

    def drain(self, timeout: float) -> int:
        return 0


def test_day_stats_count_visitors_not_staff_and_reset_at_midnight() -> None:
    day = [date(2026, 5, 2)]
    stats = DayStats(today=lambda: day[0])
    stats.observe([VisitStarted(1.0, 1), VisitStarted(1.0, 2, staff=True),
                   VisitStarted(2.0, 3), VisitEnded(9.0, 1, dwell_s=8.0),
                   VisitEnded(9.0, 2, dwell_s=8.0, staff=True), VisitEnded(20.0, 3, dwell_s=18.0),
                   Ping(5.0, 1, id="a", reason="linger"), Ping(6.0, 3, id="b",
                                                              reason="help_point"),
                   Acknowledged(7.0, 1, ping_id="a", action="on_my_way")])
    snap = stats.snapshot(1.5)
    assert (snap.visitors_today, snap.dwell_median_s, snap.pings_today, snap.acks) == (
        2, 13.0, 2, 1)
    assert snap.pings_by_reason == {"linger": 1, "help_point": 1}
    assert snap.ack_median_s == 1.5
    day[0] = date(2026, 5, 3)
    stats.observe([])
    assert stats.snapshot(None).visitors_today == 0


def demo_settings(state_dir: Path) -> Settings:
    return Settings(**DEMO_SETTINGS, yaw={"enabled": False}, state_dir=state_dir)


def linked(settings: Settings) -> tuple[Sensor, MqttLink, FakePublisher]:
    sensor = Sensor(settings, frame_size=SIZE)
    link = MqttLink(settings, sensor.on_ack, FakePublisher)
    sensor.sinks.append(link.on_event)
    assert isinstance(link.publisher, FakePublisher)
    return sensor, link, link.publisher


def test_link_publishes_pings_and_the_sensor_takes_acks_from_another_thread(
        tmp_path: Path) -> None:
    sensor, link, publisher = linked(demo_settings(tmp_path))
    acked: list[Acknowledged] = []
    for t, det in generate(seed=0):
        for ev in sensor.step(t, det):
            if isinstance(ev, Acknowledged):
                acked.append(ev)
        if len(publisher.pings) == 1 and not acked and not sensor.acks.qsize():
            # the watch answers on paho's thread
            ack = Ack(publisher.pings[0].id, "on_my_way", "anna")
            threading.Thread(target=publisher.on_ack, args=(ack,)).start()
    sensor.finish()
    assert [p.reason for p in publisher.pings] == ["help_point", "linger", "looking_around"]
    assert len(acked) == 1 and acked[0].ping_id == publisher.pings[0].id
    assert link.stats.tally.acks == 1 and link.stats.tally.visits == 4
    assert sensor.counts == link.stats.tally  # one count of the same events, read twice


def shop_day(settings: Settings) -> MqttLink:
    """One run of the synthetic shop through a fresh sensor and link (a sensor's lifetime)."""
    sensor, link, _ = linked(settings)
    sensor.run(generate(seed=0))
    return link


def test_day_counts_continue_after_a_restart_and_reset_the_next_day(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path)
    first = shop_day(settings).stats.snapshot(None)
    assert first.pings_today == 3 and first.visitors_today == 4
    second = shop_day(settings).stats.snapshot(None)  # restarted the same day: continues
    assert (second.pings_today, second.visitors_today) == (6, 8)
    assert second.pings_by_reason == {k: 2 * v for k, v in first.pings_by_reason.items()}
    assert second.dwell_median_s == first.dwell_median_s
    # the same file read on the next day: a fresh count, and saved as that day's
    day = [date.today()]
    store = DayCountsFile(day_counts_path(settings))
    stats = DayStats(today=lambda: day[0], store=store)
    assert stats.snapshot(None).pings_today == 6
    day[0] = date.fromordinal(day[0].toordinal() + 1)
    stats.observe([])
    assert stats.snapshot(None).pings_today == 0
    assert DayStats(today=lambda: day[0], store=store).snapshot(None).pings_today == 0
    # a file of yesterday's, read at a restart today, is not today's count
    stats.observe([Ping(1.0, 1, id="x", reason="linger")])
    assert DayStats(today=lambda: day[0], store=store).snapshot(None).pings_today == 1
    later = date.fromordinal(day[0].toordinal() + 1)
    assert DayStats(today=lambda: later, store=store).snapshot(None).pings_today == 0


@pytest.mark.parametrize("content", [b"{\"version\": 1, \"day\": \"20", b"\x00\xff\xfe",
                                     b'{"version": 1, "day": "2026-05-02", "visits": -3}',
                                     b'[1, 2]', b'{"version": 1, "day": "x"}'])
def test_a_corrupt_day_counts_file_is_quarantined_not_fatal(
        tmp_path: Path, content: bytes, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "day-shop-entrance.json"
    path.write_bytes(content)
    day = date(2026, 5, 2)
    stats = DayStats(today=lambda: day, store=DayCountsFile(path, clock=lambda: 0.0))
    assert stats.snapshot(None).pings_today == 0
    moved = tmp_path / "day-shop-entrance.json.corrupt-19700101T000000Z"
    assert moved.read_bytes() == content and not path.exists()
    assert any("is corrupt" in r.getMessage() and "moved aside" in r.getMessage()
               for r in caplog.records)
    stats.observe([Ping(1.0, 1, id="x", reason="linger")])  # and counting goes on, saved
    assert DayStats(today=lambda: day, store=DayCountsFile(path)).snapshot(None).pings_today == 1


def test_an_unwritable_state_dir_does_not_stop_the_counting(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    stats = DayStats(store=DayCountsFile(blocker / "day.json"))  # parent is not a directory
    stats.observe([Ping(1.0, 1, id="x", reason="linger")])
    stats.observe([Ping(2.0, 1, id="y", reason="linger")])
    assert stats.snapshot(None).pings_today == 2
    assert sum("cannot save today's counts" in r.getMessage() for r in caplog.records) == 1


def test_reload_keeps_current_visits(tmp_path: Path) -> None:
    sensor, _, _ = linked(demo_settings(tmp_path))
    trace = list(generate(seed=0))
    for t, det in trace[:150]:  # 15 s: the lingerer is inside
        sensor.step(t, det)
    inside = sensor.visitors_now
    assert inside >= 1
    changed = dict(DEMO_SETTINGS, policy={**DEMO_SETTINGS["policy"], "space_window_s": 5.0})
    sensor.reload(Settings(**changed, yaw={"enabled": False}, state_dir=tmp_path))
    assert sensor.visitors_now == inside
    ended: list[VisitEnded] = []
    for t, det in trace[150:]:
        ended += [e for e in sensor.step(t, det) if isinstance(e, VisitEnded)]
    ended += [e for e in sensor.finish() if isinstance(e, VisitEnded)]
    # the lingerer's visit began at ~4.6 s, before the reload: its dwell counts from there
    assert any(e.dwell_s > 40 for e in ended if not e.staff)


class FakeCamera(FrameSource):
    """A live source that delivers some frames, then loses the camera until closed."""

    def __init__(self, frames: int) -> None:
        self.live = True
        self.n = frames
        self.stats = SourceStats()
        self.closed = threading.Event()

    def next_frame(self, timeout: float) -> Frame | None:
        if self.stats.frames < self.n:
            time.sleep(0.01)
            self.stats.frames += 1
            return frame(self.stats.frames - 1)
        self.stats.ok = False
        self.closed.wait(timeout)
        return None

    def frames(self) -> Iterator[Frame]:
        while not self.ended:
            if (f := self.next_frame(0.5)) is not None:
                yield f

    @property
    def ended(self) -> bool:
        return self.closed.is_set()

    def close(self) -> None:
        self.closed.set()


class NoPeople:
    def detect(self, image: Any) -> Detections:
        return Detections.empty()


def test_lost_camera_shows_in_status_and_stop_is_clean(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    camera = FakeCamera(frames=20)
    monkeypatch.setattr("edge.service.live.open_live_source", lambda *a, **k: camera)
    service = Service(Settings(yaw={"enabled": False}, state_dir=tmp_path), "0",
                      publisher_factory=FakePublisher, detector=NoPeople())
    monkeypatch.setattr("edge.service.live.STALL_S", 0.3)
    result: list[int] = []
    runner = threading.Thread(target=lambda: result.append(service.run(install_signals=False)))
    runner.start()
    publisher = service.link.publisher
    assert isinstance(publisher, FakePublisher)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
            s.camera_ok is False for s in publisher.statuses):
        time.sleep(0.05)
    assert any(s.camera_ok is True for s in publisher.statuses)
    assert publisher.statuses[-1].camera_ok is False
    assert runner.is_alive()  # still running, still retrying
    service.request_stop()
    runner.join(10)
    assert result == [0]
    assert publisher.closed and camera.closed.is_set()
    assert publisher.stats  # final stats on the way out


def test_the_last_frame_before_a_lost_camera_is_decided_without_waiting_for_the_next(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # dwell run overlaps the detector on frame N with the rest on N-1 (Sensor.feed): when
    # the camera stops delivering, the frame still with the detector must be completed
    # then, not when (if ever) the camera comes back
    camera = FakeCamera(frames=20)
    monkeypatch.setattr("edge.service.live.open_live_source", lambda *a, **k: camera)
    service = Service(Settings(yaw={"enabled": False}, state_dir=tmp_path), "0",
                      publisher_factory=FakePublisher, detector=NoPeople())
    runner = threading.Thread(target=lambda: service.run(install_signals=False))
    runner.start()
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and service.sensor.last_t < frame(19).t:
            time.sleep(0.05)
        assert service.sensor.last_t == frame(19).t
        assert runner.is_alive()  # still running: no finish() did it
    finally:
        service.request_stop()
        runner.join(10)
