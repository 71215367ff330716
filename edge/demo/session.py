"""One run of `dwell demo`: its own broker, the sensor, a stand-in watch, the synthetic shop.

The demo must never reach a shop's real watches: on a Pi the broker on localhost (or the one
in the config) carries the shop's pings to its ntfy bridge and Home Assistant. So it runs on a
private broker (a mosquitto on a free loopback port, else dwell's embedded one) unless the
user names another with ``--broker HOST:PORT``; then it removes the retained status and stats
it leaves there when it ends, and it never announces itself to Home Assistant.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edge.config.settings import Settings
from edge.delivery.mqtt import Topics
from edge.demo import mosquitto
from edge.demo.narrator import Narrator
from edge.demo.watch import DemoWatch
from edge.service.core import MqttLink
from edge.service.sensor import Observation, Sensor, paced
from edge.vocabulary.tally import Tally
from edge.vocabulary.types import Frame

log = logging.getLogger("dwell.demo")

PRIVATE, EMBEDDED = "private", "embedded"
CONNECT_S = 10.0  # how long the sensor may take to reach the demo's broker
DELIVER_S = 5.0  # after the shop closes, how long the last pings may take to reach the watch


@dataclass(frozen=True)
class DemoBroker:
    """Where the demo's MQTT goes; ``users`` is True for a broker the user named (shared with
    others: leave nothing retained there)."""

    host: str
    port: int
    what: str
    users: bool = False


@contextlib.contextmanager
def demo_broker(workdir: Path, given: tuple[str, int] | None = None) -> Iterator[DemoBroker]:
    """A broker for the demo: ``given`` (host, port); ("private", 0): a mosquitto of its own;
    ("embedded", 0): dwell's small broker; None: a private mosquitto, else the embedded one."""
    if given is not None and given[0] not in (PRIVATE, EMBEDDED):
        yield DemoBroker(given[0], given[1], f"the MQTT broker at {given[0]}:{given[1]} "
                         "(--broker)", users=True)
        return
    want = given[0] if given is not None else None
    why_embedded = "--broker embedded"
    if want != EMBEDDED:
        if mosquitto.installed():
            broker = mosquitto.Mosquitto(workdir)
            try:
                broker.start()
            except RuntimeError as exc:
                if want == PRIVATE:
                    raise
                why_embedded = f"mosquitto would not start: {exc}"
            else:
                try:
                    yield DemoBroker("127.0.0.1", broker.port, "a private mosquitto started "
                                     f"for the demo on port {broker.port}")
                finally:
                    broker.stop()
                return
        elif want == PRIVATE:
            raise RuntimeError("mosquitto is not installed (sudo apt-get install mosquitto); "
                               "`--broker embedded` needs nothing")
        else:
            why_embedded = ("mosquitto is not installed; a shop uses mosquitto: "
                            "sudo apt-get install mosquitto")
    yield from _embedded(why_embedded)


def _embedded(why: str) -> Iterator[DemoBroker]:
    from edge.demo.broker import EmbeddedBroker

    broker = EmbeddedBroker().start()
    try:
        yield DemoBroker("127.0.0.1", broker.port, "dwell's small embedded MQTT 5 broker on "
                         f"port {broker.port} ({why})")
    finally:
        broker.stop()


@dataclass
class DemoResult:
    """What the summary reports: the sensor's counts and what reached the watch."""

    counts: Tally
    shown_on_watch: int


class DemoConnectError(ConnectionError):
    pass


def play_shop(settings: Settings, broker: DemoBroker, narrator: Narrator, speed: float, *,
              observations: Iterable[Observation] | None = None,
              frames: Iterable[Frame] | None = None,
              frame_size: tuple[int, int] | None = None) -> DemoResult:
    """The sensor over ``observations`` (the synthetic shop) or a video's ``frames``, paced at
    ``speed`` x real time, pinging the stand-in watch over ``broker``."""
    sensor = Sensor(settings, frame_size=frame_size, sinks=[narrator.event])
    link = MqttLink(settings, sensor.on_ack)
    sensor.sinks.append(link.on_event)
    topics = Topics.of(settings.mqtt.topic_prefix, settings.store, settings.camera)
    watch = DemoWatch(broker.host, broker.port, topics, narrator)
    try:
        if not link.publisher.wait_connected(CONNECT_S):
            why = link.publisher.connection_error or "no answer"
            raise DemoConnectError(f"could not connect to the broker {broker.host}:"
                                   f"{broker.port} ({why}); `dwell demo` without --broker "
                                   "starts a private one")
        if frames is not None:
            for frame in paced(frames, lambda f: f.t, speed):
                sensor.process(frame)
        for t, detections in paced(observations or (), lambda o: o[0], speed):
            sensor.step(t, detections)
        sensor.finish()
        _wait_for(lambda: len(watch.pings) >= sensor.counts.pings_sent, DELIVER_S)
    finally:
        link.publisher.close()
        if broker.users:
            watch.clear_retained()
        watch.close()
    return DemoResult(sensor.counts, len(watch.pings))


def _wait_for(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
