"""ntfy bridge: each ping becomes an ntfy notification the watch mirrors; its "On my way"
button comes back to MQTT through a tiny HTTP endpoint served by the bridge.

Why an endpoint of our own (and not an ntfy topic the bridge subscribes to): the button's ack
then needs no second ntfy topic, reaches the sensor even when the ntfy server is on the
internet, and is *signed*, expiring and used once (edge/bridges/ack_links.py). The phone must
reach ``ntfy.ack_url`` (the shop's LAN, or a reverse proxy): a loopback URL is refused.

Flow: MQTT ``<prefix>/+/+/ping`` (persistent session) -> drop duplicate ids and expired pings
-> POST JSON to the ntfy server (worker thread, a few retries) -> phone/watch -> button ->
POST <ack_url>/ack?... -> signature checked -> ack published on ``<prefix>/<store>/<camera>/ack``.

It also reads each sensor's retained ``status``: when a sensor goes offline or loses its camera
the phone gets one notification, and one when it is back (edge/bridges/health.py), never one per
status message.
"""

from __future__ import annotations

import json
import logging
import queue
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import Counter, OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from edge.bridges.ack_links import AckLinks, check_base_url, is_local_host
from edge.bridges.health import HealthChange, HealthWatch
from edge.config.settings import Settings
from edge.delivery.acks import ack_payload
from edge.delivery.messages import parse_iso_utc
from edge.delivery.mqtt import MqttError, connect_now, make_client, session_properties

log = logging.getLogger("dwell.bridge.ntfy")

TAGS = {"linger": "hourglass", "looking_around": "eyes", "help_point": "raising_hand"}
BUTTONS = (("On my way", "on_my_way"), ("Dismiss", "dismiss"))
SEEN_KEPT = 5000
ATTEMPTS = 3


class NtfyBridge:
    """Runs until ``close``; ``forwarded`` counts pings the ntfy server accepted.

    ``local_acks`` accepts an ack URL on this machine (127.0.0.1): only a phone or browser on
    the same machine could press such buttons. Without it a missing or loopback
    ``ntfy.ack_url`` raises AckUrlError saying how to set it.
    """

    def __init__(self, settings: Settings, client_id: str = "dwell-bridge-ntfy",
                 local_acks: bool = False) -> None:
        self.cfg = settings.ntfy
        if not self.cfg.topic:
            raise ValueError("ntfy.topic is not set (the topic the phone subscribes to)")
        check_base_url(self.cfg.ack_url, local_acks)
        self.mqtt_cfg = settings.mqtt
        secret = self.cfg.ack_secret.get_secret_value() if self.cfg.ack_secret else None
        self.counts: Counter[str] = Counter()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._health = HealthWatch()
        self._work: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._server = ThreadingHTTPServer((self.cfg.ack_host, self.cfg.ack_port),
                                           self._handler_class())
        self.ack_url = self._ack_base_url(local_acks)
        self.links = AckLinks(self.ack_url, (secret or secrets.token_hex(32)).encode())
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="ntfy-acks", daemon=True),
            threading.Thread(target=self._forward_loop, name="ntfy-post", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.topic = f"{self.mqtt_cfg.topic_prefix}/+/+/ping"
        self.status_topic = f"{self.mqtt_cfg.topic_prefix}/+/+/status"
        self.client = make_client(self.mqtt_cfg, client_id)
        self.client.on_message = self._on_message
        try:
            self._connect()
        except Exception:
            self._stop_threads()
            raise

    def _ack_base_url(self, local_acks: bool) -> str:
        """Where phones send "On my way": the configured URL, else the listening address."""
        host, port = self._server.server_address[:2]
        url = (self.cfg.ack_url or f"http://{host!s}:{port}").rstrip("/")
        if self.cfg.ack_url and is_local_host(str(host)) and not local_acks:
            log.warning("the ack endpoint listens on %s only: phones reach %s only through a "
                        "reverse proxy on this machine (ntfy.ack_host = \"0.0.0.0\" listens "
                        "on the LAN)", host, url)
        return url

    def _connect(self) -> None:
        """Connects and subscribes; ready means: pings from now on are ours."""
        self.client.on_connect = lambda c, u, f, r, p: (
            c.subscribe([(self.topic, 1), (self.status_topic, 1)]) if not r.is_failure
            else None)
        subscribed = threading.Event()

        def on_subscribe(c: mqtt.Client, u: Any, mid: int, codes: Any, p: Any) -> None:
            for topic, code in zip((self.topic, self.status_topic), codes, strict=False):
                if code.is_failure:
                    log.error("subscription to %s refused: %s (the broker's ACL needs 'topic "
                              "read %s' for this user)", topic, code, topic)
            subscribed.set()

        self.client.on_subscribe = on_subscribe
        # persistent: pings sent while the bridge restarts still reach the phone
        connect_now(self.client, self.mqtt_cfg, clean_start=False,
                    properties=session_properties(self.mqtt_cfg.ping_expiry_s))
        if not subscribed.wait(10):
            raise MqttError(f"the broker did not confirm the subscription to {self.topic}")

    # -- MQTT -> ntfy -------------------------------------------------------------------

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        if msg.topic.endswith("/status"):
            self._on_status(msg.topic, bytes(msg.payload))
            return
        try:
            ping = json.loads(msg.payload)
            ping_id = str(ping["id"])
        except (ValueError, KeyError, TypeError):
            self.counts["malformed"] += 1
            log.warning("ignored a malformed ping on %s", msg.topic)
            return
        if ping_id in self._seen:
            self.counts["duplicate"] += 1
            return
        self._seen[ping_id] = None
        while len(self._seen) > SEEN_KEPT:
            self._seen.popitem(last=False)
        ping["_base"] = msg.topic.rsplit("/", 1)[0]
        self._work.put(("ping", ping))

    def _on_status(self, topic: str, payload: bytes) -> None:
        try:
            change = self._health.update(topic, payload)
        except ValueError:
            self.counts["malformed_status"] += 1
            log.warning("ignored a malformed status on %s", topic)
            return
        if change is not None:
            log.warning("%s: %s", change.title, change.message)
            self._work.put(("health", self.health_notification(change)))

    def _forward_loop(self) -> None:
        while (item := self._work.get()) is not None:
            kind, data = item
            try:
                if kind == "ping":
                    self._forward(data)
                elif self._post(data, "a sensor health notice"):
                    self.counts["health_notices"] += 1
            except Exception:  # one bad ping must not end the bridge
                log.exception("forwarding %s %s failed", kind, data.get("id"))

    def _forward(self, ping: dict[str, Any]) -> None:
        if _expires_at(ping, self.mqtt_cfg.ping_expiry_s) <= time.time():
            self.counts["expired"] += 1
            log.info("ping %s expired before it reached ntfy: not sent late", ping["id"])
            return
        if self._post(self.notification(ping), f"ping {ping['id']}"):
            self.counts["forwarded"] += 1

    def _post(self, notification: dict[str, Any], what: str) -> bool:
        """POST one notification to the ntfy server, with a few retries; True if accepted."""
        body = json.dumps(notification).encode()
        headers = {"Content-Type": "application/json"}
        if self.cfg.token is not None:
            headers["Authorization"] = f"Bearer {self.cfg.token.get_secret_value()}"
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(self.cfg.server.rstrip("/") + "/", body, headers,
                                             method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                return True
            except urllib.error.HTTPError as exc:
                if 400 <= exc.code < 500:
                    self.counts["refused"] += 1
                    log.error("ntfy server %s refused %s: HTTP %s %s (check ntfy.topic "
                              "and ntfy.token)", self.cfg.server, what, exc.code, exc.reason)
                    return False
                error = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                error = str(getattr(exc, "reason", exc))
            log.warning("ntfy server %s: %s (attempt %d of %d)", self.cfg.server, error,
                        attempt, ATTEMPTS)
            time.sleep(min(4.0, 0.5 * 2 ** attempt))
        self.counts["failed"] += 1
        return False

    def notification(self, ping: dict[str, Any]) -> dict[str, Any]:
        """The ntfy JSON publish body for one ping."""
        base, ping_id = ping["_base"], str(ping["id"])
        expires = _expires_at(ping, self.mqtt_cfg.ping_expiry_s)
        return {
            "topic": self.cfg.topic,
            "title": ping.get("title") or "dwell",
            "message": ping.get("message") or "",
            "priority": self.cfg.priority,
            "tags": [TAGS.get(str(ping.get("reason")), "bell"), str(ping.get("store", ""))],
            "actions": [
                {"action": "http", "label": label,
                 "url": self.links.url(base, ping_id, action, expires),
                 "method": "POST", "clear": True}
                for label, action in BUTTONS
            ],
        }

    def health_notification(self, change: HealthChange) -> dict[str, Any]:
        """The ntfy body telling that a sensor went offline, lost its camera, or is back."""
        problem = change.health != "ok"
        return {
            "topic": self.cfg.topic,
            "title": change.title,
            "message": change.message,
            # a dead sensor matters as much as a ping; "back" is good news, told gently
            "priority": self.cfg.priority if problem else 3,
            "tags": ["warning" if problem else "white_check_mark", change.sensor],
        }

    # -- ntfy button -> MQTT ack --------------------------------------------------------

    def handle_ack(self, query: str) -> tuple[int, str]:
        """(HTTP status, text) for a button press; publishes the ack when it is genuine."""
        status, text, link = self.links.check(query)
        if link is None:
            self.counts[{403: "bad_signature", 410: "gone"}.get(status, "bad_request")] += 1
            return status, text
        info = self.client.publish(f"{link.base}/ack",
                                   ack_payload(link.ping_id, link.action, "ntfy"), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            self.links.release(link)  # not answered: the button must work when pressed again
            return 503, "broker unreachable, try again"
        self.counts["acks"] += 1
        return 200, "ok"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        bridge = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                url = urlparse(self.path)
                status, text = (bridge.handle_ack(url.query) if url.path == "/ack"
                                else (404, "not found"))
                body = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                log.debug("ack endpoint: " + format, *args)

        return Handler

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        self._stop_threads()

    def _stop_threads(self) -> None:
        self._work.put(None)
        self._server.shutdown()
        self._server.server_close()


def _expires_at(ping: dict[str, Any], default_s: float) -> float:
    """When the ping stops mattering; without a readable expires_at, ``default_s`` from now."""
    try:
        return parse_iso_utc(str(ping["expires_at"]))
    except (KeyError, ValueError):
        return time.time() + default_s
