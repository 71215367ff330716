"""`dwell bridge ntfy` end to end: real CLI, real broker, a local HTTP server standing in for
ntfy (it records what it receives), and the button tapped by posting to its URL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.messages import iso_utc
from edge.delivery.publisher import sensor_publisher
from edge.vocabulary.acks import Ack
from tests.broker import Mosquitto
from tests.delivery_helpers import (
    Collector,
    make_ping,
    make_settings,
    publish_raw,
    wait_until,
)

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


def start_bridge(port: int, ntfy_url: str, prefix: str, tmp_path: Path, *extra: str
                 ) -> tuple[subprocess.Popen[str], str]:
    env = {**os.environ, "DWELL_MQTT__PORT": str(port), "DWELL_MQTT__TOPIC_PREFIX": prefix,
           "DWELL_NTFY__TOKEN": "tk_secret", "DWELL_NTFY__ACK_PORT": "0",
           "DWELL_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "--config", "/dev/null", "bridge", "ntfy",
         "--server", ntfy_url, "--topic", "shop-pings", "--client-id", f"bridge-{prefix}",
         *(extra or ("--local-acks",))],
        stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert proc.stderr is not None
    lines = [proc.stderr.readline()]
    while "forwarding" not in lines[-1] and lines[-1] and len(lines) < 5:
        lines.append(proc.stderr.readline())  # warnings may come first
    assert "forwarding" in lines[-1], "".join(lines) + proc.stderr.read()
    return proc, lines[-1].rsplit(" ", 1)[1].strip()


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
    pub = sensor_publisher(make_settings(tmp_path / "sensor", mosquitto.port, topic_prefix="nt"),
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
        # a second press, or a replay of the captured link: gone, not a second ack
        assert tap(on_my_way["url"]) == 410
        assert tap(first["actions"][1]["url"]) == 410
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
    bridge = NtfyBridge(settings, client_id="bridge-nt2", local_acks=True)
    try:
        publish_raw(mosquitto.port, "nt2/s/c/ping", b'{"id":"r1","title":"t","message":"m"}')
        wait_until(lambda: bridge.counts["refused"] == 1)
        assert bridge.handle_ack("base=nt2/s/c&ping=r1&action=hug&sig=x")[0] == 400
        assert bridge.handle_ack("ping=r1&action=dismiss")[0] == 400
        url = bridge.links.url("nt2/s/c", "r1", "dismiss", time.time() + 60)
        assert tap(url) == 200
        assert tap(url.replace("/ack?", "/other?")) == 404
    finally:
        bridge.close()
        refusing.close()
    assert bridge.counts["forwarded"] == 0 and bridge.counts["acks"] == 1
    # the same secret signs the same button: it keeps working across a bridge restart
    again = NtfyBridge(settings, client_id="bridge-nt2", local_acks=True)
    try:
        exp = int(url.split("exp=")[1].split("&")[0])
        assert again.links.url("nt2/s/c", "r1", "dismiss", exp).split("sig=")[1] == \
            url.split("sig=")[1]
    finally:
        again.close()


def test_a_loopback_ack_url_is_refused_saying_how_to_set_it(tmp_path: Path) -> None:
    """The old default pointed the buttons at 127.0.0.1, the phone itself: they did nothing."""
    for extra in ([], ["--ack-url", "http://127.0.0.1:8787"]):
        proc = subprocess.run([sys.executable, "-m", "edge.cli", "--config", "/dev/null",
                               "bridge", "ntfy", "--topic", "t", *extra],
                              capture_output=True, text=True, cwd=tmp_path, timeout=30)
        assert proc.returncode == 2, proc.stderr
        line, = proc.stderr.strip().splitlines()
        record = json.loads(line)  # stderr is no TTY: the log, and so the error, is JSON
        assert record["level"] == "ERROR" and record["exit_code"] == 2
        line = record["msg"]
        assert line.startswith("dwell bridge ntfy: ntfy.ack_url")
        assert "phone cannot reach" in line and "DWELL_NTFY__ACK_URL" in line
        assert "--local-acks" in line


def test_lan_ack_url_and_sigterm_prints_counts(mosquitto: Mosquitto, tmp_path: Path,
                                               ntfy: FakeNtfy) -> None:
    """With a LAN ack URL the buttons carry it; systemctl stop (SIGTERM) ends the bridge
    cleanly (exit 0) with its counts."""
    bridge, endpoint = start_bridge(mosquitto.port, ntfy.url, "nt3", tmp_path,
                                    "--ack-url", "http://192.0.2.10:8787")
    try:
        assert endpoint == "http://192.0.2.10:8787/ack"
        publish_raw(mosquitto.port, "nt3/shop/entrance/ping", b'{"id":"l1","title":"t"}')
        wait_until(lambda: len(ntfy.received) == 1)
        assert ntfy.received[0][2]["actions"][0]["url"].startswith(
            "http://192.0.2.10:8787/ack?")
        bridge.send_signal(signal.SIGTERM)
        _, err = bridge.communicate(timeout=10)
    finally:
        bridge.kill()
    assert bridge.returncode == 0, err
    assert "'forwarded': 1" in err


def test_a_button_pressed_after_its_ping_expired_is_gone(mosquitto: Mosquitto,
                                                        tmp_path: Path, ntfy: FakeNtfy) -> None:
    bridge, _ = start_bridge(mosquitto.port, ntfy.url, "nt4", tmp_path)
    got: list[bytes] = []
    sub = Collector(mosquitto.port, ["nt4/+/+/ack"])
    try:
        short = {"id": "s1", "title": "t", "message": "m",
                 "expires_at": iso_utc(time.time() + 1.5)}
        publish_raw(mosquitto.port, "nt4/shop/entrance/ping", json.dumps(short).encode())
        wait_until(lambda: len(ntfy.received) == 1)
        button = ntfy.received[0][2]["actions"][0]["url"]
        time.sleep(1.6)
        assert tap(button) == 410
        time.sleep(0.3)
        got = [m.payload for m in sub.messages]
    finally:
        bridge.send_signal(signal.SIGTERM)
        bridge.communicate(timeout=10)
        sub.close()
    assert got == []  # no ack reached the sensor
