"""PUBACK bookkeeping shared by the publisher and `dwell watch` (a unit test: the order of a
PUBACK and the caller's bookkeeping cannot be forced with a real broker)."""

from __future__ import annotations

import threading
from typing import Any

from edge.delivery.puback import Pubacks


def test_puback_after_or_before_tracking_settles_once() -> None:
    settled: list[tuple[str, Any]] = []
    acks: Pubacks[str] = Pubacks(lambda tag, reason: settled.append((tag, reason)))
    acks.track(1, "late-ack")
    acks.on_publish(None, None, 1, "ok")
    acks.on_publish(None, None, 2, "early")  # paho's thread beat the caller
    assert settled == [("late-ack", "ok")] and len(acks) == 0
    acks.track(2, "early-ack")
    assert settled == [("late-ack", "ok"), ("early-ack", "early")]
    assert acks.wait_all(0.0)


def test_forget_drops_open_mids_and_wait_all_times_out_until_settled() -> None:
    acks: Pubacks[str] = Pubacks(lambda tag, reason: None)
    acks.track(7, "x")
    assert acks.waiting(7) and not acks.wait_all(0.01)
    threading.Timer(0.05, acks.on_publish, (None, None, 7, "ok")).start()
    assert acks.wait_all(2.0) and not acks.waiting(7)
    acks.track(8, "y")
    acks.forget()
    assert len(acks) == 0
