"""ntfy bridge: each ping becomes an ntfy notification the watch mirrors; its "On my way"
button comes back to MQTT through a tiny HTTP endpoint served by the bridge.

Why an endpoint of our own (and not an ntfy topic the bridge subscribes to): the button's ack
then needs no second ntfy topic, reaches the sensor even when the ntfy server is on the
internet, and is *signed*: each button URL carries an HMAC of (topic, ping id, action) under
``ntfy.ack_secret``, so nobody who merely sees the ntfy topic can forge an answer for another
ping or store. The phone must reach ``ntfy.ack_url`` (the shop's LAN, or a reverse proxy).

Flow: MQTT ``<prefix>/+/+/ping`` (persistent session) -> drop duplicate ids and expired pings
-> POST JSON to the ntfy server (worker thread, a few retries) -> phone/watch -> button ->
POST <ack_url>/ack?... -> signature checked -> ack published on ``<prefix>/<store>/<camera>/ack``.
"""

from __future__ import annotations

import hashlib
import hmac
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
from urllib.parse import parse_qs, urlencode, urlparse

import paho.mqtt.client as mqtt

from edge.config.settings import Settings
from edge.delivery.acks import ACTIONS, ack_payload
from edge.delivery.messages import parse_iso_utc
from edge.delivery.mqtt import MqttError, connect_now, make_client, session_properties

log = logging.getLogger("dwell.bridge.ntfy")

TAGS = {"linger": "hourglass", "looking_around": "eyes", "help_point": "raising_hand"}
BUTTONS = (("On my way", "on_my_way"), ("Dismiss", "dismiss"))
SEEN_KEPT = 5000
ATTEMPTS = 3


class NtfyBridge:
    """Runs until ``close``; ``forwarded`` counts notifications the ntfy server accepted."""

    def __init__(self, settings: Settings, client_id: str = "dwell-bridge-ntfy") -> None:
        self.cfg = settings.ntfy
        if not self.cfg.topic:
            raise ValueError("ntfy.topic is not set (the topic the phone subscribes to)")
        self.mqtt_cfg = settings.mqtt
        secret = self.cfg.ack_secret.get_secret_value() if self.cfg.ack_secret else None
        self._secret = (secret or secrets.token_hex(32)).encode()
        self.counts: Counter[str] = Counter()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._work: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._server = ThreadingHTTPServer((self.cfg.ack_host, self.cfg.ack_port),
                                           self._handler_class())
        host, port = self._server.server_address[:2]
        self.ack_url = (self.cfg.ack_url or f"http://{host!s}:{port}").rstrip("/")
        self._threads = [
            threading.Thread(target=self._server.serve_forever, name="ntfy-acks", daemon=True),
            threading.Thread(target=self._forward_loop, name="ntfy-post", daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        self.topic = f"{self.mqtt_cfg.topic_prefix}/+/+/ping"
        self.client = make_client(self.mqtt_cfg, client_id)
        self.client.on_message = self._on_message
        self.client.on_connect = lambda c, u, f, r, p: (
            c.subscribe(self.topic, qos=1) if not r.is_failure else None)
        subscribed = threading.Event()
        self.client.on_subscribe = lambda c, u, mid, codes, p: subscribed.set()
        try:
            # persistent: pings sent while the bridge restarts still reach the phone
            connect_now(self.client, self.mqtt_cfg, clean_start=False,
                        properties=session_properties(self.mqtt_cfg.ping_expiry_s))
            if not subscribed.wait(10):  # ready means: pings from now on are ours
                raise MqttError(f"the broker did not confirm the subscription to {self.topic}")
        except Exception:
            self._stop_threads()
            raise

    # -- MQTT -> ntfy -------------------------------------------------------------------

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
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
        self._work.put(ping)

    def _forward_loop(self) -> None:
        while (ping := self._work.get()) is not None:
            try:
                self._forward(ping)
            except Exception:  # one bad ping must not end the bridge
                log.exception("forwarding ping %s failed", ping.get("id"))

    def _forward(self, ping: dict[str, Any]) -> None:
        if _expired(ping):
            self.counts["expired"] += 1
            log.info("ping %s expired before it reached ntfy: not sent late", ping["id"])
            return
        body = json.dumps(self.notification(ping)).encode()
        headers = {"Content-Type": "application/json"}
        if self.cfg.token is not None:
            headers["Authorization"] = f"Bearer {self.cfg.token.get_secret_value()}"
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(self.cfg.server.rstrip("/") + "/", body, headers,
                                             method="POST")
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                self.counts["forwarded"] += 1
                return
            except urllib.error.HTTPError as exc:
                if 400 <= exc.code < 500:
                    self.counts["refused"] += 1
                    log.error("ntfy server %s refused ping %s: HTTP %s %s (check ntfy.topic "
                              "and ntfy.token)", self.cfg.server, ping["id"], exc.code,
                              exc.reason)
                    return
                error = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                error = str(getattr(exc, "reason", exc))
            log.warning("ntfy server %s: %s (attempt %d of %d)", self.cfg.server, error,
                        attempt, ATTEMPTS)
            time.sleep(min(4.0, 0.5 * 2 ** attempt))
        self.counts["failed"] += 1

    def notification(self, ping: dict[str, Any]) -> dict[str, Any]:
        """The ntfy JSON publish body for one ping."""
        base, ping_id = ping["_base"], str(ping["id"])
        return {
            "topic": self.cfg.topic,
            "title": ping.get("title") or "dwell",
            "message": ping.get("message") or "",
            "priority": self.cfg.priority,
            "tags": [TAGS.get(str(ping.get("reason")), "bell"), str(ping.get("store", ""))],
            "actions": [
                {"action": "http", "label": label, "url": self.button_url(base, ping_id, action),
                 "method": "POST", "clear": True}
                for label, action in BUTTONS
            ],
        }

    # -- ntfy button -> MQTT ack --------------------------------------------------------

    def button_url(self, base: str, ping_id: str, action: str) -> str:
        query = urlencode({"base": base, "ping": ping_id, "action": action,
                           "sig": self._sign(base, ping_id, action)})
        return f"{self.ack_url}/ack?{query}"

    def _sign(self, base: str, ping_id: str, action: str) -> str:
        message = f"{base}\n{ping_id}\n{action}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def handle_ack(self, query: str) -> tuple[int, str]:
        """(HTTP status, text) for a button press; publishes the ack when it is genuine."""
        params = {k: v[0] for k, v in parse_qs(query).items()}
        base, ping_id, action = params.get("base"), params.get("ping"), params.get("action")
        if not base or not ping_id or action not in ACTIONS:
            return 400, "missing or bad base, ping or action"
        expected = self._sign(base, ping_id, action)
        if not hmac.compare_digest(expected, params.get("sig", "")):
            self.counts["bad_signature"] += 1
            return 403, "signature does not match (bridge restarted without ntfy.ack_secret?)"
        info = self.client.publish(f"{base}/ack", ack_payload(ping_id, action, "ntfy"), qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
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


def _expired(ping: dict[str, Any]) -> bool:
    try:
        return parse_iso_utc(str(ping["expires_at"])) <= time.time()
    except (KeyError, ValueError):
        return False
