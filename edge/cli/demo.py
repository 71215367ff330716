"""`dwell demo`: the whole loop in under a minute, with no camera, model download or set-up.

A synthetic shop (edge/demo/synthetic.py: anonymous boxes and head yaw, no pixels) goes through
the real sensor and the real MQTT publisher; a stand-in watch subscribed over MQTT shows each
ping as the wrist would, taps "on my way" on the first one, and that ack travels back over
MQTT to the policy, which then stops pinging about that visitor. The shop runs on demo-sized
thresholds (a 20 s give-them-space window instead of 90 s) and ``--speed`` times real time.

Broker: a private one, never the shop's (edge/demo/session.py says why): a mosquitto started
for the demo on a free loopback port (and stopped after), else dwell's tiny embedded MQTT 5
broker (edge/demo/broker.py). ``--broker HOST:PORT`` uses another; the demo then leaves
nothing retained on it. The output says which.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.cli.common import EXIT_OK, EXIT_USAGE, CommandError, load
from edge.config.settings import Settings
from edge.service.logs import setup_logging

if TYPE_CHECKING:
    from edge.demo.session import DemoBroker, DemoResult

DEFAULT_SPEED = 3.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "demo", help="the whole loop on a synthetic shop: visitors, held pings, pings, an ack",
        description="Runs a one-minute synthetic shop (or --video FILE) through the real "
        "pipeline and MQTT, with a stand-in watch that acknowledges the first ping. It uses a "
        "private broker of its own, so no real watch is ever pinged.")
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, metavar="X",
                        help=f"times real time (default {DEFAULT_SPEED:g}: the one-minute "
                        "shop takes ~20 s)")
    parser.add_argument("--video", type=Path, metavar="FILE",
                        help="a real clip instead of the synthetic shop (runs the detector)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic shop")
    parser.add_argument("--broker", type=parse_broker, metavar="HOST:PORT",
                        help="use this MQTT 5 broker instead of a private one (the demo's "
                        "pings then reach whoever listens there; nothing is left retained); "
                        "'private': a private mosquitto; 'embedded': the built-in demo broker "
                        "(default: a private mosquitto, else the embedded one)")
    parser.set_defaults(func=run)


def parse_broker(text: str) -> tuple[str, int]:
    if text in ("private", "embedded"):
        return text, 0
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT, e.g. 127.0.0.1:1883")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    from edge.demo.session import demo_broker
    from edge.perception.models import ModelError

    if not 0 < args.speed <= 1000:
        raise CommandError("--speed must be > 0 and <= 1000", EXIT_USAGE)
    if args.video is not None and not args.video.is_file():
        raise CommandError(f"{args.video}: no such video file", EXIT_USAGE)
    with tempfile.TemporaryDirectory(prefix="dwell-demo-") as tmp:
        try:
            with demo_broker(Path(tmp), args.broker) as broker:
                return _demo(args, Path(tmp), broker)
        except ModelError as exc:  # a video needs the detector: say which model, no traceback
            raise CommandError(str(exc)) from None
        except (RuntimeError, OSError) as exc:  # no broker, or it could not be reached
            raise CommandError(f"{exc}") from None


def _demo(args: argparse.Namespace, tmp: Path, broker: DemoBroker) -> int:
    from edge.demo.narrator import Narrator
    from edge.demo.session import play_shop
    from edge.demo.synthetic import SIZE, generate

    settings = _settings(args, tmp, broker.host, broker.port)
    if args.log_level is None:  # the narration is the output; only problems are logged
        setup_logging("WARNING", settings.log.json_logs)
    print(f"dwell demo: broker: {broker.what}.")
    if args.video is None:
        print("A synthetic shop (boxes and head angles, no pictures): a walk-through, a "
              "browser who\nlingers, a visitor at the help desk, one who looks around, and a "
              "member of staff.")
    print(f"Demo thresholds: give-them-space window {settings.policy.space_window_s:.0f} s, "
          f"linger {settings.policy.linger_s:.0f} s; played at {args.speed:g}x.\n")
    narrator = Narrator()
    if args.video is None:
        result = play_shop(settings, broker, narrator, args.speed,
                           observations=generate(seed=args.seed), frame_size=SIZE)
    else:
        from edge.perception.sources import FileSource

        video = FileSource(args.video)
        try:
            result = play_shop(settings, broker, narrator, args.speed, frames=video.frames())
        finally:
            video.close()
    return _summary(result)


def _settings(args: argparse.Namespace, tmp: Path, host: str, port: int) -> Settings:
    from edge.demo.synthetic import DEMO_SETTINGS

    overrides: dict[str, Any] = {
        "store": "demo", "camera": "synthetic" if args.video is None else "video",
        "state_dir": tmp / "state", "policy": DEMO_SETTINGS["policy"],
        "behaviour": DEMO_SETTINGS["behaviour"],
        "mqtt": {"host": host, "port": port, "client_id": f"dwell-demo-{os.getpid()}",
                 "homeassistant_discovery": False},
    }
    if args.video is None:
        overrides["zones"] = DEMO_SETTINGS["zones"]
    return load(args, **overrides)


def _summary(result: DemoResult) -> int:
    counts = result.counts
    held = {k: v for k, v in counts.held.items() if k != "staff"}
    sent = counts.pings_sent
    print("\nSummary:")
    print(f"  visits: {counts.visits}, pings sent: {sent} {dict(counts.pings)}, shown on the "
          f"watch: {result.shown_on_watch}, acks: {counts.acks}")
    print(f"  held back: {held}")
    print("Next: `dwell replay` a trace with your own thresholds, `dwell watch` to see pings "
          "live,\n      docs/deploy.md to put it on a Raspberry Pi.")
    if sent == 0:
        print("  No visitor stayed long enough to be pinged (a short clip?).")
    elif result.shown_on_watch < sent:
        raise CommandError(f"{sent - result.shown_on_watch} of {sent} pings did not reach the "
                           "watch over MQTT: check the broker")
    return EXIT_OK
