"""The broker fixture itself: later issues' integration tests rely on it starting and dying."""

from __future__ import annotations

import socket

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.broker import Mosquitto, wait_port

pytestmark = pytest.mark.broker


def _roundtrip(port: int) -> bytes:
    received: list[bytes] = []
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, msg: received.append(msg.payload)
    client.connect("127.0.0.1", port)
    client.subscribe("fixture/test", qos=1)
    client.loop_start()
    try:
        client.publish("fixture/test", b"hello", qos=1).wait_for_publish(5)
        for _ in range(200):
            if received:
                break
            import time

            time.sleep(0.01)
    finally:
        client.loop_stop()
        client.disconnect()
    return received[0] if received else b""


def test_session_broker_delivers(mosquitto: Mosquitto) -> None:
    assert _roundtrip(mosquitto.port) == b"hello"


def test_broker_can_be_killed_and_restarted_on_same_port(broker_factory) -> None:  # type: ignore[no-untyped-def]
    broker = broker_factory()
    port = broker.port
    broker.kill()
    assert not broker.running
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        pass
    broker.start()
    wait_port(port)
    assert broker.port == port
    assert _roundtrip(port) == b"hello"
