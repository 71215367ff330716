"""`dwell demo`: the whole loop in under a minute, with no camera, model download or set-up.

A synthetic shop (edge/demo/synthetic.py: anonymous boxes and head yaw, no pixels) goes through
the real pipeline and the real MQTT publisher; a stand-in watch subscribed over MQTT shows each
ping as the wrist would, taps "on my way" on the first one, and that ack travels back over
MQTT to the policy, which then stops pinging about that visitor. The shop runs on demo-sized
thresholds (a 20 s give-them-space window instead of 90 s) and ``--speed`` times real time.

Broker: the one on localhost:1883 if it answers, else a private mosquitto started for the demo
(and stopped after), else a tiny embedded MQTT 5 broker (edge/demo/broker.py; the pure-Python
brokers on PyPI speak MQTT 3.1.1 only). The output says which.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edge.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError, load
from edge.service.logs import setup_logging
from edge.vocabulary.events import (
    Acknowledged,
    AtHelpPoint,
    Attended,
    Event,
    Held,
    Lingering,
    LookingAround,
    Ping,
    VisitEnded,
    VisitStarted,
)
from edge.vocabulary.types import Detections

DEFAULT_SPEED = 3.0
HELD_WHY = {
    "space_window": "give them space: the visit is younger than the space window",
    "acknowledged": "the watch already answered for this visitor: no more pings",
    "cooldown": "pinged recently: not nagging the assistant",
    "attended": "a member of staff is already with them",
    "rate_limit": "too many pings this minute: queued",
    "party": "their companion was pinged already",
}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo", help="the whole loop on a synthetic shop: visitors, held pings, pings, an ack",
        description="Runs a one-minute synthetic shop (or --video FILE) through the real "
        "pipeline and MQTT, with a stand-in watch that acknowledges the first ping.")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, metavar="X",
                        help=f"times real time (default {DEFAULT_SPEED:g}: the one-minute "
                        "shop takes ~20 s)")
    parser.add_argument("--video", type=Path, metavar="FILE",
                        help="a real clip instead of the synthetic shop (runs the detector)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic shop")
    parser.add_argument("--broker", type=parse_broker, metavar="HOST:PORT",
                        help="use this MQTT 5 broker; 'private': start a private mosquitto; "
                        "'embedded': the built-in demo broker (default: localhost:1883 if it "
                        "answers, else a private mosquitto, else the embedded one)")
    parser.set_defaults(func=run)


def parse_broker(text: str) -> tuple[str, int]:
    if text in ("private", "embedded"):
        return text, 0
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:1883")
    return host, int(port)


class Narrator:
    """Prints what happens, in shop time, from the processing loop and the watch's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.t = 0.0
        self.pinged: set[int] = set()
        self.staff: set[int] = set()
        self.given_space: set[int] = set()

    def say(self, text: str, t: float | None = None) -> None:
        stamp = self.t if t is None else t
        with self.lock:
            print(f"[{int(stamp) // 60:02d}:{stamp % 60:04.1f}] {text}", flush=True)

    def event(self, ev: Event) -> None:
        self.t = max(self.t, ev.t)
        line = self._line(ev)
        if line:
            self.say(line, ev.t)

    def _line(self, ev: Event) -> str | None:
        who = f"visitor {ev.visitor}"
        if isinstance(ev, VisitStarted):
            if ev.staff:
                self.staff.add(ev.visitor)
                return f"member of staff (#{ev.visitor}) at the {ev.zone or 'counter'}"
            return f"{who} comes in"
        if isinstance(ev, VisitEnded):
            if ev.staff:
                return None
            tail = "" if ev.visitor in self.pinged else " (never pinged)"
            return f"{who} leaves after {ev.dwell_s:.0f} s{tail}"
        if isinstance(ev, Lingering) and ev.visitor not in self.staff:
            return f"{who} lingers in one spot ({ev.dwell_s:.0f} s inside)"
        if isinstance(ev, LookingAround):
            return f"{who} looks around, head turning left and right"
        if isinstance(ev, AtHelpPoint):
            return f"{who} waits at the {ev.zone or 'help point'}"
        if isinstance(ev, Attended):
            return f"staff is with {who}: no pings about them meanwhile"
        if isinstance(ev, Held) and ev.reason != "staff":
            if ev.reason == "space_window":
                self.given_space.add(ev.visitor)
            why = HELD_WHY.get(ev.reason, ev.reason)
            return f"  held back ({ev.candidate} of {who}): {why} [{ev.detail}]"
        if isinstance(ev, Ping):
            self.pinged.add(ev.visitor)
            why = {"help_point": " (the help point needs no space window)",
                   "linger": "", "looking_around": ""}.get(ev.reason, "")
            if ev.visitor in self.given_space:
                why = " (the give-them-space window has passed)"
            return f">> PING sent over MQTT: {ev.reason} for {who} after {ev.dwell_s:.0f} s{why}"
        if isinstance(ev, Acknowledged):
            return (f"<< ack arrived over MQTT ({ev.action} by {ev.by}): the policy sends no "
                    f"more pings about {who}")
        return None


class DemoWatch:
    """A stand-in for the assistant's watch: shows pings, acknowledges the first one."""

    def __init__(self, host: str, port: int, topics: Any, narrator: Narrator) -> None:
        import paho.mqtt.client as mqtt

        self.topics = topics
        self.narrator = narrator
        self.pings: list[dict[str, Any]] = []
        self.acked: str | None = None
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.subscribe(topics.ping, qos=1)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        import json

        from edge.delivery.acks import ack_payload

        data = json.loads(msg.payload)
        self.pings.append(data)
        width = max(len(data["title"]), len(data["message"])) + 2
        self.narrator.say("watch buzzes:\n"
                          f"        +{'-' * width}+\n"
                          f"        | {data['title']:<{width - 2}} |\n"
                          f"        | {data['message']:<{width - 2}} |\n"
                          f"        +{'-' * width}+")
        if self.acked is None:
            self.acked = data["id"]
            self.narrator.say("the assistant taps 'On my way' on the watch")
            client.publish(self.topics.ack, ack_payload(data["id"], "on_my_way", "demo watch"),
                           qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def port_answers(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), 0.5):
        return True
    return False


@contextlib.contextmanager
def demo_broker(workdir: Path, given: tuple[str, int] | None = None
                ) -> Iterator[tuple[str, int, str]]:
    """(host, port, what) of a broker for the demo; starts a private mosquitto if needed."""
    if given is not None and given[0] not in ("private", "embedded"):
        yield given[0], given[1], f"the MQTT broker at {given[0]}:{given[1]} (--broker)"
        return
    if given is None and port_answers("127.0.0.1", 1883):
        yield "127.0.0.1", 1883, "the MQTT broker already running on localhost:1883"
        return
    binary = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None or (given is not None and given[0] == "embedded"):
        from edge.demo.broker import EmbeddedBroker

        broker = EmbeddedBroker().start()
        try:
            yield "127.0.0.1", broker.port, (
                f"dwell's small embedded MQTT 5 broker on port {broker.port} (mosquitto is not "
                "installed; a shop uses mosquitto: sudo apt-get install mosquitto)"
                if binary is None else f"dwell's small embedded MQTT 5 broker on port "
                f"{broker.port} (--broker embedded)")
        finally:
            broker.stop()
        return
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
    log = (workdir / "mosquitto.log").open("wb")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 5
        while not port_answers("127.0.0.1", port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise CommandError(f"could not start mosquitto for the demo: "
                                   f"{(workdir / 'mosquitto.log').read_text()[-300:]}")
            time.sleep(0.02)
        yield "127.0.0.1", port, f"a private mosquitto started for the demo on port {port}"
    finally:
        proc.terminate()
        proc.wait(5)
        log.close()


def run(args: argparse.Namespace) -> int:
    if not 0 < args.speed <= 1000:
        print("dwell demo: --speed must be > 0 and <= 1000", file=sys.stderr)
        return EXIT_USAGE
    if args.video is not None and not args.video.is_file():
        print(f"dwell demo: {args.video}: no such video file", file=sys.stderr)
        return EXIT_USAGE
    with tempfile.TemporaryDirectory(prefix="dwell-demo-") as tmp:
        try:
            with demo_broker(Path(tmp), args.broker) as (host, port, what):
                return _demo(args, Path(tmp), host, port, what)
        except CommandError as exc:
            print(f"dwell demo: {exc}", file=sys.stderr)
            return exc.code


def _demo(args: argparse.Namespace, tmp: Path, host: str, port: int, what: str) -> int:
    from edge.delivery.mqtt import Topics
    from edge.demo.synthetic import DEMO_SETTINGS, SIZE, generate
    from edge.service.core import Core, mqtt_publisher

    overrides: dict[str, Any] = {
        "store": "demo", "camera": "synthetic" if args.video is None else "video",
        "state_dir": tmp / "state", "policy": DEMO_SETTINGS["policy"],
        "behaviour": DEMO_SETTINGS["behaviour"],
        "mqtt": {"host": host, "port": port, "client_id": f"dwell-demo-{os.getpid()}",
                 "homeassistant_discovery": False},
    }
    if args.video is None:
        overrides["zones"] = DEMO_SETTINGS["zones"]
    settings = load(args, **overrides)
    if args.log_level is None:  # the narration is the output; only problems are logged
        setup_logging("WARNING", settings.log.json_logs)
    narrator = Narrator()
    print(f"dwell demo: broker: {what}.")
    if args.video is None:
        print("A synthetic shop (boxes and head angles, no pictures): a walk-through, a "
              "browser who\nlingers, a visitor at the help desk, one who looks around, and a "
              "member of staff.")
    print(f"Demo thresholds: give-them-space window {settings.policy.space_window_s:.0f} s, "
          f"linger {settings.policy.linger_s:.0f} s; played at {args.speed:g}x.\n")
    core = Core(settings, mqtt_publisher, on_event=narrator.event)
    watch = DemoWatch(host, port, Topics.of(settings.mqtt.topic_prefix, settings.store,
                                            settings.camera), narrator)
    try:
        if not core.publisher.wait_connected(10):  # type: ignore[attr-defined]
            why = getattr(core.publisher, "connection_error", None) or "no answer"
            raise CommandError(f"could not connect to the broker {host}:{port} ({why}); "
                               "`dwell demo --broker private` starts a private mosquitto")
        if args.video is None:
            core.start_pipeline(SIZE)
            _play(core, generate(seed=args.seed), args.speed)
        else:
            _play(core, _video_observations(args.video, settings, core), args.speed)
        core.finish()
        _wait_for(lambda: len(watch.pings) >= core.stats.pings.total(), 5)
    finally:
        watch.close()
        core.publisher.close()
    return _summary(core, watch)


def _play(core: Any, observations: Iterator[tuple[float, Detections | None]],
          speed: float) -> None:
    start = time.monotonic()
    for t, detections in observations:
        wait = start + t / speed - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        core.step(t, detections)


def _video_observations(path: Path, settings: Any, core: Any
                        ) -> Iterator[tuple[float, Detections | None]]:
    from edge.perception.models import ModelError
    from edge.perception.perceiver import Perception
    from edge.perception.sources import open_source

    source = open_source(str(path), settings.source)
    try:
        core.start_pipeline(source.size)
        try:
            perception = Perception(settings, source.size)
        except ModelError as exc:  # a video needs the detector: say which model, no traceback
            raise CommandError(str(exc)) from None
        for frame in source.frames():
            yield frame.t, perception.observe(frame, core.tracking)
    finally:
        source.close()


def _wait_for(condition: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _summary(core: Any, watch: DemoWatch) -> int:
    stats = core.pipeline.stats() if core.pipeline is not None else {}
    held = {k: v for k, v in stats.get("held_by_reason", {}).items() if k != "staff"}
    print("\nSummary:")
    print(f"  visits: {core.stats.visitors}, pings sent: {core.stats.pings.total()} "
          f"{dict(core.stats.pings)}, shown on the watch: {len(watch.pings)}, "
          f"acks: {core.stats.acks}")
    print(f"  held back: {held}")
    print("Next: `dwell replay` a trace with your own thresholds, `dwell watch` to see pings "
          "live,\n      docs/deploy.md to put it on a Raspberry Pi.")
    sent = core.stats.pings.total()
    if sent == 0:
        print("  No visitor stayed long enough to be pinged (a short clip?).")
    elif len(watch.pings) < sent:
        print(f"dwell demo: {sent - len(watch.pings)} of {sent} pings did not reach the watch "
              "over MQTT: check the broker", file=sys.stderr)
        return EXIT_FAILURE
    return EXIT_OK
