"""`dwell replay INPUT`: what would have pinged — from a video, MOT detections or a trace.

    dwell replay day.trace.jsonl --out events.jsonl --explain --plot day.png
    dwell replay det.txt --fps 25 --size 640x480
    dwell replay clip.mp4 --out events.jsonl

Prints a summary (visits, dwell median/p90, pings by reason, held back and why). Exit 2 on a
malformed input (the message names file and line; no partial --out file is left).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from edge.cli.common import EXIT_OK, EXIT_USAGE, CommandError, load
from edge.config.settings import Settings
from edge.perception.models import ModelError
from edge.vocabulary.events import Event, Held, Ping

if TYPE_CHECKING:
    from edge.delivery.publisher import MqttPublisher


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "replay", help="replay a video, MOT detections or a trace; see what would have pinged",
        description="Runs tracker, behaviour and policy over a recorded input as fast as "
        "possible (or paced with --speed) and prints a summary.")
    parser.add_argument("input", type=Path, help="a dwell trace (.jsonl), MOT detections "
                        "(.txt, with --fps) or a video file")
    parser.add_argument("--out", type=Path, help="write events JSONL here")
    parser.add_argument("--fps", type=float, help="frame rate of MOT detections")
    parser.add_argument("--size", type=parse_size, metavar="WxH",
                        help="frame size of MOT detections (places the zones)")
    parser.add_argument("--start", type=parse_start, metavar="ISO",
                        help="local wall-clock time of t=0, e.g. 2026-05-02T09:00 (applies "
                        "opening hours; overrides a trace's start)")
    parser.add_argument("--explain", action="store_true",
                        help="print why each candidate ping was held back")
    parser.add_argument("--speed", type=positive, metavar="X",
                        help="pace the replay at X times real time (default: as fast as possible)")
    parser.add_argument("--publish", action="store_true",
                        help="send each ping to the configured MQTT broker as `run` would "
                        "(docs/delivery.md; pace with --speed)")
    parser.add_argument("--plot", type=Path, metavar="FILE.png",
                        help="timeline of visits with pings, and a dwell histogram "
                        "(needs matplotlib: pip install 'dwell-sensor[plot]')")
    parser.set_defaults(func=run)


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not WxH, e.g. 640x480") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be positive")
    return w, h


def parse_start(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO time like "
                                         "2026-05-02T09:00") from None


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number > 0")
    return value


def explain_line(ev: Held) -> str:
    return (f"{ev.t:9.1f} s  visitor {ev.visitor:<4d} {ev.candidate:<15s} held: "
            f"{ev.reason} ({ev.detail})")


def run(args: argparse.Namespace) -> int:
    from edge.offline.replay import replay
    from edge.offline.report import PlotUnavailable, check_plot_available

    settings = load(args)
    if args.plot is not None:
        try:
            check_plot_available()
        except PlotUnavailable as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
    publisher = _publisher(settings) if args.publish else None
    try:
        summary = replay(args.input, settings, out=args.out, fps=args.fps, size=args.size,
                         start=args.start, speed=args.speed,
                         on_event=_sinks(_explainer(args.explain),
                                         _recorder(args, settings, publisher)),
                         on_ping=publisher.publish if publisher is not None else None)
    except ValueError as exc:  # a malformed input (InputError), or zones without a frame size
        raise CommandError(str(exc), EXIT_USAGE) from None
    except (ModelError, OSError, RuntimeError) as exc:  # a video needs the detector model
        raise CommandError(str(exc)) from None
    finally:
        if publisher is not None:
            publisher.close(drain_s=10.0)  # every ping confirmed by the broker, or said why
    print(summary.format())
    if publisher is not None:
        print(publisher.report())
    if args.out is not None:
        print(f"events: {args.out}")
    if args.plot is not None:
        summary.plot(args.plot)
        print(f"plot: {args.plot}")
    return EXIT_OK


def _sinks(*sinks: Callable[[Event], None] | None) -> Callable[[Event], None] | None:
    chosen = [sink for sink in sinks if sink is not None]
    if len(chosen) < 2:
        return chosen[0] if chosen else None

    def on_event(ev: Event) -> None:
        for sink in chosen:
            sink(ev)

    return on_event


def _recorder(args: argparse.Namespace, settings: Settings,
              publisher: MqttPublisher | None) -> Callable[[Event], None] | None:
    """With --publish and ``mqtt.events``: the replay's finished records too, timed from
    --start (else now). Their ids name the input and the start, so publishing the same replay
    with the same --start again is stored once at the centre."""
    if publisher is None or not settings.mqtt.events:
        return None
    from edge.delivery.records import RecordMaker
    from edge.offline.replay import input_seed

    base = (args.start or datetime.now()).timestamp()
    run_id = f"replay-{input_seed(args.input)}-{int(base)}"
    maker = RecordMaker(settings.store, settings.camera, run_id, lambda t: base + t)

    def on_event(ev: Event) -> None:
        for record in maker.records(ev):
            publisher.publish_record(record)

    return on_event


def _explainer(explain: bool) -> Callable[[Event], None] | None:
    """With --explain: a line for each held candidate and each ping."""
    if not explain:
        return None

    def on_event(ev: Event) -> None:
        if isinstance(ev, Held):
            print(explain_line(ev))
        elif isinstance(ev, Ping):
            print(f"{ev.t:9.1f} s  visitor {ev.visitor:<4d} {ev.reason:<15s} PING"
                  f"{' (escalation)' if ev.escalation else ''} after {ev.dwell_s:.0f} s")

    return on_event


def _publisher(settings: Settings) -> MqttPublisher:
    """`--publish`: the replay's publisher (paho is imported only then)."""
    from edge.delivery.mqtt import MqttError
    from edge.delivery.publisher import replay_publisher

    try:
        return replay_publisher(settings)
    except (MqttError, OSError) as exc:
        raise CommandError(str(exc)) from None
