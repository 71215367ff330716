"""`dwell watch`: a terminal stand-in for the assistant's watch, and the reference client.

It does what a watch integration must do: subscribe to pings with a *persistent session*
(clean_start False + session expiry, so pings sent while it was away still arrive), drop
duplicate ids (QoS 1 may deliver twice after a reconnect), show title, message and age, ring,
and answer on the ack topic. It also reads the sensors' retained status, so a dead sensor or a
lost camera is shown (once, and once when it is back) instead of looking like a quiet shop.

Keys: o = on my way, d = dismiss (the oldest open ping; type its number first, e.g. ``2o``, for
another one), q = quit. Expired pings leave the list. For scripts and tests:
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

from edge.bridges.health import HealthWatch
from edge.cli.common import EXIT_OK, EXIT_USAGE, CommandError, load
from edge.delivery.acks import ACTIONS, ack_payload
from edge.delivery.messages import parse_iso_utc
from edge.delivery.mqtt import MqttError, connect_now, make_client, session_properties
from edge.delivery.puback import Pubacks

KEYS = {"o": "on_my_way", "d": "dismiss"}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "watch", help="the terminal watch: show pings, acknowledge with a key",
        description="Show pings as a watch would and acknowledge them (o = on my way, "
        "d = dismiss: the oldest open ping, or type its number first, e.g. 2o; q = quit). "
        "Also shows when a sensor goes offline or loses its camera, and when it is back.",
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
        raise CommandError("--count must be at least 1", EXIT_USAGE)
    cfg = settings.mqtt
    overrides: dict[str, Any] = {}
    if args.username:
        overrides["username"] = args.username
    if args.password_file:
        try:
            overrides["password"] = SecretStr(args.password_file.read_text().strip())
        except OSError as exc:
            raise CommandError(f"--password-file: {exc.strerror}: {exc.filename}",
                               EXIT_USAGE) from None
    cfg = cfg.model_copy(update=overrides)
    user = getpass.getuser()
    client_id = args.client_id or f"dwell-watch-{user}-{socket.gethostname()}"[:64]
    topic = f"{cfg.topic_prefix}/{args.store or settings.store}/{args.camera}/ping"
    try:
        watch = Watch(cfg, client_id, topic, args, by=args.by or user)
    except MqttError as exc:
        raise CommandError(str(exc)) from None
    return watch.run()


class Watch:
    def __init__(self, cfg: Any, client_id: str, topic: str, args: argparse.Namespace,
                 by: str) -> None:
        self.args = args
        self.by = by
        self.topic = topic
        self.status_topic = topic.rsplit("/", 1)[0] + "/status"
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.seen: set[str] = set()
        self.unanswered: list[dict[str, Any]] = []  # open pings, oldest first
        self.health = HealthWatch()
        self.typed = ""  # digits typed before o/d: the number of the ping to answer
        self.status_refused: str | None = None
        self.pubacks: Pubacks[str] = Pubacks(self._check_ack)  # mid of an ack -> ping id
        self.subscribed = threading.Event()
        self.client = make_client(cfg, client_id)
        self.client.on_message = lambda c, u, m: self.inbox.put((m.topic, bytes(m.payload)))
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self.pubacks.on_publish
        self.client.on_connect = lambda c, u, f, r, p: (
            c.subscribe([(topic, 1), (self.status_topic, 1)]) if not r.is_failure else None)
        connect_now(self.client, cfg, clean_start=False,
                    properties=session_properties(args.session_expiry))
        if not self.subscribed.wait(10):
            raise MqttError(f"the broker did not confirm the subscription to {topic}")
        print(f"dwell watch: subscribed to {topic} and status as {client_id} (session kept "
              f"{args.session_expiry} s); o = on my way, d = dismiss, q = quit",
              file=sys.stderr, flush=True)
        if self.status_refused:
            # pings still work, but a dead sensor would look like a quiet shop: say so loudly
            print(f"dwell watch: subscription to {self.status_topic} refused: "
                  f"{self.status_refused}; you will NOT see when a sensor goes offline (the "
                  f"broker's ACL needs 'topic read {self.status_topic}' for this user)",
                  file=sys.stderr, flush=True)

    def _on_subscribe(self, client: mqtt.Client, userdata: Any, mid: int, reasons: Any,
                      props: Any) -> None:
        if reasons and reasons[0].is_failure:
            print(f"dwell watch: subscription to {self.topic} refused: {reasons[0]} (check "
                  "the broker's ACL for this user)", file=sys.stderr, flush=True)
            return
        if len(reasons) > 1 and reasons[1].is_failure:
            self.status_refused = str(reasons[1])
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
                    raise CommandError(f"only {len(self.seen)} of {self.args.count} ping(s) "
                                       f"within {self.args.timeout:g} s")
                with contextlib.suppress(queue.Empty):
                    self.receive(*self.inbox.get(timeout=0.1))
                self.drop_expired(time.time())
                if interactive and self.key_pressed() == "q":
                    break
            self.flush_acks(5.0)
            return EXIT_OK
        finally:
            if restore:
                restore()
            self.client.disconnect()
            self.client.loop_stop()

    def receive(self, topic: str, payload: bytes) -> None:
        if topic.endswith("/status"):
            self.show_health(topic, payload)
        else:
            self.show(topic, payload)

    def show_health(self, topic: str, payload: bytes) -> None:
        try:
            change = self.health.update(topic, payload)
        except ValueError:
            print(f"dwell watch: ignored a malformed status on {topic}", file=sys.stderr)
            return
        if change is None:
            return
        if self.args.json:
            print(json.dumps(change.as_dict()), flush=True)
            return
        bell = "" if self.args.no_bell or change.health == "ok" else "\a"
        mark = "OK" if change.health == "ok" else "!!"
        print(f"{bell}[{_now()}] {mark} {change.title} — {change.message}", flush=True)

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
        age = _age(ping)
        if self.args.json:
            print(json.dumps({**ping, "topic": topic, "age_s": age, "ack": self.args.auto_ack}),
                  flush=True)
        ping["topic"], ping["_number"] = topic, len(self.seen)
        if not self.args.json:
            bell = "" if self.args.no_bell else "\a"
            shown_age = "" if age is None else f", {age:.0f} s ago"
            print(f"{bell}[{_now()}] {_label(ping)} — {ping.get('message', '')}"
                  f"  ({'/'.join(topic.split('/')[-3:-1])}{shown_age})", flush=True)
            if self.args.auto_ack is None:
                print("        [o] on my way   [d] dismiss   (oldest open ping first; "
                      f"{ping['_number']}o answers this one)", flush=True)
        self.unanswered.append(ping)
        if self.args.auto_ack:
            self.acknowledge(self.args.auto_ack)

    def key_pressed(self) -> str | None:
        ready, _, _ = select.select([sys.stdin], [], [], 0)
        if not ready:
            return None
        key = os.read(sys.stdin.fileno(), 1).decode(errors="ignore").lower()
        if key.isdigit():
            self.typed += key
            return key
        if key in KEYS:
            self.acknowledge(KEYS[key], int(self.typed) if self.typed else None)
        self.typed = ""  # any other key forgets a half-typed number
        return key

    def drop_expired(self, now: float) -> None:
        """Expired pings leave the list: answering one would send the assistant for nothing."""
        for ping in [p for p in self.unanswered if _expired(p, now)]:
            self.unanswered.remove(ping)
            if not self.args.json:
                print(f"        {_label(ping)} expired unanswered", flush=True)

    def _take(self, number: int | None) -> dict[str, Any] | None:
        """The open ping to answer: the oldest, or the one shown as #number."""
        chosen = [p for p in self.unanswered if number is None or p["_number"] == number]
        if not chosen:
            if not self.args.json:
                open_ones = ", ".join(f"#{p['_number']}" for p in self.unanswered) or "none"
                wanted = "no open ping" if number is None else f"no open ping #{number}"
                print(f"        {wanted} (open: {open_ones})", flush=True)
            return None
        self.unanswered.remove(chosen[0])
        return chosen[0]

    def acknowledge(self, action: str, number: int | None = None) -> None:
        """Answer the oldest open ping, or the one shown as #number."""
        ping = self._take(number)
        if ping is None:
            return
        ack_topic = ping["topic"].rsplit("/", 1)[0] + "/ack"
        info = self.client.publish(ack_topic, ack_payload(ping["id"], action, self.by), qos=1)
        self.pubacks.track(info.mid, ping["id"])
        if not self.args.json:
            print(f"        -> {action.replace('_', ' ')}: {_label(ping)}", flush=True)

    def flush_acks(self, timeout: float) -> None:
        self.pubacks.wait_all(timeout)


def _label(ping: dict[str, Any]) -> str:
    """How a ping is named on screen and in the confirmation: its number and title."""
    return f"#{ping['_number']} {ping.get('title', '?')}"


def _now() -> str:
    return datetime.now().strftime("%H:%M:%S")


def _expired(ping: dict[str, Any], now: float) -> bool:
    try:
        return parse_iso_utc(str(ping["expires_at"])) <= now
    except (KeyError, ValueError):
        return False  # no (readable) expiry: the sensor's policy decides, keep it open


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
