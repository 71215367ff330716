"""Ack parsing: everything odd refused with a reason; accepted acks reach the handler once."""

from __future__ import annotations

import json
import logging

import pytest

from edge.delivery.acks import MAX_ACK_BYTES, AckFilter, AckRejected, ack_payload, parse_ack
from edge.vocabulary.acks import Ack


@pytest.mark.parametrize(("payload", "reason"), [
    (b"", "not_json"),
    (b"hello", "not_json"),
    (b"\xff\xfe{}", "not_json"),
    (b"[]", "bad_fields"),
    (b'"ping"', "bad_fields"),
    (b"{}", "bad_fields"),
    (b'{"ping_id": 5, "action": "dismiss"}', "bad_fields"),
    (b'{"ping_id": "", "action": "dismiss"}', "bad_fields"),
    (b'{"ping_id": "p", "action": "yes"}', "bad_fields"),
    (b'{"ping_id": "p", "action": "dismiss", "by": 7}', "bad_fields"),
    (json.dumps({"ping_id": "p", "action": "done", "by": "x" * 65}).encode(), "bad_fields"),
    (b"{" + b" " * MAX_ACK_BYTES + b"}", "too_large"),
])
def test_parse_refuses(payload: bytes, reason: str) -> None:
    with pytest.raises(AckRejected) as info:
        parse_ack(payload)
    assert info.value.reason == reason


def test_parse_accepts_and_roundtrips() -> None:
    ack = parse_ack(ack_payload("p-1", "on_my_way", "anna"))
    assert (ack.ping_id, ack.action, ack.by) == ("p-1", "on_my_way", "anna")
    assert parse_ack(b'{"ping_id":"p","action":"done"}').by is None
    with pytest.raises(ValueError, match="action"):
        ack_payload("p", "maybe", None)


def test_filter_unknown_duplicate_and_time_to_ack(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[Ack] = []
    acks = AckFilter(calls.append)
    acks.sent("p1", 100.0)
    with caplog.at_level(logging.WARNING, logger="dwell.acks"):
        assert acks.receive(ack_payload("p2", "dismiss", None), 101.0) is None
        assert acks.receive(ack_payload("p2", "dismiss", None), 101.0) is None
        assert acks.receive(ack_payload("p1", "on_my_way", "b"), 112.5) is not None
        assert acks.receive(ack_payload("p1", "on_my_way", "b"), 113.0) is None
        assert acks.receive(ack_payload("p1", "done", "b"), 160.0) is not None
    assert calls == [Ack("p1", "on_my_way", "b"), Ack("p1", "done", "b")]
    assert dict(acks.refused) == {"unknown_ping": 2, "duplicate": 1}
    assert acks.times_to_ack == [12.5]  # the first answer is the response time
    assert len([r for r in caplog.records if "malformed" in r.getMessage()]) == 1


def test_handler_exceptions_are_not_swallowed_silently() -> None:
    def boom(*_: object) -> None:
        raise RuntimeError("service bug")

    acks = AckFilter(boom)
    acks.sent("p", 0.0)
    with pytest.raises(RuntimeError):
        acks.receive(ack_payload("p", "dismiss", None), 1.0)
