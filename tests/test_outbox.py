"""The on-disk outbox: what goes in stays until confirmed or expired, across reopen; a corrupt
file is quarantined and the sensor goes on (the last test with a real mosquitto)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from edge.delivery.outbox import Entry, Outbox
from edge.delivery.publisher import sensor_publisher
from tests.broker import Mosquitto
from tests.delivery_helpers import Collector, make_ping, make_settings


def entry(ping_id: str, created: float, life: float = 120.0) -> Entry:
    return Entry(ping_id, "dwell/s/c/ping", f'{{"id":"{ping_id}"}}'.encode(), created,
                 created + life)


def test_pending_is_oldest_first_and_remove_confirms(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    for i, t in enumerate([30.0, 10.0, 20.0]):
        box.add(entry(f"p{i}", t))
    assert [e.id for e in box.pending(now=40.0)] == ["p1", "p2", "p0"]
    assert box.remove("p2") is True
    assert box.remove("p2") is False  # a second PUBACK for the same ping changes nothing
    assert [e.id for e in box.pending(now=40.0)] == ["p1", "p0"]


def test_expired_are_dropped_counted_and_never_returned(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.add(entry("old", 0.0, life=60.0))
    box.add(entry("edge", 0.0, life=100.0))
    box.add(entry("new", 50.0, life=60.0))
    assert [e.id for e in box.pending(now=100.0)] == ["new"]  # expires == now counts as expired
    assert box.counter("expired") == 2
    assert box.drop_expired(now=100.0) == []
    assert box.counter("expired") == 2


def test_survives_reopen_with_payload_and_counters(tmp_path: Path) -> None:
    path = tmp_path / "state" / "o.db"
    box = Outbox(path)
    box.add(entry("a", 0.0, life=10.0))
    box.add(entry("b", 5.0))
    box.drop_expired(now=20.0)
    box.close()
    again = Outbox(path)
    (only,) = again.pending(now=20.0)
    assert (only.id, only.payload, only.remaining_s(20.0)) == ("b", b'{"id":"b"}', 105.0)
    assert again.counter("expired") == 1 and len(again) == 1


def test_same_id_twice_is_one_row(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "o.db")
    box.add(entry("x", 1.0))
    box.add(entry("x", 2.0))
    assert len(box) == 1


# -- a corrupt file is quarantined, not fatal ------------------------------------------------

def test_a_corrupt_file_is_moved_aside_and_a_fresh_outbox_works(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    path.write_bytes(b"this is not an SQLite file, as after a power cut on an SD card" * 20)
    (tmp_path / "o.db-wal").write_bytes(b"stale wal")
    box = Outbox(path, clock=lambda: 1796169600.0)  # 2026-12-02 00:00:00 UTC
    assert box.quarantined == tmp_path / "o.db.corrupt-20261202T000000Z"
    assert box.quarantined.read_bytes().startswith(b"this is not an SQLite file")
    assert (tmp_path / "o.db-wal.corrupt-20261202T000000Z").read_bytes() == b"stale wal"
    box.add(entry("after", 1.0))
    assert [e.id for e in box.pending(now=2.0)] == ["after"]
    box.close()
    assert Outbox(path).quarantined is None  # the fresh file is fine next time


def test_a_damaged_page_is_quarantined_too(tmp_path: Path) -> None:
    path = tmp_path / "o.db"
    box = Outbox(path)
    for i in range(200):
        box.add(entry(f"p{i}", float(i)))
    box.close()
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # the header survives, a page of the table does not
    path.write_bytes(bytes(data))
    again = Outbox(path)
    assert again.quarantined is not None and again.quarantined.exists()
    assert len(again) == 0


def test_an_unopenable_path_is_an_error_not_a_quarantine(tmp_path: Path) -> None:
    (tmp_path / "o.db").mkdir()  # a directory where the file should be: no rename cures it
    with pytest.raises(OSError, match=r"o\.db: cannot open the ping outbox"):
        Outbox(tmp_path / "o.db")
    assert (tmp_path / "o.db").is_dir()
    assert not list(tmp_path.glob("*.corrupt-*"))


@pytest.mark.broker
def test_the_sensor_keeps_running_on_a_corrupt_outbox_and_status_says_so(
        mosquitto: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = make_settings(tmp_path, mosquitto.port, topic_prefix="t11")
    outbox = tmp_path / f"outbox-{settings.store}-{settings.camera}.db"
    outbox.write_bytes(b"\x00garbage" * 512)
    sub = Collector(mosquitto.port, ["t11/+/+/status", "t11/+/+/ping"])
    with caplog.at_level(logging.ERROR, logger="dwell.outbox"):
        pub = sensor_publisher(settings, lambda *a: None)
    try:
        assert pub.wait_connected(5)
        pub.publish(make_ping("still-works"))
        sub.wait_for(lambda ms: any(m.topic.endswith("/ping") for m in ms))
    finally:
        pub.close()
        sub.close()
    (moved,) = tmp_path.glob(f"{outbox.name}.corrupt-*")
    assert any("is corrupt" in r.getMessage() and moved.name in r.getMessage()
               for r in caplog.records)
    online = next(m.json() for m in sub.on("/status") if m.json()["state"] == "online")
    assert any(moved.name in problem for problem in online["problems"])
    assert sub.ping_ids() == ["still-works"]
