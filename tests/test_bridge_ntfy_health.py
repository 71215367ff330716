"""The ntfy bridge tells the phone once that a sensor is offline (its last will) and once that
it is back, not on every status message; under the shipped ACL's bridge user. Real mosquitto, a
real sensor process SIGKILLed, a local HTTP server standing in for ntfy."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from edge.bridges.ntfy import NtfyBridge
from edge.config.mqtt import MqttConfig, NtfyConfig
from edge.config.settings import Settings
from edge.delivery.status import status_payload
from tests.broker import Mosquitto
from tests.delivery_helpers import publish_raw, wait_until
from tests.test_bridge_ntfy import FakeNtfy
from tests.test_mosquitto_acl import USERS, deploy_config
from tests.test_watch_status import start_sensor

pytestmark = pytest.mark.broker


@pytest.fixture
def broker(broker_factory: Any) -> Mosquitto:
    made: Mosquitto = broker_factory(start=False, anonymous=False)
    made.extra_config = deploy_config(made.workdir)
    return made.start()


def make_bridge(port: int, ntfy: FakeNtfy, tmp_path: Path) -> NtfyBridge:
    settings = Settings(
        state_dir=tmp_path,
        mqtt=MqttConfig(port=port, username="bridge-ntfy", password=USERS["bridge-ntfy"]),
        ntfy=NtfyConfig(server=ntfy.url, topic="shop-pings", ack_port=0,
                        ack_url="http://192.0.2.10:8787"))
    return NtfyBridge(settings, client_id="bridge-health")


def notices(ntfy: FakeNtfy) -> list[tuple[str, str, int]]:
    return [(body["title"], body["tags"][0], body["priority"]) for _, _, body in ntfy.received]


def test_offline_once_back_once(broker: Mosquitto, tmp_path: Path) -> None:
    ntfy = FakeNtfy()
    sensor = start_sensor(broker.port, tmp_path / "s")
    bridge = make_bridge(broker.port, ntfy, tmp_path)
    try:
        time.sleep(0.5)
        assert ntfy.received == []  # healthy: no news
        killed = time.monotonic()
        sensor.send_signal(signal.SIGKILL)
        sensor.wait(5)
        wait_until(lambda: len(ntfy.received) == 1, timeout=60)
        took = time.monotonic() - killed
        # back, then the same status again and again (as a restart sends it): one notice.
        # Sent with the sensor's login while no sensor runs: the broker uses the login as the
        # client id, so a second connection would take over a running sensor's session.
        online = json.dumps(status_payload("online", None, time.time())).encode()
        publish_raw(broker.port, "dwell/shop/entrance/status", online, online, online,
                    username="sensor-shop-entrance", password="pw-sensor")
        wait_until(lambda: len(ntfy.received) == 2)
        time.sleep(0.5)
    finally:
        bridge.close()  # first: the sensor's end below is not part of this story
        sensor.kill()
        sensor.wait(5)
        ntfy.close()
    assert took < 60
    assert notices(ntfy) == [("dwell sensor offline", "warning", 4),
                             ("dwell sensor back", "white_check_mark", 3)]
    first = ntfy.received[0][2]
    assert first["topic"] == "shop-pings" and "shop/entrance is offline" in first["message"]
    assert "actions" not in first  # nothing to acknowledge
    assert bridge.counts["health_notices"] == 2


def test_a_bridge_started_while_the_sensor_is_offline_tells_at_once(broker: Mosquitto,
                                                                    tmp_path: Path) -> None:
    sensor = start_sensor(broker.port, tmp_path / "s")
    sensor.send_signal(signal.SIGKILL)
    sensor.wait(5)
    time.sleep(0.3)  # the retained status is now the last will: offline
    ntfy = FakeNtfy()
    bridge = make_bridge(broker.port, ntfy, tmp_path)
    try:
        wait_until(lambda: len(ntfy.received) == 1)
        time.sleep(0.3)
    finally:
        bridge.close()
        ntfy.close()
    assert notices(ntfy) == [("dwell sensor offline", "warning", 4)]
