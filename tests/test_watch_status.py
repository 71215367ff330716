"""A dead sensor must not look like a quiet shop: `dwell watch`, logged in as the watch user of
the shipped ACL, learns from the retained status (the last will) that the sensor is offline or
blind, once per change, and once when it is back. Real mosquitto, a real sensor process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.status import StatusSnapshot, status_payload
from tests.broker import Mosquitto
from tests.conftest import REPO
from tests.delivery_helpers import publish_raw
from tests.test_mosquitto_acl import USERS, deploy_config

pytestmark = pytest.mark.broker

SENSOR = """
import sys, time
from pathlib import Path
from edge.delivery.publisher import sensor_publisher
from tests.delivery_helpers import make_settings
pub = sensor_publisher(make_settings(Path(sys.argv[2]), int(sys.argv[1]),
                                  username="sensor-shop-entrance", password="pw-sensor"),
                    lambda *a: None)
assert pub.wait_connected(5)
print("connected", flush=True)
time.sleep(600)
"""


@pytest.fixture
def broker(broker_factory: Any) -> Mosquitto:
    made: Mosquitto = broker_factory(start=False, anonymous=False)
    made.extra_config = deploy_config(made.workdir)
    return made.start()


class Lines:
    """stdout of a process read on a thread, so a test can wait for the next line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._cond = threading.Condition()
        assert proc.stdout is not None
        stdout = proc.stdout
        threading.Thread(target=self._read, args=(stdout,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> list[str]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.lines) >= count, timeout)
            return list(self.lines)


def start_sensor(port: int, state_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", SENSOR, str(port), str(state_dir)],
                            stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "connected"
    return proc


@pytest.fixture
def watch(broker: Mosquitto, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    password = tmp_path / "watch.pw"
    password.write_text(USERS["watch-anna"] + "\n")
    env = {**os.environ, "DWELL_MQTT__PORT": str(broker.port), "DWELL_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "--config", "/dev/null", "watch", "--json",
         "--store", "shop", "--client-id", "watch-anna-test", "--username", "watch-anna",
         "--password-file", str(password)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    assert proc.stderr is not None
    first = proc.stderr.readline()
    assert "subscribed to" in first, first + proc.stderr.read()
    yield proc, Lines(proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    # the shipped ACL grants the status read: no warning that offline would go unseen
    assert "refused" not in first + err, first + err


def health(lines: list[str]) -> list[tuple[str, str | None]]:
    events = [json.loads(line) for line in lines]
    return [(e["health"], e["previous"]) for e in events if e.get("event") == "sensor_health"]


def test_a_killed_sensor_is_shown_offline_once_and_back_once(
        broker: Mosquitto, tmp_path: Path, watch: tuple[subprocess.Popen[str], Lines]) -> None:
    _, out = watch
    sensor = start_sensor(broker.port, tmp_path / "s1")
    time.sleep(0.5)
    assert health(out.lines) == []  # a healthy sensor is no news
    killed = time.monotonic()
    sensor.send_signal(signal.SIGKILL)  # no goodbye: only the broker's last will tells
    sensor.wait(5)
    lines = out.wait(1, timeout=60)
    took = time.monotonic() - killed
    assert health(lines) == [("offline", "ok")], lines
    assert took < 60, took
    offline = json.loads(lines[0])
    assert offline["title"] == "dwell sensor offline" and "shop/entrance" in offline["message"]
    # back, and the same online status again (a restart, a re-subscription): one "back".
    # Sent with the sensor's login while no sensor runs: the broker uses the login as the client
    # id, so a second connection would take over a running sensor's session.
    online = json.dumps(status_payload("online", None, time.time())).encode()
    publish_raw(broker.port, "dwell/shop/entrance/status", online, online,
                username="sensor-shop-entrance", password="pw-sensor")
    out.wait(2)
    time.sleep(0.5)
    assert health(out.lines) == [("offline", "ok"), ("ok", "offline")], out.lines


def test_camera_lost_is_shown(
        broker: Mosquitto, tmp_path: Path, watch: tuple[subprocess.Popen[str], Lines]) -> None:
    _, out = watch
    blind = status_payload("online", StatusSnapshot(camera_ok=False, fps=0.0, visitors_now=0),
                           time.time())
    publish_raw(broker.port, "dwell/shop/entrance/status", json.dumps(blind).encode(),
                username="sensor-shop-entrance", password="pw-sensor")
    lines = out.wait(1)
    assert health(lines) == [("camera_lost", None)], lines
    assert "camera" in json.loads(lines[0])["message"]
