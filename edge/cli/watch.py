"""`dwell watch`: a terminal stand-in for the assistant's watch, and the reference client.

It does what a watch integration must do: subscribe to pings with a *persistent session*
(clean_start False + session expiry, so pings sent while it was away still arrive), drop
duplicate ids (QoS 1 may deliver twice after a reconnect), show title, message and age, ring,
and answer on the ack topic. Keys: o = on my way, d = dismiss, q = quit. For scripts and tests:
``--auto-ack ACTION --count N --json``.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import os
import queue
import select
import socket
import sys
import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import SecretStr

from edge.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CommandError, load
from edge.delivery.acks import ACTIONS, ack_payload
from edge.delivery.messages import parse_iso_utc
from edge.delivery.mqtt import MqttError, connect_now, make_client, session_properties
from edge.delivery.puback import Pubacks

KEYS = {"o": "on_my_way", "d": "dismiss"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "watch", help="the terminal watch: show pings, acknowledge with a key",
        description="Show pings as a watch would and acknowledge them (o = on my way, "
        "d = dismiss, q = quit).",
    )
    parser.add_argument("--store", help="store to watch (default: the configured store; + = all)")
    parser.add_argument("--camera", default="+", help="camera to watch (default: + = all)")
    parser.add_argument("--client-id", help="MQTT client id; keep it stable so the persistent "
                        "session survives restarts (default: dwell-watch-<user>-<host>)")
    parser.add_argument("--session-expiry", type=int, default=3600, metavar="S",
                        help="how long the broker keeps pings for this watch while it is away "
                        "(default 3600 s)")
    parser.add_argument("--by", help="name sent with acks (default: the user name)")
    parser.add_argument("--username", help="broker login of the watch (default: mqtt.username)")
    parser.add_argument("--password-file", type=Path,
                        help="file holding the watch's broker password")
    parser.add_argument("--auto-ack", choices=ACTIONS, help="answer every ping with ACTION")
    parser.add_argument("--count", type=int, metavar="N", help="exit after N distinct pings")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="with --count: fail (exit 1) if N pings have not come in S seconds")
    parser.add_argument("--json", action="store_true", help="one JSON object a line per ping")
    parser.add_argument("--no-bell", action="store_true", help="do not ring the terminal bell")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = load(args)
    if args.count is not None and args.count < 1:
        print("dwell watch: --count must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    cfg = settings.mqtt
    overrides: dict[str, Any] = {}
    if args.username:
        overrides["username"] = args.username
    if args.password_file:
        try:
            overrides["password"] = SecretStr(args.password_file.read_text().strip())
        except OSError as exc:
            print(f"dwell watch: --password-file: {exc.strerror}: {exc.filename}",
                  file=sys.stderr)
            return EXIT_USAGE
    cfg = cfg.model_copy(update=overrides)
    user = getpass.getuser()
    client_id = args.client_id or f"dwell-watch-{user}-{socket.gethostname()}"[:64]
    topic = f"{cfg.topic_prefix}/{args.store or settings.store}/{args.camera}/ping"
    try:
        watch = Watch(cfg, client_id, topic, args, by=args.by or user)
        return watch.run()
    except (MqttError, CommandError) as exc:
        print(f"dwell watch: {exc}", file=sys.stderr)
        return EXIT_FAILURE


class Watch:
    def __init__(self, cfg: Any, client_id: str, topic: str, args: argparse.Namespace,
                 by: str) -> None:
        self.args = args
        self.by = by
        self.topic = topic
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.seen: set[str] = set()
        self.unanswered: list[dict[str, Any]] = []
        self.pubacks: Pubacks[str] = Pubacks(self._check_ack)  # mid of an ack -> ping id
        self.subscribed = threading.Event()
        self.client = make_client(cfg, client_id)
        self.client.on_message = lambda c, u, m: self.inbox.put((m.topic, bytes(m.payload)))
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self.pubacks.on_publish
        self.client.on_connect = lambda c, u, f, r, p: (
            c.subscribe(topic, qos=1) if not r.is_failure else None)
        connect_now(self.client, cfg, clean_start=False,
                    properties=session_properties(args.session_expiry))
        if not self.subscribed.wait(10):
            raise MqttError(f"the broker did not confirm the subscription to {topic}")
        print(f"dwell watch: subscribed to {topic} as {client_id} (session kept "
              f"{args.session_expiry} s); o = on my way, d = dismiss, q = quit",
              file=sys.stderr, flush=True)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      props: Any) -> None:
        if reasons and reasons[0].is_failure:
            print(f"dwell watch: subscription to {self.topic} refused: {reasons[0]} (check "
                  "the broker's ACL for this user)", file=sys.stderr, flush=True)
        else:
            self.subscribed.set()

    def _check_ack(self, ping_id: str, reason: Any) -> None:
        if reason.is_failure:
            print(f"dwell watch: the broker refused the ack for {ping_id}: {reason} (check "
                  "the broker's ACL for this user)", file=sys.stderr, flush=True)

    def run(self) -> int:
        deadline = time.monotonic() + self.args.timeout if self.args.timeout else None
        interactive = self.args.auto_ack is None and sys.stdin.isatty()
        restore = _cbreak() if interactive else None
        try:
            while self.args.count is None or len(self.seen) < self.args.count:
                if deadline is not None and time.monotonic() > deadline:
                    print(f"dwell watch: only {len(self.seen)} of {self.args.count} ping(s) "
                          f"within {self.args.timeout:g} s", file=sys.stderr)
                    return EXIT_FAILURE
                with contextlib.suppress(queue.Empty):
                    self.show(*self.inbox.get(timeout=0.1))
                if interactive and self.key_pressed() == "q":
                    break
            self.flush_acks(5.0)
            return EXIT_OK
        finally:
            if restore:
                restore()
            self.client.disconnect()
            self.client.loop_stop()

    def show(self, topic: str, payload: bytes) -> None:
        try:
            ping = json.loads(payload)
            ping_id = str(ping["id"])
        except (ValueError, KeyError, TypeError):
            print(f"dwell watch: ignored a malformed ping on {topic}", file=sys.stderr)
            return
        if ping_id in self.seen:
            return  # QoS 1 may deliver twice; the id says it is the same ping
        self.seen.add(ping_id)
        ping["topic"] = topic
        age = _age(ping)
        if self.args.json:
            print(json.dumps({**ping, "age_s": age, "ack": self.args.auto_ack}), flush=True)
        else:
            bell = "" if self.args.no_bell else "\a"
            when = datetime.now().strftime("%H:%M:%S")
            shown_age = "" if age is None else f", {age:.0f} s ago"
            print(f"{bell}[{when}] {ping.get('title', '?')} — {ping.get('message', '')}"
                  f"  ({'/'.join(topic.split('/')[-3:-1])}{shown_age})", flush=True)
            if self.args.auto_ack is None:
                print("        [o] on my way   [d] dismiss", flush=True)
        self.unanswered.append(ping)
        if self.args.auto_ack:
            self.acknowledge(self.args.auto_ack)

    def key_pressed(self) -> str | None:
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        if not ready:
            return None
        key = os.read(sys.stdin.fileno(), 1).decode(errors="ignore").lower()
        if key in KEYS:
            self.acknowledge(KEYS[key])
        return key

    def acknowledge(self, action: str) -> None:
        """Answer the newest unanswered ping."""
        if not self.unanswered:
            return
        ping = self.unanswered.pop()
        ack_topic = ping["topic"].rsplit("/", 1)[0] + "/ack"
        info = self.client.publish(ack_topic, ack_payload(ping["id"], action, self.by), qos=1)
        self.pubacks.track(info.mid, ping["id"])
        if not self.args.json:
            print(f"        -> {action.replace('_', ' ')}", flush=True)

    def flush_acks(self, timeout: float) -> None:
        self.pubacks.wait_all(timeout)


def _age(ping: dict[str, Any]) -> float | None:
    try:
        return round(time.time() - parse_iso_utc(str(ping["ts"])), 1)
    except (KeyError, ValueError):
        return None


def _cbreak() -> Any:
    """Single key presses without Enter; returns the function restoring the terminal."""
    import termios
    import tty

    fd = sys.stdin.fileno()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)
    return lambda: termios.tcsetattr(fd, termios.TCSADRAIN, saved)
