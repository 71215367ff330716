"""Reconnecting: the backoff's numbers, queued pings soon after a broker returns, and a
second client with the same id stepping aside instead of fighting (real mosquitto)."""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from edge.delivery.publisher import MqttPublisher, sensor_publisher
from edge.delivery.reconnect import QUICK_DROPS, SESSION_TAKEN_OVER, ReconnectPolicy
from tests.delivery_helpers import Collector, make_ping, make_settings, outage_delays, wait_until


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Reason:
    def __init__(self, value: int) -> None:
        self.value = value


def test_backoff_doubles_to_the_ceiling_with_jitter_and_restarts_on_connect() -> None:
    clock = Clock()
    low = ReconnectPolicy(0.5, 4.0, 300.0, clock=clock, rng=lambda: 0.0)
    high = ReconnectPolicy(0.5, 4.0, 300.0, clock=clock, rng=lambda: 0.999999)
    assert [round(low.failed(), 3) for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    assert [round(high.failed(), 3) for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    high.connected()
    assert round(high.failed(), 3) == 0.5


def test_named_takeover_steps_aside_at_once() -> None:
    clock = Clock()
    policy = ReconnectPolicy(0.5, 1.0, 300.0, clock=clock, rng=lambda: 0.5)
    policy.connected()
    clock.now += 3600  # a long, healthy connection
    drop = policy.lost(Reason(SESSION_TAKEN_OVER))
    assert drop.taken_over and drop.said_by_broker and drop.delay_s == 300.0
    assert policy.takeovers == 1


def test_quick_drops_in_a_row_count_as_a_takeover_but_an_outage_does_not() -> None:
    clock = Clock()
    policy = ReconnectPolicy(0.5, 1.0, 300.0, clock=clock, rng=lambda: 0.5)
    unspecified = Reason(0x80)  # what mosquitto 2.0.11 leaves paho to say
    for _ in range(QUICK_DROPS - 1):
        policy.connected()
        clock.now += 1.0
        assert not policy.lost(unspecified).taken_over
    policy.failed()  # the broker refused an attempt: it was away, not taken over
    policy.connected()
    clock.now += 1.0
    assert not policy.lost(unspecified).taken_over
    for _ in range(QUICK_DROPS - 1):
        policy.connected()
        clock.now += 1.0
        drop = policy.lost(unspecified)
    assert drop.taken_over and not drop.said_by_broker and 225 <= drop.delay_s <= 375
    policy.connected()
    clock.now += 60  # a long connection ending is an ordinary drop
    assert not policy.lost(unspecified).taken_over


@pytest.mark.broker
def test_queued_pings_reach_the_watch_within_2s_of_the_broker_returning(
        broker_factory: Any, tmp_path: Path) -> None:
    """Outages of 5 and 15 s, side by side on two brokers (the 40 s one and the p50/p99 are
    in bench/reconnect_delay.py). The old backoff (doubling to 30 s) was 2-16 s late."""
    downs = (5.0, 15.0)
    brokers = [broker_factory(start=False) for _ in downs]
    with ThreadPoolExecutor(len(downs)) as pool:
        runs = [pool.submit(outage_delays, broker, tmp_path / f"s{i}", down)
                for i, (broker, down) in enumerate(zip(brokers, downs, strict=True))]
        delays = {down: run.result() for down, run in zip(downs, runs, strict=True)}
    for down, seconds in delays.items():
        assert len(seconds) == 3 and max(seconds) < 2.0, (down, seconds)


@pytest.mark.broker
def test_a_second_client_with_the_same_id_is_named_and_not_fought_over(
        broker_factory: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Two sensors with one client id (mosquitto 2.0.11 closes the older connection without
    saying why): they knock each other off a few times, then one steps aside and says so."""
    broker = broker_factory()
    status = Collector(broker.port, ["dwell/+/+/status"])
    pubs: list[MqttPublisher] = []
    try:
        with caplog.at_level(logging.WARNING, logger="dwell.publisher"):
            for name in ("a", "b"):
                pubs.append(sensor_publisher(make_settings(tmp_path / name, broker.port,
                                                        reconnect_min_s=0.5,
                                                        reconnect_max_s=1.0), lambda *a: None))
                assert pubs[-1].wait_connected(5)
            wait_until(lambda: any("session taken over" in r.getMessage()
                                   for r in caplog.records), 20)
            time.sleep(1.5)  # the last reconnect of the one staying settles
            drops_before = _drops(caplog)
            time.sleep(5.0)  # no more fighting
            drops_after = _drops(caplog)
            stays = [p for p in pubs if p.connected]
            assert len(stays) == 1
            stays[0].publish(make_ping("one-sensor"))
            wait_until(lambda: len(stays[0].outbox) == 0, 5)
    finally:
        for pub in pubs:
            pub.close()
        status.close()
    assert drops_after == drops_before
    aside = next(p for p in pubs if p is not stays[0])
    assert "client id 'dwell-shop-entrance'" in (aside.connection_error or "")
    assert "Not fighting over it" in (aside.connection_error or "")
    assert any("session taken over" in problem for problem in aside.problems)
    errors = [r for r in caplog.records if "session taken over" in r.getMessage()]
    assert errors and all(r.levelno == logging.ERROR for r in errors)


def _drops(caplog: pytest.LogCaptureFixture) -> int:
    return sum("lost the broker" in r.getMessage() or "session taken over" in r.getMessage()
               for r in caplog.records)
