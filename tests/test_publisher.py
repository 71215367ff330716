"""The publisher against a real mosquitto: delivery, outages, expiry, acks, status, errors."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.publisher import sensor_publisher
from edge.delivery.status import StatsSnapshot, StatusSnapshot
from edge.vocabulary.acks import Ack
from tests.broker import Mosquitto
from tests.delivery_helpers import (
    Collector,
    make_ping,
    make_settings,
    publish_raw,
    wait_until,
)
from tests.pki import make_ca, make_leaf

pytestmark = pytest.mark.broker
REPO = Path(__file__).resolve().parent.parent


def persistence(workdir: Path) -> str:
    return f"persistence true\npersistence_location {workdir}/\n"


class FakeClock:
    """Wall clock the test can move forward (expiry without waiting)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def acks() -> list[tuple[str, str, str | None]]:
    return []


def test_ping_arrives_with_payload_expiry_and_leaves_outbox(mosquitto: Mosquitto, tmp_path: Path,
                                                          acks: list[Any]) -> None:
    settings = make_settings(tmp_path, mosquitto.port, topic_prefix="t1", ping_expiry_s=90,
                             language="de")
    sub = Collector(mosquitto.port, ["t1/#"])
    pub = sensor_publisher(settings, acks.append)
    try:
        assert pub.wait_connected(5)
        pub.publish(make_ping("p1", "help_point", 42.0, zone="counter"))
        sub.wait_for(lambda ms: any(m.topic.endswith("/ping") for m in ms))
        wait_until(lambda: len(pub.outbox) == 0)
    finally:
        pub.close()
        sub.close()
    ping = sub.on("/ping")[0]
    assert ping.topic == "t1/shop/entrance/ping" and not ping.retain
    assert ping.expiry is not None and 85 <= ping.expiry <= 90
    data = ping.json()
    assert set(data) >= {"id", "store", "camera", "visitor", "reason", "title", "message",
                         "priority", "zone", "dwell_s", "ts", "expires_at"}
    assert (data["id"], data["reason"], data["zone"], data["store"]) == (
        "p1", "help_point", "counter", "shop")
    assert data["title"] == "Beratungspunkt" and "counter" in data["message"]
    assert data["ts"].endswith("Z") and data["expires_at"] > data["ts"]
    assert pub.counters.confirmed == 1 and pub.counters.sent == 1


def test_status_online_then_clean_offline_with_snapshot(mosquitto: Mosquitto,
                                                        tmp_path: Path) -> None:
    settings = make_settings(tmp_path, mosquitto.port, topic_prefix="t2")
    sub = Collector(mosquitto.port, ["t2/+/+/status", "t2/+/+/stats"])
    pub = sensor_publisher(settings, lambda *a: None)
    assert pub.wait_connected(5)
    pub.set_status(StatusSnapshot(camera_ok=True, fps=9.87, visitors_now=2))
    pub.publish_stats(StatsSnapshot(visitors_today=5, dwell_median_s=61.25, pings_today=2,
                                    pings_by_reason={"linger": 2}, acks=1, ack_median_s=12.0))
    sub.wait_for(lambda ms: any(m.topic.endswith("/stats") for m in ms))
    pub.close()
    sub.wait_for(lambda ms: any(b"offline" in m.payload for m in ms))
    sub.close()
    states = [m.json() for m in sub.on("/status")]
    assert states[-2] == {**states[-2], "state": "online", "camera_ok": True, "problems": []}
    assert "visitors_now" not in states[-2]  # a count: it goes with stats
    assert states[-1]["state"] == "offline" and states[-1]["reason"] == "shutdown"
    stats = sub.on("/stats")[0].json()
    assert stats["visitors_today"] == 5 and stats["pings_by_reason"] == {"linger": 2}
    assert stats["visitors_now"] == 2 and stats["fps"] == 9.9
    assert stats["dwell_median_s"] == 61.2 or stats["dwell_median_s"] == 61.3
    assert stats["delivery"]["queued"] == 0
    # retained: a late subscriber still sees the last status
    late = Collector(mosquitto.port, ["t2/+/+/status"])
    late.wait_for(lambda ms: bool(ms))
    late.close()
    assert late.messages[0].retain and late.last_state() == "offline"


def test_status_changes_on_state_only_counts_go_to_stats(mosquitto: Mosquitto,
                                                        tmp_path: Path) -> None:
    """A shop's visitor count changes all day: status (what watches and Home Assistant alert
    on) must change only with the state; the count goes out with stats."""
    settings = make_settings(tmp_path, mosquitto.port, topic_prefix="t9")
    sub = Collector(mosquitto.port, ["t9/+/+/status", "t9/+/+/stats"])
    pub = sensor_publisher(settings, lambda *a: None)
    try:
        assert pub.wait_connected(5)
        for i in range(40):  # people come and go; fps wobbles
            pub.set_status(StatusSnapshot(camera_ok=True, fps=9.0 + i % 3, visitors_now=i % 5))
        pub.set_status(StatusSnapshot(camera_ok=False, fps=0.0, visitors_now=4))  # lost
        for i in range(10):
            pub.set_status(StatusSnapshot(camera_ok=False, fps=0.0, visitors_now=i % 2))
        pub.set_status(StatusSnapshot(camera_ok=True, fps=9.0, visitors_now=3))  # back
        pub.publish_stats(StatsSnapshot(visitors_today=7))
        sub.wait_for(lambda ms: any(m.topic.endswith("/stats") for m in ms))
        time.sleep(0.3)  # anything else on its way arrives too
    finally:
        pub.close()
        sub.close()
    states = [(m.json()["state"], m.json()["camera_ok"]) for m in sub.on("/status")]
    # on connect (nothing known yet), camera ok, lost, ok again, clean offline at close
    assert states == [("online", None), ("online", True), ("online", False), ("online", True),
                      ("offline", True)]
    (stats,) = [m.json() for m in sub.on("/stats")]
    assert stats["visitors_now"] == 3 and stats["fps"] == 9.0


def test_broker_down_at_start_pings_queue_and_arrive(broker_factory: Any, tmp_path: Path) -> None:
    broker = broker_factory()
    broker.extra_config = persistence(broker.workdir)
    broker.restart()
    sub = Collector(broker.port, ["dwell/+/+/ping"], client_id="watch-a", persistent=True)
    sub.close()
    broker.stop()  # saves the watch's session

    pub = sensor_publisher(make_settings(tmp_path, broker.port), lambda *a: None)
    try:
        for i in range(3):
            pub.publish(make_ping(f"q{i}"))
        assert not pub.connected and len(pub.outbox) == 3
        broker.start()
        assert pub.wait_connected(10)
        wait_until(lambda: len(pub.outbox) == 0)
        sub = Collector(broker.port, ["dwell/+/+/ping"], client_id="watch-a", persistent=True)
        sub.wait_for(lambda ms: len(ms) >= 3)
        sub.close()
    finally:
        pub.close()
    assert sorted(sub.ping_ids()) == ["q0", "q1", "q2"]
    assert pub.counters.no_subscribers == 0  # the persistent session was there to receive


def test_broker_restart_unexpired_delivered_expired_counted(broker_factory: Any,
                                                            tmp_path: Path) -> None:
    broker = broker_factory()
    broker.extra_config = persistence(broker.workdir)
    broker.restart()
    sub = Collector(broker.port, ["dwell/+/+/ping"], client_id="watch-b", persistent=True)
    clock = FakeClock()
    pub = sensor_publisher(make_settings(tmp_path, broker.port, ping_expiry_s=30), lambda *a: None,
                        clock=clock)
    try:
        assert pub.wait_connected(5)
        pub.publish(make_ping("before"))
        sub.wait_for(lambda ms: len(ms) == 1)
        broker.stop()
        wait_until(lambda: not pub.connected)
        pub.publish(make_ping("old"))  # due during the outage, expires before it ends
        clock.now += 40
        pub.publish(make_ping("fresh1"))
        pub.publish(make_ping("fresh2"))
        broker.start()
        sub.wait_for(lambda ms: len({m.json()["id"] for m in ms}) >= 3)
        wait_until(lambda: len(pub.outbox) == 0)
    finally:
        pub.close()
        sub.close()
    assert sorted(sub.ping_ids()) == ["before", "fresh1", "fresh2"]  # once each
    assert pub.counters.expired == 1
    fresh = next(m for m in sub.on("/ping") if m.json()["id"] == "fresh1")
    assert fresh.expiry is not None and fresh.expiry <= 30


def test_outbox_survives_process_restart(mosquitto: Mosquitto, tmp_path: Path,
                                         caplog: pytest.LogCaptureFixture) -> None:
    dead_port = make_settings(tmp_path, 1).mqtt.port  # nothing listens on port 1
    clock = FakeClock()
    first = sensor_publisher(make_settings(tmp_path, dead_port, ping_expiry_s=60),
                          lambda *a: None, clock=clock)
    first.publish(make_ping("keep"))
    clock.now += 30
    first.publish(make_ping("late"))
    with caplog.at_level(logging.WARNING, logger="dwell.publisher"):
        first.close(drain_s=0.2)
    assert any("2 ping(s) not confirmed" in r.getMessage() for r in caplog.records)
    clock.now += 40  # "keep" has expired by the time the next process runs
    sub = Collector(mosquitto.port, ["dwell/+/+/ping"])
    second = sensor_publisher(make_settings(tmp_path, mosquitto.port, ping_expiry_s=60),
                           lambda *a: None, clock=clock)
    try:
        sub.wait_for(lambda ms: len(ms) >= 1)
        wait_until(lambda: len(second.outbox) == 0)
    finally:
        second.close()
        sub.close()
    assert sub.ping_ids() == ["late"]
    assert second.counters.expired == 1


def test_acks_valid_duplicate_and_malformed(mosquitto: Mosquitto, tmp_path: Path,
                                            acks: list[Any],
                                            caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, mosquitto.port, topic_prefix="t3")
    pub = sensor_publisher(settings, acks.append)
    topic = "t3/shop/entrance/ack"
    try:
        assert pub.wait_connected(5)
        pub.publish(make_ping("a1"))
        good = json.dumps({"ping_id": "a1", "action": "on_my_way", "by": "anna"}).encode()
        bad = [b"not json", b"[1,2]", b'{"ping_id":"a1","action":"hug"}',
               b'{"ping_id":"zz","action":"dismiss"}', b"{" + b" " * 5000 + b"}", b"\xff\xfe"]
        with caplog.at_level(logging.WARNING, logger="dwell.acks"):
            done = json.dumps({"ping_id": "a1", "action": "done", "by": None}).encode()
            publish_raw(mosquitto.port, topic, good, good, *bad, *bad, done)
            wait_until(lambda: len(acks) == 2 and sum(pub.acks.refused.values()) == 13)
    finally:
        pub.close()
    assert acks == [Ack("a1", "on_my_way", "anna"), Ack("a1", "done", None)]
    refused = pub.delivery().acks_refused
    assert refused == {"duplicate": 1, "not_json": 4, "bad_fields": 4, "unknown_ping": 2,
                       "too_large": 2}
    warnings = [r for r in caplog.records if "malformed ack" in r.getMessage()]
    assert len(warnings) == 4  # once per reason, not per message
    assert pub.ack_median_s() is not None


ACL = """user sensor
topic write dwell/shop/entrance/status
topic read dwell/shop/entrance/ack
"""


def _passwd(workdir: Path, users: dict[str, str]) -> Path:
    path = workdir / "passwd"
    for i, (user, password) in enumerate(users.items()):
        flags = ["-c"] if i == 0 else []
        subprocess.run(["mosquitto_passwd", *flags, "-b", str(path), user, password],
                       check=True, capture_output=True)
    return path


def test_acl_refusal_is_logged_as_error_and_counted(broker_factory: Any, tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    broker = broker_factory(start=False, anonymous=False)
    passwd = _passwd(broker.workdir, {"sensor": "s3cret"})
    (broker.workdir / "acl").write_text(ACL)
    broker.extra_config = f"password_file {passwd}\nacl_file {broker.workdir / 'acl'}\n"
    broker.start()
    settings = make_settings(tmp_path, broker.port, username="sensor", password="s3cret")
    pub = sensor_publisher(settings, lambda *a: None)
    try:
        assert pub.wait_connected(5)
        with caplog.at_level(logging.ERROR, logger="dwell.publisher"):
            pub.publish(make_ping("nope"))
            wait_until(lambda: pub.counters.not_authorized == 1)
    finally:
        pub.close()
    assert any("Not authorized" in r.getMessage() and r.levelno == logging.ERROR
               for r in caplog.records)


def test_bad_password_gives_clear_error(broker_factory: Any, tmp_path: Path,
                                        caplog: pytest.LogCaptureFixture) -> None:
    broker = broker_factory(start=False, anonymous=False)
    passwd = _passwd(broker.workdir, {"sensor": "right"})
    broker.extra_config = f"password_file {passwd}\n"
    broker.start()
    settings = make_settings(tmp_path, broker.port, username="sensor", password="wrong")
    with caplog.at_level(logging.ERROR, logger="dwell.publisher"):
        pub = sensor_publisher(settings, lambda *a: None)
        try:
            wait_until(lambda: pub.connection_error is not None, 5)
            pub.publish(make_ping("queued-anyway"))
        finally:
            pub.close()
    error = pub.connection_error or ""
    # mosquitto 2 answers a wrong password with "Not authorized", others "Bad user name..."
    assert "refused the login" in error and "user 'sensor'" in error
    assert "mqtt.password" in error and "wrong" not in error
    assert any("refused the login" in r.getMessage() for r in caplog.records)


HELPER = """
import sys, time
from pathlib import Path
from edge.delivery.publisher import sensor_publisher
from tests.delivery_helpers import make_ping, make_settings
state, port, n = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
pub = sensor_publisher(make_settings(state, port, keepalive_s=5), lambda *a: None)
if pub.wait_connected(float(sys.argv[4])):
    print("connected", flush=True)
for i in range(n):
    pub.publish(make_ping(f"k{i}"))
print("queued", len(pub.outbox), pub.counters.resent, flush=True)
time.sleep(60)
"""


def _helper(state: Path, port: int, pings: int, wait: float) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HELPER, str(state), str(port), str(pings),
                             str(wait)], stdout=subprocess.PIPE, text=True, cwd=REPO,
                            env={**os.environ, "PYTHONPATH": str(REPO)})


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(5)


def test_sigkill_goes_offline_and_restart_delivers_disk_outbox(broker_factory: Any,
                                                               tmp_path: Path) -> None:
    broker = broker_factory()
    broker.extra_config = persistence(broker.workdir)
    broker.restart()
    state = tmp_path / "state"
    sub = Collector(broker.port, ["dwell/+/+/status", "dwell/+/+/ping"], client_id="watch-k",
                    persistent=True)
    try:
        first = _helper(state, broker.port, 0, 5)
        assert first.stdout is not None and first.stdout.readline().strip() == "connected"
        sub.wait_for(lambda ms: any(b'"online"' in m.payload for m in ms))
        killed = time.monotonic()
        _kill(first)
        sub.wait_for(lambda ms: any(b'"offline"' in m.payload for m in ms), timeout=12)
        offline_after = time.monotonic() - killed
        assert offline_after <= 2 * 5
        assert b"connection lost" in sub.on("/status")[-1].payload

        broker.stop()  # a crash during an outage: the pings exist only on disk
        second = _helper(state, broker.port, 2, 0.5)
        assert second.stdout is not None
        assert second.stdout.readline().split()[:2] == ["queued", "2"]
        _kill(second)
        broker.start()
        third = _helper(state, broker.port, 0, 10)
        assert third.stdout is not None and third.stdout.readline().strip() == "connected"
        sub.wait_for(lambda ms: {"k0", "k1"} <= {m.json().get("id") for m in ms
                                                 if m.topic.endswith("/ping")})
        wait_until(lambda: sub.last_state() == "online")
        _kill(third)
    finally:
        sub.close()


@pytest.fixture
def tls_broker(broker_factory: Any, tmp_path: Path) -> tuple[Mosquitto, int, Path]:
    """A broker with a TLS listener whose certificate (for 'localhost' only) a test CA signed."""
    pki = tmp_path / "pki"
    pki.mkdir()
    make_ca(pki, "ca")
    make_ca(pki, "other-ca")
    make_leaf(pki, "broker", "localhost")
    from tests.broker import free_port

    tls_port = free_port()
    broker = broker_factory(extra_config=(
        f"listener {tls_port} 127.0.0.1\ncafile {pki / 'ca.crt'}\n"
        f"certfile {pki / 'broker.crt'}\nkeyfile {pki / 'broker.key'}\n"))
    return broker, tls_port, pki


def _tls_settings(tmp_path: Path, port: int, host: str, ca: Path) -> Any:
    return make_settings(tmp_path / "state", port, host=host,
                         tls={"enabled": True, "ca_file": ca})


def test_tls_with_the_right_ca_delivers(tls_broker: Any, tmp_path: Path) -> None:
    broker, tls_port, pki = tls_broker
    sub = Collector(broker.port, ["dwell/+/+/ping"])
    pub = sensor_publisher(_tls_settings(tmp_path, tls_port, "localhost", pki / "ca.crt"),
                        lambda *a: None)
    try:
        assert pub.wait_connected(5), pub.connection_error
        pub.publish(make_ping("tls1"))
        sub.wait_for(lambda ms: bool(ms))
    finally:
        pub.close()
        sub.close()
    assert sub.ping_ids() == ["tls1"]


@pytest.mark.parametrize(("host", "ca", "expected"), [
    ("localhost", "other-ca.crt", "self-signed certificate"),  # not signed by our CA
    ("127.0.0.1", "ca.crt", "IP address mismatch"),
])
def test_tls_certificate_problems_are_named(tls_broker: Any, tmp_path: Path, host: str,
                                            ca: str, expected: str,
                                            caplog: pytest.LogCaptureFixture) -> None:
    _, tls_port, pki = tls_broker
    with caplog.at_level(logging.ERROR, logger="dwell.publisher"):
        pub = sensor_publisher(_tls_settings(tmp_path, tls_port, host, pki / ca), lambda *a: None)
        try:
            wait_until(lambda: pub.connection_error is not None, 5)
        finally:
            pub.close()
    error = pub.connection_error or ""
    assert "TLS certificate problem" in error and expected in error
    assert any("TLS certificate problem" in r.getMessage() for r in caplog.records)
    # the CLI tools say the same in one line and exit 1
    env = {**os.environ, "DWELL_MQTT__PORT": str(tls_port), "DWELL_MQTT__HOST": host,
           "DWELL_MQTT__TLS__ENABLED": "true", "DWELL_MQTT__TLS__CA_FILE": str(pki / ca)}
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "--config", "/dev/null", "watch",
                           "--count", "1"], capture_output=True, text=True, env=env,
                          timeout=30, cwd=tmp_path)
    assert proc.returncode == 1 and "TLS certificate problem" in proc.stderr
    assert expected in proc.stderr


def test_missing_ca_file_is_a_clear_error(tmp_path: Path) -> None:
    from edge.delivery.mqtt import MqttError

    with pytest.raises(MqttError, match=r"mqtt\.tls\.ca_file: .* does not exist"):
        sensor_publisher(_tls_settings(tmp_path, 8883, "localhost", tmp_path / "nope.crt"),
                      lambda *a: None)


def test_ping_in_flight_at_a_drop_is_not_resent_late(broker_factory: Any,
                                                     tmp_path: Path) -> None:
    """paho keeps unacknowledged messages in RAM and resends them on reconnect with their
    original expiry; the publisher must not let that happen to a ping that expired meanwhile."""
    broker = broker_factory()
    broker.extra_config = persistence(broker.workdir)
    broker.restart()
    sub = Collector(broker.port, ["dwell/+/+/ping"], client_id="watch-f", persistent=True)
    sub.close()
    assert broker.proc is not None
    db = broker.workdir / "mosquitto.db"
    saved = db.stat().st_mtime_ns if db.exists() else 0
    os.kill(broker.proc.pid, signal.SIGUSR1)  # save now: the watch's session survives SIGKILL
    wait_until(lambda: db.exists() and db.stat().st_mtime_ns != saved, 5)
    clock = FakeClock()
    pub = sensor_publisher(make_settings(tmp_path, broker.port, ping_expiry_s=30), lambda *a: None,
                        clock=clock)
    try:
        assert pub.wait_connected(5)
        assert broker.proc is not None
        os.kill(broker.proc.pid, signal.SIGSTOP)  # takes the bytes, never answers
        pub.publish(make_ping("in-flight"))
        time.sleep(0.2)
        assert len(pub.outbox) == 1 and pub.counters.sent == 1
        clock.now += 40  # the outage outlasts the ping
        broker.kill()  # the buffered PUBLISH dies with it
        wait_until(lambda: not pub.connected)
        broker.start()
        assert pub.wait_connected(10)
        pub.publish(make_ping("control"))
        sub = Collector(broker.port, ["dwell/+/+/ping"], client_id="watch-f", persistent=True)
        sub.wait_for(lambda ms: any(b'"control"' in m.payload for m in ms))
        time.sleep(0.2)
    finally:
        pub.close()
        sub.close()
    assert sub.ping_ids() == ["control"]
    assert pub.counters.expired == 1


def test_frozen_process_goes_offline_by_keepalive(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """SIGKILL closes the socket (offline at once); a hung sensor or a cut cable does not, and
    only the keepalive (5 s here) lets the last will fire."""
    sub = Collector(mosquitto.port, ["dwell/+/+/status"])
    helper = _helper(tmp_path / "frozen", mosquitto.port, 0, 5)
    try:
        assert helper.stdout is not None and helper.stdout.readline().strip() == "connected"
        sub.wait_for(lambda ms: any(b'"online"' in m.payload for m in ms))
        frozen = time.monotonic()
        helper.send_signal(signal.SIGSTOP)
        sub.wait_for(lambda ms: b'"offline"' in ms[-1].payload, timeout=17)
        offline_after = time.monotonic() - frozen
    finally:
        _kill(helper)
        sub.close()
    # MQTT says the broker gives up after 1.5 x keepalive of silence; mosquitto 2.0.11 was
    # measured here at 10.7-11.1 s for keepalive 5 (its keepalive check is coarse): allow 3 x
    assert 5 <= offline_after <= 3 * 5


def test_client_certificate_when_the_broker_requires_one(broker_factory: Any,
                                                         tmp_path: Path) -> None:
    pki = tmp_path / "pki"
    pki.mkdir()
    make_ca(pki, "ca")
    for name, cn in (("broker", "localhost"), ("client", "sensor-shop-entrance")):
        make_leaf(pki, name, cn)
    from tests.broker import free_port

    tls_port = free_port()
    broker = broker_factory(extra_config=(
        f"listener {tls_port} 127.0.0.1\ncafile {pki / 'ca.crt'}\n"
        f"certfile {pki / 'broker.crt'}\nkeyfile {pki / 'broker.key'}\n"
        "require_certificate true\n"))
    tls = {"enabled": True, "ca_file": pki / "ca.crt"}
    without = sensor_publisher(make_settings(tmp_path / "a", tls_port, host="localhost", tls=tls),
                            lambda *a: None)
    try:
        wait_until(lambda: without.connection_error is not None, 5)
    finally:
        without.close()
    assert "wants a client certificate" in (without.connection_error or "")
    env = {**os.environ, "DWELL_MQTT__PORT": str(tls_port), "DWELL_MQTT__HOST": "localhost",
           "DWELL_MQTT__TLS__ENABLED": "true", "DWELL_MQTT__TLS__CA_FILE": str(pki / "ca.crt")}
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "--config", "/dev/null", "watch",
                           "--count", "1"], capture_output=True, text=True, env=env,
                          timeout=30, cwd=tmp_path)
    assert proc.returncode == 1 and "wants a client certificate" in proc.stderr
    sub = Collector(broker.port, ["dwell/+/+/ping"])
    tls_cert = {**tls, "cert_file": pki / "client.crt", "key_file": pki / "client.key"}
    pub = sensor_publisher(make_settings(tmp_path / "b", tls_port, host="localhost", tls=tls_cert),
                        lambda *a: None)
    try:
        assert pub.wait_connected(5), pub.connection_error
        pub.publish(make_ping("mtls"))
        sub.wait_for(lambda ms: bool(ms))
    finally:
        pub.close()
        sub.close()
    assert sub.ping_ids() == ["mtls"]


def test_replay_publisher_does_not_pose_as_the_live_sensor(mosquitto: Mosquitto,
                                                           tmp_path: Path) -> None:
    from edge.delivery.publisher import replay_publisher

    settings = make_settings(tmp_path, mosquitto.port, topic_prefix="t5")
    sub = Collector(mosquitto.port, ["t5/#"])
    live = sensor_publisher(settings, lambda *a: None)
    try:
        assert live.wait_connected(5)
        replayed = replay_publisher(settings)
        assert replayed.wait_connected(5)
        replayed.publish(make_ping("from-replay"))
        replayed.close(drain_s=5)
        live.publish(make_ping("live"))
        sub.wait_for(lambda ms: len([m for m in ms if m.topic.endswith("/ping")]) == 2)
        assert live.connected  # a shared client id would have kicked it off
    finally:
        live.close()
        sub.close()
    assert sub.ping_ids() == ["from-replay", "live"]
    states = [m.json()["state"] for m in sub.on("/status")]
    assert states == ["online", "offline"]  # the live sensor's only
    assert replayed.outbox.path != live.outbox.path
    assert replayed.report().endswith("(t5/shop/entrance/ping): 1 confirmed")
