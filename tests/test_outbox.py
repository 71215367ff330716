"""The on-disk outbox: what goes in stays until confirmed or expired, across reopen."""

from __future__ import annotations

from pathlib import Path

from edge.delivery.outbox import Entry, Outbox


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
