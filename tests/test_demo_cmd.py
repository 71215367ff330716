"""`dwell demo` through the real CLI: pings reach the watch over MQTT and an ack comes back."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.broker import Mosquitto
from tests.conftest import REPO, shared_file
from tests.test_run_cmd import first_frames

pytestmark = pytest.mark.broker


def run_demo(*args: str, cwd: Path = REPO, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    return subprocess.run([sys.executable, "-m", "edge.cli", "demo", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)


def check_story(out: str) -> None:
    """The loop a newcomer should see: held back, pings as the watch shows them, an ack."""
    assert "held back (linger of visitor" in out and "give them space" in out
    assert len(re.findall(r">> PING sent over MQTT", out)) == 3
    assert out.count("watch buzzes:") == 3
    for title in ("Help point", "Visitor lingering", "Visitor looking around"):
        assert f"| {title}" in out
    assert "<< ack arrived over MQTT (on_my_way by demo watch)" in out
    acked = re.search(r"no more pings about visitor (\d+)", out)
    assert acked is not None
    # the policy then holds that visitor's next candidate because of the ack
    assert re.search(rf"held back \(\w+ of visitor {acked.group(1)}\): the watch already "
                     r"answered", out)
    assert "acks: 1" in out


def test_demo_against_a_given_broker(broker_factory: Callable[..., Mosquitto],
                                     tmp_path: Path) -> None:
    broker = broker_factory()
    result = run_demo("--speed", "40", "--broker", f"127.0.0.1:{broker.port}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(--broker)" in result.stdout
    check_story(result.stdout)


def test_demo_out_of_the_box(tmp_path: Path) -> None:
    """No options: a private mosquitto (never the one on localhost:1883) — said so."""
    result = run_demo("--speed", "40", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"broker: a private mosquitto started for the demo on port \d+",
                     result.stdout)
    check_story(result.stdout)


def test_demo_starts_a_private_mosquitto(tmp_path: Path) -> None:
    result = run_demo("--speed", "40", "--broker", "private", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"a private mosquitto started for the demo on port \d+", result.stdout)
    check_story(result.stdout)


def test_demo_refuses_a_bad_speed_and_a_missing_video(tmp_path: Path) -> None:
    assert run_demo("--speed", "0", cwd=tmp_path).returncode == 2
    missing = run_demo("--video", str(tmp_path / "nope.mp4"), cwd=tmp_path)
    assert missing.returncode == 2 and "nope.mp4" in missing.stderr


def test_demo_on_a_real_clip(broker_factory: Callable[..., Mosquitto], tmp_path: Path) -> None:
    video = first_frames(shared_file("footage/TUD-Campus/TUD-Campus.mp4"),
                         tmp_path / "campus.mp4", 30)
    broker = broker_factory()
    result = run_demo("--video", str(video), "--speed", "1000", "--broker",
                      f"127.0.0.1:{broker.port}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert re.search(r"visitor \d+ comes in", result.stdout)
    assert "Summary:" in result.stdout


def test_demo_on_the_embedded_broker(tmp_path: Path) -> None:
    """What a machine without mosquitto gets: the same story over dwell's tiny MQTT 5 broker."""
    result = run_demo("--speed", "40", "--broker", "embedded", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "embedded MQTT 5 broker" in result.stdout
    check_story(result.stdout)


@pytest.mark.parametrize("pattern, topic, expected", [
    ("dwell/#", "dwell/shop/cam/ping", True),
    ("dwell/+/+/ping", "dwell/shop/cam/ping", True),
    ("dwell/+/+/ping", "dwell/shop/cam/ack", False),
    ("dwell/+/ping", "dwell/shop/cam/ping", False),
    ("dwell/shop/cam/ping", "dwell/shop/cam/ping", True),
    ("#", "anything/at/all", True),
])
def test_embedded_broker_topic_filters(pattern: str, topic: str, expected: bool) -> None:
    from edge.demo.broker import topic_matches

    assert topic_matches(pattern, topic) is expected


def test_embedded_broker_retains_and_sends_the_last_will() -> None:
    import time

    import paho.mqtt.client as mqtt

    from edge.demo.broker import EmbeddedBroker

    broker = EmbeddedBroker().start()
    got: list[tuple[str, bytes, bool]] = []
    sensor = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    sensor.will_set("d/s/c/status", b"offline", qos=1, retain=True)
    sensor.connect("127.0.0.1", broker.port)
    sensor.loop_start()
    watch = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    watch.on_message = lambda c, u, m: got.append((m.topic, m.payload, bool(m.retain)))
    try:
        sensor.publish("d/s/c/status", b"online", qos=1, retain=True).wait_for_publish(5)
        watch.connect("127.0.0.1", broker.port)
        watch.subscribe("d/#", qos=1)
        watch.loop_start()
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got[0] == ("d/s/c/status", b"online", True)  # retained, on subscribe
        sensor.loop_stop()
        sensor.socket().close()  # the sensor dies without DISCONNECT
        deadline = time.monotonic() + 5
        while len(got) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert got[1][:2] == ("d/s/c/status", b"offline")
    finally:
        watch.loop_stop()
        broker.stop()


# ---- the demo must never reach a shop's real watches (issue 12) ----------------------------

SHOP = '''
import json, subprocess, sys, time
from pathlib import Path
import paho.mqtt.client as mqtt
from edge.demo.mosquitto import Mosquitto

work = Path(sys.argv[1])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
shop = Mosquitto(work, port=1883).start()  # the shop's broker, where a Pi has it
seen = []
spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
spy.on_message = lambda c, u, m: seen.append(m.topic)
spy.connect("127.0.0.1", 1883)
spy.subscribe("#", qos=1)
spy.loop_start()
(work / "dwell.toml").write_text('[mqtt]\\nhost = "127.0.0.1"\\nport = 1883\\n')
demo = subprocess.run([sys.executable, "-m", "edge.cli", "--config", str(work / "dwell.toml"),
                       "demo", "--speed", "40"], capture_output=True, text=True, cwd=work)
time.sleep(0.5)
spy.loop_stop()
shop.stop()
print(json.dumps({"rc": demo.returncode, "out": demo.stdout, "err": demo.stderr,
                  "seen": seen}))
'''


def test_the_demo_never_publishes_on_the_shops_broker(tmp_path: Path) -> None:
    """On a Pi the shop's mosquitto answers on localhost:1883 and the config points at it; its
    bridges carry every ping to real watches. In a network namespace of its own (so that
    127.0.0.1:1883 is the stand-in shop broker, not this machine's), the demo sends nothing
    there: not a ping, not a status."""
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs `unshare -n` (root) for a loopback of its own")
    done = subprocess.run(["unshare", "-n", sys.executable, "-c", SHOP, str(tmp_path)],
                          capture_output=True, text=True, cwd=REPO, timeout=120,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith("DWELL_")})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rc"] == 0, result["err"]
    check_story(result["out"])  # the whole story still happened, on the demo's own broker
    assert "private mosquitto" in result["out"] or "embedded" in result["out"]
    assert result["seen"] == []


def retained_on(port: int, wait_s: float = 1.0) -> list[str]:
    """Topics a new subscriber to '#' gets retained messages on."""
    import paho.mqtt.client as mqtt

    got: list[str] = []
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.on_message = lambda c, u, m: got.append(m.topic) if m.retain else None
    client.connect("127.0.0.1", port)
    client.subscribe("#", qos=1)
    client.loop_start()
    time.sleep(wait_s)
    client.loop_stop()
    client.disconnect()
    return got


def test_a_demo_on_a_users_broker_leaves_nothing_retained(
        broker_factory: Callable[..., Mosquitto], tmp_path: Path) -> None:
    broker = broker_factory()
    result = run_demo("--speed", "40", "--broker", f"127.0.0.1:{broker.port}", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    check_story(result.stdout)
    assert retained_on(broker.port) == []  # no "offline" status, no stats of a fake shop
