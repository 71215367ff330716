"""A sensor's MQTT side, shared by `dwell run` and `dwell demo`: pings out, acks in, day stats.

``MqttLink`` is one of the sinks a ``Sensor`` is given: every ping goes to the publisher as it
is decided, and every event is counted into today's numbers for the retained stats topic. The
publisher hands acks to ``Sensor.on_ack`` (on paho's thread), which queues them for the
processing thread; everything else here runs on the processing thread.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

from edge.config.settings import Settings
from edge.delivery.records import RecordMaker, new_run_id
from edge.delivery.status import median_or_none
from edge.service.daycounts import DayCountsFile
from edge.vocabulary.events import Acknowledged, Event, Held, Ping
from edge.vocabulary.interfaces import AckHandler, Publisher
from edge.vocabulary.status import StatsSnapshot
from edge.vocabulary.tally import Tally

log = logging.getLogger("dwell.service")

PublisherFactory = Callable[[Settings, AckHandler], Publisher]


def day_counts_path(settings: Settings) -> Path:
    return settings.state_dir / f"day-{settings.store}-{settings.camera}.json"


def mqtt_publisher(settings: Settings, on_ack: AckHandler) -> Publisher:
    from edge.delivery.publisher import sensor_publisher

    return sensor_publisher(settings, on_ack)


class DayStats:
    """Today's events counted for the retained stats topic; starts again at local midnight.

    With a ``store`` the counts are saved whenever events change them and restored at start
    when they are today's, so a restart the same day continues the day's numbers."""

    def __init__(self, today: Callable[[], date] = date.today,
                 store: DayCountsFile | None = None) -> None:
        self._today = today
        self.store = store
        self.day = today()
        self.tally = (store.load(self.day) if store is not None else None) or Tally()

    def observe(self, events: list[Event]) -> None:
        changed = bool(events)
        if self._today() != self.day:
            self.day, self.tally, changed = self._today(), Tally(), True
        self.tally.observe(events)
        if changed and self.store is not None:
            self.store.save(self.day, self.tally)

    def snapshot(self, ack_median_s: float | None) -> StatsSnapshot:
        tally = self.tally
        return StatsSnapshot(
            visitors_today=tally.visits,
            entered_today=tally.entered,
            exited_today=tally.exited,
            dwell_median_s=median_or_none(tally.dwells),
            pings_today=tally.pings_sent,
            pings_by_reason=dict(tally.pings),
            acks=tally.acks,
            ack_median_s=ack_median_s,
        )


class MqttLink:
    """The publisher a sensor's pings go to, and today's numbers about them."""

    def __init__(self, settings: Settings, on_ack: AckHandler,
                 publisher_factory: PublisherFactory = mqtt_publisher) -> None:
        self.stats = DayStats(store=DayCountsFile(day_counts_path(settings)))
        self.publisher = publisher_factory(settings, on_ack)
        # live: records carry the time they are made (events come out within a frame's time)
        self.records = (RecordMaker(settings.store, settings.camera, new_run_id(),
                                    lambda _t: time.time())
                        if settings.mqtt.events else None)

    def on_event(self, ev: Event) -> None:
        """The sink: counts every event, publishes every ping (and, with ``mqtt.events``,
        every finished record)."""
        self.stats.observe([ev])
        if isinstance(ev, Ping):
            self.publisher.publish(ev)
        if self.records is not None:
            for record in self.records.records(ev):
                self.publisher.publish_record(record)

    def publish_stats(self) -> None:
        self.stats.observe([])  # roll the day over even when nothing happens
        self.publisher.publish_stats(self.stats.snapshot(self.publisher.ack_median_s()))


def log_event(ev: Event) -> None:
    """The service's narration in its log (a sink placed before the link: said, then sent)."""
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
