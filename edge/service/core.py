"""What `dwell run` and `dwell demo` share: pipeline + publisher + acks + day counters.

``Core`` lives on one processing thread (no locks); only ``on_ack`` is called from paho's
thread, and it just queues the ack for ``drain_acks``. ``DayStats`` counts today's visitors,
dwell and pings for the retained stats topic.
"""

from __future__ import annotations

import logging
import queue
import statistics
from collections import Counter, deque
from collections.abc import Callable
from datetime import date
from typing import Any, Protocol

from edge.config.settings import Settings
from edge.delivery.status import StatsSnapshot, StatusSnapshot
from edge.vocabulary.events import (
    Acknowledged,
    Entered,
    Event,
    Exited,
    Held,
    Ping,
    VisitEnded,
    VisitStarted,
)
from edge.vocabulary.types import Detections

log = logging.getLogger("dwell.service")


class ServicePublisher(Protocol):
    """What the service needs of the publisher (edge.delivery.publisher.MqttPublisher)."""

    def publish(self, ping: Ping) -> None: ...

    def close(self) -> None: ...

    def set_status(self, snapshot: StatusSnapshot) -> None: ...

    def publish_stats(self, snapshot: StatsSnapshot) -> None: ...

    def ack_median_s(self) -> float | None: ...


PublisherFactory = Callable[[Settings, Callable[[str, str, str | None], None]], ServicePublisher]


def mqtt_publisher(settings: Settings,
                   on_ack: Callable[[str, str, str | None], None]) -> ServicePublisher:
    from edge.delivery.publisher import MqttPublisher

    return MqttPublisher(settings, on_ack)


class DayStats:
    """Today's visitor and ping numbers for the retained stats topic; resets at local midnight."""

    def __init__(self, today: Callable[[], date] = date.today) -> None:
        self._today = today
        self._reset()

    def _reset(self) -> None:
        self.day = self._today()
        self.visitors = 0
        self.dwells: deque[float] = deque(maxlen=10_000)
        self.pings: Counter[str] = Counter()
        self.acks = 0
        self.crossed: Counter[str] = Counter()  # entrance zone: "entered" / "exited"

    def observe(self, events: list[Event]) -> None:
        if self._today() != self.day:
            self._reset()
        for ev in events:
            if isinstance(ev, VisitStarted) and not ev.staff:
                self.visitors += 1
            elif isinstance(ev, VisitEnded) and not ev.staff:
                self.dwells.append(ev.dwell_s)
            elif isinstance(ev, Ping):
                self.pings["escalation" if ev.escalation else ev.reason] += 1
            elif isinstance(ev, Acknowledged):
                self.acks += 1
            elif isinstance(ev, Entered | Exited):
                self.crossed[ev.type] += 1

    def snapshot(self, ack_median_s: float | None) -> StatsSnapshot:
        return StatsSnapshot(
            visitors_today=self.visitors,
            entered_today=self.crossed["entered"],
            exited_today=self.crossed["exited"],
            dwell_median_s=statistics.median(self.dwells) if self.dwells else None,
            pings_today=sum(self.pings.values()),
            pings_by_reason=dict(self.pings),
            acks=self.acks,
            ack_median_s=ack_median_s,
        )


class Core:
    """Pipeline + publisher + acks + counters: what `dwell run` and `dwell demo` share.

    Every method but ``on_ack`` runs on the processing thread. ``on_ack`` is called on paho's
    thread and only puts the ack on a queue that ``drain_acks`` empties.
    """

    def __init__(self, settings: Settings, publisher_factory: PublisherFactory = mqtt_publisher,
                 on_event: Callable[[Event], None] | None = None) -> None:
        self.settings = settings
        self.acks: queue.SimpleQueue[tuple[str, str, str | None]] = queue.SimpleQueue()
        self.stats = DayStats()
        self.pipeline: Any = None  # built once the frame size is known (zones need it)
        self.on_event = on_event or _log_event
        self.publisher = publisher_factory(settings, self.on_ack)
        self.last_t = 0.0

    def start_pipeline(self, frame_size: tuple[int, int]) -> None:
        from edge.behaviour.pipeline import Pipeline

        if self.pipeline is None:
            self.pipeline = Pipeline(self.settings, frame_size)

    @property
    def tracking(self) -> bool:
        return bool(self.pipeline is not None and self.pipeline.tracking)

    def on_ack(self, ping_id: str, action: str, by: str | None) -> None:
        self.acks.put((ping_id, action, by))

    def step(self, t: float, detections: Detections | None) -> list[Event]:
        self.last_t = max(self.last_t, t)
        events = self.drain_acks()
        if self.pipeline is not None:
            events += self._handle(self.pipeline.step(t, detections))
        return events

    def drain_acks(self) -> list[Event]:
        events: list[Event] = []
        while True:
            try:
                ping_id, action, by = self.acks.get_nowait()
            except queue.Empty:
                return events
            if self.pipeline is not None:
                events += self._handle(self.pipeline.acknowledge(ping_id, action, by,
                                                                 self.last_t))

    def finish(self) -> list[Event]:
        if self.pipeline is None:
            return []
        return self._handle(self.pipeline.finish(self.last_t))

    def reload(self, settings: Settings) -> None:
        self.settings = settings
        if self.pipeline is not None:
            self.pipeline.reload(settings)

    def status(self, camera_ok: bool | None, fps: float | None) -> StatusSnapshot:
        visitors = self.pipeline.visitors_now if self.pipeline is not None else 0
        return StatusSnapshot(camera_ok=camera_ok, fps=fps, visitors_now=visitors)

    def publish_stats(self) -> None:
        self.stats.observe([])  # roll the day over even when nothing happens
        self.publisher.publish_stats(self.stats.snapshot(self.publisher.ack_median_s()))

    def _handle(self, events: list[Event]) -> list[Event]:
        self.stats.observe(events)
        for ev in events:
            self.on_event(ev)  # said (logged) before sent, so the log reads in order
            if isinstance(ev, Ping):
                self.publisher.publish(ev)
        return events


def _log_event(ev: Event) -> None:
    if isinstance(ev, Ping):
        log.info("ping %s: %s for visitor %d after %.0f s%s", ev.id, ev.reason, ev.visitor,
                 ev.dwell_s, f" at {ev.zone}" if ev.zone else "")
    elif isinstance(ev, Held):
        log.debug("held %s for visitor %d: %s (%s)", ev.candidate, ev.visitor, ev.reason,
                  ev.detail)
    elif isinstance(ev, Acknowledged):
        log.info("ping %s acknowledged (%s by %s)", ev.ping_id, ev.action, ev.by or "?")
    else:
        log.debug("%s", ev.to_json())
