"""`dwell bridge ntfy` end to end: real CLI, real broker, a local HTTP server standing in for
ntfy (it records what it receives), and the button tapped by posting to its URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.messages import iso_utc
from edge.delivery.publisher import MqttPublisher
from edge.vocabulary.acks import Ack
from tests.broker import Mosquitto
from tests.delivery_helpers import make_ping, make_settings, publish_raw, wait_until

pytestmark = pytest.mark.broker


class FakeNtfy:
    def __init__(self, status: int = 200) -> None:
        self.received: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append((self.path, dict(self.headers), json.loads(body)))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def ntfy() -> Iterator[FakeNtfy]:
    server = FakeNtfy()
    yield server
    server.close()


def start_bridge(port: int, ntfy_url: str, prefix: str, tmp_path: Path
                 ) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "DWELL_MQTT__PORT": str(port), "DWELL_MQTT__TOPIC_PREFIX": prefix,
           "DWELL_NTFY__TOKEN": "tk_secret", "DWELL_NTFY__ACK_PORT": "0",
           "DWELL_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "--config", "/dev/null", "bridge", "ntfy",
         "--server", ntfy_url, "--topic", "shop-pings", "--client-id", f"bridge-{prefix}"],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "ack endpoint" in line, line + proc.stderr.read()
    return proc, line.rsplit(" ", 1)[1].strip()


def tap(url: str) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, b"", method="POST"),
                                    timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_pings_become_ntfy_messages_and_button_acks(mosquitto: Mosquitto, tmp_path: Path,
                                                    ntfy: FakeNtfy) -> None:
    acks: list[Ack] = []
    pub = MqttPublisher(make_settings(tmp_path / "sensor", mosquitto.port, topic_prefix="nt"),
                        acks.append)
    bridge, ack_endpoint = start_bridge(mosquitto.port, ntfy.url, "nt", tmp_path)
    try:
        assert pub.wait_connected(5)
        pub.publish(make_ping("n1", "help_point", zone="counter"))
        stale = {"id": "old", "title": "t", "message": "m", "expires_at": iso_utc(0)}
        publish_raw(mosquitto.port, "nt/shop/entrance/ping", json.dumps(stale).encode(),
                    b"not json")
        pub.publish(make_ping("n2", "looking_around"))
        publish_raw(mosquitto.port, "nt/shop/entrance/ping",
                    json.dumps({"id": "n1", "title": "again"}).encode())  # duplicate id
        wait_until(lambda: len(ntfy.received) >= 2)
        path, headers, first = ntfy.received[0]
        assert path == "/" and headers["Authorization"] == "Bearer tk_secret"
        assert first["topic"] == "shop-pings" and first["priority"] == 4
        assert first["title"] == "Help point" and "counter" in first["message"]
        assert first["tags"][0] == "raising_hand"
        on_my_way = first["actions"][0]
        assert (on_my_way["action"], on_my_way["label"], on_my_way["method"]) == (
            "http", "On my way", "POST")
        assert on_my_way["url"].startswith(ack_endpoint)

        forged = on_my_way["url"].replace("ping=n1", "ping=n2")
        assert tap(forged) == 403
        assert tap(on_my_way["url"]) == 200
        wait_until(lambda: len(acks) == 1)
    finally:
        bridge.send_signal(signal.SIGINT)
        _, err = bridge.communicate(timeout=10)
        pub.close()
    assert acks == [Ack("n1", "on_my_way", "ntfy")]
    assert [body["title"] for _, _, body in ntfy.received] == ["Help point",
                                                               "Visitor looking around"]
    assert "'expired': 1" in err and "'duplicate': 1" in err and "'malformed': 1" in err


def test_missing_topic_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "--config", "/dev/null", "bridge",
                           "ntfy"], capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert proc.returncode == 2 and "ntfy topic" in proc.stderr


def test_refusals_and_bad_button_requests_in_process(mosquitto: Mosquitto,
                                                     tmp_path: Path) -> None:
    from edge.bridges.ntfy import NtfyBridge
    from edge.config.mqtt import MqttConfig, NtfyConfig
    from edge.config.settings import Settings

    refusing = FakeNtfy(status=403)
    settings = Settings(state_dir=tmp_path, mqtt=MqttConfig(port=mosquitto.port,
                                                            topic_prefix="nt2"),
                        ntfy=NtfyConfig(server=refusing.url, topic="t", ack_port=0,
                                        ack_secret="fixed"))
    bridge = NtfyBridge(settings, client_id="bridge-nt2")
    try:
        publish_raw(mosquitto.port, "nt2/s/c/ping", b'{"id":"r1","title":"t","message":"m"}')
        wait_until(lambda: bridge.counts["refused"] == 1)
        assert bridge.handle_ack("base=nt2/s/c&ping=r1&action=hug&sig=x")[0] == 400
        assert bridge.handle_ack("ping=r1&action=dismiss")[0] == 400
        url = bridge.button_url("nt2/s/c", "r1", "dismiss")
        assert tap(url) == 200
        assert tap(url.replace("/ack?", "/other?")) == 404
    finally:
        bridge.close()
        refusing.close()
    assert bridge.counts["forwarded"] == 0 and bridge.counts["acks"] == 1
    # the same secret signs the same button: it keeps working across a bridge restart
    again = NtfyBridge(settings, client_id="bridge-nt2")
    try:
        assert again.button_url("nt2/s/c", "r1", "dismiss").split("sig=")[1] == \
            url.split("sig=")[1]
    finally:
        again.close()
