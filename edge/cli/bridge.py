"""`dwell bridge ntfy`: forward pings to an ntfy topic, acks from its buttons back to MQTT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from types import FrameType

from pydantic import ValidationError

from edge.bridges.ack_links import AckUrlError
from edge.bridges.ntfy import NtfyBridge
from edge.cli.common import EXIT_OK, EXIT_USAGE, CommandError, load
from edge.delivery.mqtt import MqttError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bridge", help="forward pings to watches that do not speak MQTT")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    ntfy = kinds.add_parser(
        "ntfy", help="pings to an ntfy topic; its 'On my way' button acks back to MQTT",
        description="Settings come from the [ntfy] section (server, topic, token, ack_host, "
        "ack_port, ack_url, ack_secret); the options below override them. Also tells the "
        "phone once when a sensor goes offline or loses its camera, and once when it is back.",
    )
    ntfy.add_argument("--server", help="ntfy server URL (overrides ntfy.server)")
    ntfy.add_argument("--topic", help="ntfy topic (overrides ntfy.topic)")
    ntfy.add_argument("--ack-url", help="URL phones use to reach the ack endpoint, e.g. "
                      "http://192.168.1.10:8787 (overrides ntfy.ack_url)")
    ntfy.add_argument("--local-acks", action="store_true",
                      help="accept an ack URL on this machine (127.0.0.1): only a phone or "
                      "browser on this machine could press the buttons (tests)")
    ntfy.add_argument("--client-id", default="dwell-bridge-ntfy",
                      help="MQTT client id (stable: the session keeps pings across restarts)")
    ntfy.add_argument("--count", type=int, metavar="N",
                      help="exit after N pings were forwarded (for scripts and tests)")
    ntfy.add_argument("--timeout", type=float, metavar="S",
                      help="with --count: fail (exit 1) if not done within S seconds")
    ntfy.set_defaults(func=run_ntfy)


def run_ntfy(args: argparse.Namespace) -> int:
    settings = load(args)
    updates = {k: v for k, v in (("server", args.server), ("topic", args.topic),
                                 ("ack_url", args.ack_url)) if v}
    if updates:
        try:
            ntfy = settings.ntfy.model_validate({**settings.ntfy.model_dump(), **updates})
        except ValidationError as exc:
            bad = "; ".join(f"--{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}"
                            for e in exc.errors())
            raise CommandError(bad, EXIT_USAGE) from None
        settings = settings.model_copy(update={"ntfy": ntfy})
    if not settings.ntfy.topic:
        raise CommandError("no ntfy topic: set [ntfy] topic or pass --topic", EXIT_USAGE)
    try:
        bridge = NtfyBridge(settings, client_id=args.client_id, local_acks=args.local_acks)
    except AckUrlError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except (MqttError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(f"dwell bridge ntfy: forwarding {bridge.topic} to {settings.ntfy.server.rstrip('/')}/"
          f"{settings.ntfy.topic}; ack endpoint {bridge.ack_url}/ack", file=sys.stderr,
          flush=True)
    stop = threading.Event()

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        stop.set()  # systemctl stop: end the loop, print the counts, exit 0

    signal.signal(signal.SIGTERM, on_sigterm)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while args.count is None or bridge.counts["forwarded"] < args.count:
            if stop.wait(0.05):
                break
            if deadline is not None and time.monotonic() > deadline:
                raise CommandError(f"{bridge.counts['forwarded']} of {args.count} ping(s) "
                                   "forwarded in time")
    finally:
        bridge.close()
        print(f"dwell bridge ntfy: {dict(bridge.counts)}", file=sys.stderr, flush=True)
    return EXIT_OK
