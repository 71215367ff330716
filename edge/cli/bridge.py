"""`dwell bridge ntfy`: forward pings to an ntfy topic, acks from its buttons back to MQTT."""

from __future__ import annotations

import argparse
import sys
import time

from edge.bridges.ntfy import NtfyBridge
from edge.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load
from edge.delivery.mqtt import MqttError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bridge", help="forward pings to watches that do not speak MQTT")
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    ntfy = kinds.add_parser(
        "ntfy", help="pings to an ntfy topic; its 'On my way' button acks back to MQTT",
        description="Settings come from the [ntfy] section (server, topic, token, ack_host, "
        "ack_port, ack_url, ack_secret); the options below override them.",
    )
    ntfy.add_argument("--server", help="ntfy server URL (overrides ntfy.server)")
    ntfy.add_argument("--topic", help="ntfy topic (overrides ntfy.topic)")
    ntfy.add_argument("--client-id", default="dwell-bridge-ntfy",
                      help="MQTT client id (stable: the session keeps pings across restarts)")
    ntfy.add_argument("--count", type=int, metavar="N",
                      help="exit after N pings were forwarded (for scripts and tests)")
    ntfy.add_argument("--timeout", type=float, metavar="S",
                      help="with --count: fail (exit 1) if not done within S seconds")
    ntfy.set_defaults(func=run_ntfy)


def run_ntfy(args: argparse.Namespace) -> int:
    settings = load(args)
    updates = {k: v for k, v in (("server", args.server), ("topic", args.topic)) if v}
    if updates:
        ntfy = settings.ntfy.model_validate({**settings.ntfy.model_dump(), **updates})
        settings = settings.model_copy(update={"ntfy": ntfy})
    if not settings.ntfy.topic:
        print("dwell bridge ntfy: no ntfy topic: set [ntfy] topic or pass --topic",
              file=sys.stderr)
        return EXIT_USAGE
    try:
        bridge = NtfyBridge(settings, client_id=args.client_id)
    except (MqttError, OSError) as exc:
        print(f"dwell bridge ntfy: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"dwell bridge ntfy: forwarding {bridge.topic} to {settings.ntfy.server.rstrip('/')}/"
          f"{settings.ntfy.topic}; ack endpoint {bridge.ack_url}/ack", file=sys.stderr,
          flush=True)
    deadline = time.monotonic() + args.timeout if args.timeout else None
    try:
        while args.count is None or bridge.counts["forwarded"] < args.count:
            if deadline is not None and time.monotonic() > deadline:
                print(f"dwell bridge ntfy: {bridge.counts['forwarded']} of {args.count} "
                      "ping(s) forwarded in time", file=sys.stderr)
                return EXIT_FAILURE
            time.sleep(0.05)
    finally:
        bridge.close()
        print(f"dwell bridge ntfy: {dict(bridge.counts)}", file=sys.stderr, flush=True)
    return EXIT_OK
