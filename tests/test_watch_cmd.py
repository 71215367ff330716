"""`dwell watch` end to end: the real CLI, a real broker, the real publisher on the other side."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.publisher import sensor_publisher
from edge.vocabulary.acks import Ack
from tests.broker import Mosquitto
from tests.delivery_helpers import make_ping, make_settings, publish_raw, wait_until

pytestmark = pytest.mark.broker


def start_watch(port: int, tmp_path: Path, *args: str, prefix: str = "dwell"
                ) -> subprocess.Popen[str]:
    """The real CLI, configured by environment only (an empty config file)."""
    env = {**os.environ, "DWELL_MQTT__PORT": str(port), "DWELL_STATE_DIR": str(tmp_path),
           "DWELL_MQTT__TOPIC_PREFIX": prefix}
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "--config", "/dev/null",
                             "watch", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    assert proc.stderr is not None
    line = proc.stderr.readline()
    assert "subscribed to" in line, line + proc.stderr.read()
    return proc


def finish(proc: subprocess.Popen[str]) -> tuple[int, list[dict[str, Any]], str]:
    """Exit code, the pings shown (sensor-health lines left out: other tests on the shared
    broker leave a retained status behind) and stderr."""
    out, err = proc.communicate(timeout=30)
    shown = [json.loads(line) for line in out.splitlines()]
    return proc.returncode, [p for p in shown if p.get("event") != "sensor_health"], err


def test_shows_dedupes_and_acknowledges(mosquitto: Mosquitto, tmp_path: Path) -> None:
    acks: list[Ack] = []
    pub = sensor_publisher(make_settings(tmp_path / "sensor", mosquitto.port, topic_prefix="w1"),
                        acks.append)
    watch = start_watch(mosquitto.port, tmp_path, "--count", "2", "--auto-ack", "on_my_way",
                        "--json", "--client-id", "w1-watch", "--by", "anna", "--timeout", "20",
                        prefix="w1")
    try:
        assert pub.wait_connected(5)
        pub.publish(make_ping("one", "help_point", zone="counter"))
        # the broker has it before the duplicate is sent (the publisher sends on its own thread:
        # under load the duplicate could otherwise arrive first and be the one shown)
        assert pub.drain(5) == 0
        # the same id again (as after a reconnect): the watch must not show it twice
        publish_raw(mosquitto.port, "w1/shop/entrance/ping",
                    json.dumps(
                        {"id": "one", "title": "dup", "message": "dup", "ts": "x"}).encode())
        pub.publish(make_ping("two", "linger", dwell_s=200.0))
        code, shown, err = finish(watch)
        wait_until(lambda: len(acks) == 2)
    finally:
        watch.kill()
        pub.close()
    assert code == 0, err
    assert [p["id"] for p in shown] == ["one", "two"]
    assert shown[0]["title"] == "Help point" and shown[0]["age_s"] < 5
    assert acks == [Ack("one", "on_my_way", "anna"), Ack("two", "on_my_way", "anna")]


def test_persistent_session_gets_pings_sent_while_away(mosquitto: Mosquitto,
                                                       tmp_path: Path) -> None:
    env_args = ("--client-id", "w2-watch", "--json", "--timeout", "20")
    first = start_watch(mosquitto.port, tmp_path, "--count", "1", *env_args)
    publish_raw(mosquitto.port, "dwell/shop/entrance/ping", b'{"id":"a0","title":"t"}')
    code, shown, _ = finish(first)
    assert code == 0 and [p["id"] for p in shown] == ["a0"]
    # the watch is away: pings keep coming
    publish_raw(mosquitto.port, "dwell/shop/entrance/ping", b'{"id":"b1","title":"t"}',
                b'{"id":"b2","title":"t"}')
    second = start_watch(mosquitto.port, tmp_path, "--count", "2", *env_args)
    code, shown, _ = finish(second)
    assert code == 0 and [p["id"] for p in shown] == ["b1", "b2"]


def test_timeout_and_unreachable_broker_exit_1(mosquitto: Mosquitto, tmp_path: Path) -> None:
    watch = start_watch(mosquitto.port, tmp_path, "--count", "1", "--timeout", "0.5",
                        "--client-id", "w3", "--json", prefix="w3")
    code, shown, err = finish(watch)
    assert code == 1 and shown == [] and "only 0 of 1 ping(s)" in err
    env = {**os.environ, "DWELL_MQTT__PORT": "1"}
    proc = subprocess.run([sys.executable, "-m", "edge.cli", "--config", "/dev/null", "watch",
                           "--count", "1"], capture_output=True, text=True, env=env, timeout=30)
    assert proc.returncode == 1 and "unreachable" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_key_presses_on_a_terminal_acknowledge(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """The interactive path: stdin is a terminal (a pty), 'd' dismisses, 'q' quits."""
    import pty

    acks: list[Ack] = []
    pub = sensor_publisher(make_settings(tmp_path / "sensor", mosquitto.port, topic_prefix="w4"),
                        acks.append)
    master, slave = pty.openpty()
    env = {**os.environ, "DWELL_MQTT__PORT": str(mosquitto.port),
           "DWELL_MQTT__TOPIC_PREFIX": "w4", "DWELL_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "--config", "/dev/null", "watch",
                             "--client-id", "w4-watch", "--by", "ben"], stdin=slave,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env=env)
    try:
        assert proc.stderr is not None and proc.stdout is not None
        assert "subscribed to" in proc.stderr.readline()
        assert pub.wait_connected(5)
        pub.publish(make_ping("k1", "looking_around"))
        shown = proc.stdout.readline()
        assert "\a" in shown and "Visitor looking around" in shown and "s ago" in shown
        assert "[o] on my way" in proc.stdout.readline()
        os.write(master, b"d")
        wait_until(lambda: len(acks) == 1)
        os.write(master, b"q")
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        os.close(master)
        os.close(slave)
        pub.close()
    assert acks == [Ack("k1", "dismiss", "ben")]


def test_replay_publish_reaches_the_watch(mosquitto: Mosquitto, tmp_path: Path) -> None:
    """`dwell replay --publish` sends the pings of a recording as `run` would: the watch gets
    each one (same ids as replay --out writes), paced by --speed."""
    repo = Path(__file__).resolve().parent.parent
    golden = [json.loads(line) for line in (repo / "tests/data/golden_events.jsonl")
              .read_text().splitlines()]
    expected = [(e["id"], e["reason"]) for e in golden if e["type"] == "ping"]
    watch = start_watch(mosquitto.port, tmp_path, "--count", str(len(expected)), "--json",
                        "--client-id", "w5-watch", "--timeout", "30", prefix="w5")
    env = {**os.environ, "DWELL_MQTT__PORT": str(mosquitto.port),
           "DWELL_MQTT__TOPIC_PREFIX": "w5", "DWELL_STATE_DIR": str(tmp_path / "state")}
    started = time.monotonic()
    replay = subprocess.run(
        [sys.executable, "-m", "edge.cli", "--config", str(repo / "tests/data/golden.toml"),
         "replay", str(repo / "tests/data/golden_trace.jsonl"), "--publish", "--speed", "40"],
        capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    took = time.monotonic() - started
    code, shown, err = finish(watch)
    assert replay.returncode == 0, replay.stderr
    assert f"published {len(expected)} ping(s)" in replay.stdout
    assert f"{len(expected)} confirmed" in replay.stdout
    assert code == 0, err
    assert [(p["id"], p["reason"]) for p in shown] == expected
    assert took >= 75.0 / 40  # paced: the 75 s trace at 40 x takes at least 1.9 s


def test_several_pings_oldest_first_by_number_and_expiry(mosquitto: Mosquitto,
                                                         tmp_path: Path) -> None:
    """o answers the oldest open ping, 3d the one shown as #3; an expired ping (#2, 4 s)
    leaves the list (o then finds nothing to answer); each confirmation names its ping."""
    import pty

    from edge.delivery.messages import iso_utc
    from tests.delivery_helpers import Collector

    acks = Collector(mosquitto.port, ["w6/shop/+/ack"])
    master, slave = pty.openpty()
    env = {**os.environ, "DWELL_MQTT__PORT": str(mosquitto.port),
           "DWELL_MQTT__TOPIC_PREFIX": "w6", "DWELL_STATE_DIR": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "--config", "/dev/null", "watch",
                             "--client-id", "w6-watch", "--by", "cleo", "--no-bell"],
                            stdin=slave, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=tmp_path, env=env)

    def ping(ping_id: str, title: str, lives_s: float) -> bytes:
        return json.dumps({"id": ping_id, "title": title, "message": "m",
                           "ts": iso_utc(time.time()),
                           "expires_at": iso_utc(time.time() + lives_s)}).encode()

    def lines(n: int) -> list[str]:
        assert proc.stdout is not None
        return [proc.stdout.readline().rstrip("\n") for _ in range(n)]

    try:
        assert proc.stderr is not None
        assert "subscribed to" in proc.stderr.readline()
        publish_raw(mosquitto.port, "w6/shop/entrance/ping", ping("p1", "First", 60),
                    ping("p2", "Second", 4.0), ping("p3", "Third", 60))
        shown = lines(6)
        assert [line.split("]")[1].split(" —")[0] for line in shown[::2]] == [
            " #1 First", " #2 Second", " #3 Third"]
        assert "3o answers this one" in shown[5]
        os.write(master, b"o")
        assert lines(1) == ["        -> on my way: #1 First"]
        os.write(master, b"3d")
        assert lines(1) == ["        -> dismiss: #3 Third"]
        assert lines(1) == ["        #2 Second expired unanswered"]
        os.write(master, b"o")
        assert lines(1) == ["        no open ping (open: none)"]
        acks.wait_for(lambda m: len(m) == 2)
        os.write(master, b"q")
        assert proc.wait(10) == 0
    finally:
        proc.kill()
        os.close(master)
        os.close(slave)
        acks.close()
    answered = [(m.json()["ping_id"], m.json()["action"], m.json()["by"]) for m in acks.messages]
    assert answered == [("p1", "on_my_way", "cleo"), ("p3", "dismiss", "cleo")]
