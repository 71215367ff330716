"""The service's parts: day stats, the sensor with its MQTT link, and the run loop's threads.

Unit tests of the code around the stages, so the publisher and the source are fakes here;
tests/test_run_cmd.py runs the real CLI against a real broker and a real video.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import pytest

from edge.config.settings import Settings
from edge.delivery.status import StatsSnapshot, StatusSnapshot
from edge.demo.synthetic import DEMO_SETTINGS, SIZE, generate
from edge.service.core import DayStats, MqttLink
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


def demo_settings() -> Settings:
    return Settings(**DEMO_SETTINGS, yaw={"enabled": False})


def linked(settings: Settings) -> tuple[Sensor, MqttLink, FakePublisher]:
    sensor = Sensor(settings, frame_size=SIZE)
    link = MqttLink(settings, sensor.on_ack, FakePublisher)
    sensor.sinks.append(link.on_event)
    assert isinstance(link.publisher, FakePublisher)
    return sensor, link, link.publisher


def test_link_publishes_pings_and_the_sensor_takes_acks_from_another_thread() -> None:
    sensor, link, publisher = linked(demo_settings())
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


def test_reload_keeps_current_visits() -> None:
    sensor, _, _ = linked(demo_settings())
    trace = list(generate(seed=0))
    for t, det in trace[:150]:  # 15 s: the lingerer is inside
        sensor.step(t, det)
    inside = sensor.visitors_now
    assert inside >= 1
    changed = dict(DEMO_SETTINGS, policy={**DEMO_SETTINGS["policy"], "space_window_s": 5.0})
    sensor.reload(Settings(**changed, yaw={"enabled": False}))
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


def test_lost_camera_shows_in_status_and_stop_is_clean(monkeypatch: pytest.MonkeyPatch) -> None:
    camera = FakeCamera(frames=20)
    monkeypatch.setattr("edge.service.live.open_live_source", lambda *a, **k: camera)
    service = Service(Settings(yaw={"enabled": False}), "0", publisher_factory=FakePublisher,
                      detector=NoPeople())
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
