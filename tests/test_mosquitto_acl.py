"""deploy/mosquitto/ against a real mosquitto: each user may do exactly what the ACL says, the
dwell publisher works under the sensor's user, and the central bridge forwards."""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

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
DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto"
USERS = {"sensor-shop-entrance": "pw-sensor", "watch-anna": "pw-watch",
         "bridge-ntfy": "pw-bridge", "homeassistant": "pw-ha"}
NOT_AUTHORIZED = 135


def deploy_config(workdir: Path) -> str:
    """dwell.conf as shipped, with the paths of this test and the fixture's listener."""
    passwd = workdir / "dwell.passwd"
    for i, (user, password) in enumerate(USERS.items()):
        subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(passwd),
                        user, password], check=True, capture_output=True)
    lines = []
    for line in (DEPLOY / "dwell.conf").read_text().splitlines():
        if line.split(" ")[0] in ("listener", "certfile", "keyfile"):
            continue  # the fixture provides a loopback listener on a free port
        line = line.replace("/etc/mosquitto/dwell.passwd", str(passwd))
        line = line.replace("/etc/mosquitto/dwell.acl", str(DEPLOY / "dwell.acl"))
        line = line.replace("/var/lib/mosquitto/", f"{workdir}/")
        lines.append(line)
    return "\n".join(lines)


@pytest.fixture
def broker(broker_factory: Any) -> Mosquitto:
    made: Mosquitto = broker_factory(start=False, anonymous=False)
    made.extra_config = deploy_config(made.workdir)
    return made.start()


def pub_reason(broker: Mosquitto, user: str, topic: str) -> int:
    (reason,) = publish_raw(broker.port, topic, b'{"x":1}', username=user,
                            password=USERS[user])
    return int(reason.value)


@pytest.mark.parametrize(("user", "topic", "allowed"), [
    ("sensor-shop-entrance", "dwell/shop/entrance/ping", True),
    ("sensor-shop-entrance", "dwell/shop/entrance/status", True),
    ("sensor-shop-entrance", "dwell/shop/entrance/stats", True),
    ("sensor-shop-entrance", "dwell/shop/entrance/events", True),
    ("sensor-shop-entrance", "dwell/other/entrance/events", False),  # records as another shop
    ("sensor-shop-entrance", "homeassistant/sensor/dwell_shop_entrance/status/config", True),
    ("sensor-shop-entrance", "dwell/shop/backdoor/ping", False),  # another camera's topic
    ("sensor-shop-entrance", "dwell/shop/entrance/ack", False),  # forging an answer
    ("watch-anna", "dwell/shop/entrance/ack", True),
    ("watch-anna", "dwell/shop/entrance/ping", False),  # a watch cannot invent pings
    ("watch-anna", "dwell/shop/entrance/status", False),
    ("watch-anna", "dwell/other/entrance/ack", False),  # another shop
    ("bridge-ntfy", "dwell/any/cam/ack", True),
    ("bridge-ntfy", "dwell/any/cam/ping", False),
])
def test_write_rights(broker: Mosquitto, user: str, topic: str, allowed: bool) -> None:
    reason = pub_reason(broker, user, topic)
    assert (reason < 128) == allowed, reason
    if not allowed:
        assert reason == NOT_AUTHORIZED


@pytest.mark.parametrize(("user", "subscription", "publisher", "topic", "received"), [
    ("sensor-shop-entrance", "dwell/shop/entrance/ack", "watch-anna",
     "dwell/shop/entrance/ack", True),
    ("sensor-shop-entrance", "dwell/shop/+/ping", "sensor-shop-entrance",
     "dwell/shop/entrance/ping", False),
    ("watch-anna", "dwell/shop/+/ping", "sensor-shop-entrance", "dwell/shop/entrance/ping",
     True),
    ("watch-anna", "dwell/shop/+/ack", "bridge-ntfy", "dwell/shop/entrance/ack", False),
    # the watch reads status, so a dead sensor is not mistaken for a quiet shop (issue 12)
    ("watch-anna", "dwell/#", "sensor-shop-entrance", "dwell/shop/entrance/status", True),
    ("bridge-ntfy", "dwell/+/+/ping", "sensor-shop-entrance", "dwell/shop/entrance/ping", True),
    ("homeassistant", "dwell/#", "sensor-shop-entrance", "dwell/shop/entrance/stats", True),
])
def test_read_rights(broker: Mosquitto, user: str, subscription: str, publisher: str,
                     topic: str, received: bool) -> None:
    # mosquitto 2 grants every SUBSCRIBE and applies read rights to each message delivered
    reader = Collector(broker.port, [subscription], username=user, password=USERS[user])
    try:
        if publisher == user:  # one login is one client id here: publish on the reader's own
            info = reader.client.publish(topic, b'{"x":1}', qos=1)
            info.wait_for_publish(5)
        else:
            assert pub_reason(broker, publisher, topic) < 128
        with contextlib.suppress(TimeoutError):
            reader.wait_for(lambda ms: bool(ms), timeout=0.5 if not received else 5)
    finally:
        reader.close()
    assert bool(reader.messages) == received


def test_wrong_password_is_refused(broker: Mosquitto, tmp_path: Path) -> None:
    settings = make_settings(tmp_path, broker.port, username="watch-anna", password="nope")
    pub = sensor_publisher(settings, lambda *a: None)
    try:
        wait_until(lambda: pub.connection_error is not None, 5)
    finally:
        pub.close()
    assert "refused the login" in (pub.connection_error or "")


def test_sensor_and_watch_users_work_end_to_end(broker: Mosquitto, tmp_path: Path) -> None:
    acks: list[Ack] = []
    settings = make_settings(tmp_path, broker.port, username="sensor-shop-entrance",
                             password="pw-sensor", homeassistant_discovery=True)
    watch = Collector(broker.port, ["dwell/shop/+/ping"], username="watch-anna",
                      password="pw-watch")
    ha = Collector(broker.port, ["homeassistant/#", "dwell/#"], username="homeassistant",
                   password="pw-ha")
    pub = sensor_publisher(settings, acks.append)
    try:
        assert pub.wait_connected(5)
        pub.publish(make_ping("e2e"))
        watch.wait_for(lambda ms: bool(ms))
        answer = json.dumps({"ping_id": "e2e", "action": "on_my_way", "by": "anna"}).encode()
        # on the watch's own connection: a second one with its login would take its place
        watch.client.publish("dwell/shop/entrance/ack", answer, qos=1).wait_for_publish(5)
        wait_until(lambda: acks == [Ack("e2e", "on_my_way", "anna")])
        ha.wait_for(lambda ms: len([m for m in ms if m.topic.endswith("/config")]) == 3)
    finally:
        pub.close()
        watch.close()
        ha.close()
    assert pub.counters.not_authorized == 0 and pub.counters.confirmed == 1
    configs = {m.topic: m.json() for m in ha.messages if m.topic.endswith("/config")}
    visitors = configs["homeassistant/sensor/dwell_shop_entrance/visitors_now/config"]
    assert visitors["state_topic"] == "dwell/shop/entrance/stats"  # a count, not a state
    assert visitors["unique_id"] == "dwell_shop_entrance_visitors_now"


@pytest.mark.parametrize("client_id", ["dwell-shop-entrance", "sensor-shop-entrance"])
def test_a_watch_login_cannot_take_the_sensor_session_over(
        broker: Mosquitto, tmp_path: Path, client_id: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """With the watch's credentials and the sensor's client id (as the sensor sends it, and as
    the shipped config makes the broker name it) nobody closes the sensor's connection."""
    settings = make_settings(tmp_path, broker.port, username="sensor-shop-entrance",
                             password="pw-sensor")
    # the bridge's login reads the pings here: the intruder has the watch's
    watch = Collector(broker.port, ["dwell/shop/+/ping"], username="bridge-ntfy",
                      password="pw-bridge")
    pub = sensor_publisher(settings, lambda *a: None)
    intruder = None
    try:
        assert pub.wait_connected(5)
        with caplog.at_level(logging.WARNING, logger="dwell.publisher"):
            intruder = Collector(broker.port, ["dwell/shop/entrance/ack"], client_id=client_id,
                                 username="watch-anna", password="pw-watch")
            time.sleep(1.0)  # a takeover closes the sensor's connection at once
            assert pub.connected
            pub.publish(make_ping("still-mine"))
            watch.wait_for(lambda ms: bool(ms))
    finally:
        if intruder is not None:
            intruder.close()
        pub.close()
        watch.close()
    assert not [r.getMessage() for r in caplog.records if "lost the broker" in r.getMessage()]
    assert watch.ping_ids() == ["still-mine"] and pub.counters.confirmed == 1


def test_central_bridge_forwards_pings_out_and_acks_in(broker_factory: Any) -> None:
    central = broker_factory()
    lines = []
    for line in (DEPLOY / "bridge-central-with-acks.conf").read_text().splitlines():
        if line.startswith(("bridge_cafile", "remote_username", "remote_password")):
            continue  # the test's central broker is local, anonymous, without TLS
        if line.startswith("address"):
            line = f"address 127.0.0.1:{central.port}"
        lines.append(line)
    shop = broker_factory(extra_config="\n".join(lines))
    at_central = Collector(central.port, ["dwell/#"])
    at_shop = Collector(shop.port, ["dwell/+/+/ack"])
    try:
        # the bridge connects asynchronously: retry until a ping makes it across
        def forwarded() -> bool:
            publish_raw(shop.port, "dwell/shop/entrance/ping", b'{"id":"b1"}')
            try:
                at_central.wait_for(lambda ms: bool(ms), timeout=0.3)
                return True
            except TimeoutError:
                return False

        wait_until(forwarded, 10)
        publish_raw(central.port, "dwell/shop/entrance/ack", b'{"ping_id":"b1"}')
        at_shop.wait_for(lambda ms: bool(ms))
    finally:
        at_central.close()
        at_shop.close()
    topics = [m.topic for m in at_central.messages]
    assert "dwell/shop/entrance/ping" in topics
    assert topics.count("dwell/shop/entrance/ack") == 1  # the ack went in, not echoed back out
