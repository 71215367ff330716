"""Ping texts fit a watch face in every language, and the payload carries the contract."""

from __future__ import annotations

import json

import pytest

from edge.delivery.messages import (
    MESSAGE_MAX,
    TITLE_MAX,
    iso_utc,
    parse_iso_utc,
    ping_payload,
    ping_text,
)
from tests.delivery_helpers import make_ping

REASONS = ["linger", "looking_around", "help_point"]


@pytest.mark.parametrize("language", ["en", "de"])
@pytest.mark.parametrize("reason", REASONS)
@pytest.mark.parametrize("zone", [None, "shoes", "a-very-long-zone-name-of-sixty-characters" * 2])
@pytest.mark.parametrize("escalation", [False, True])
def test_texts_fit_a_watch_face(language: str, reason: str, zone: str | None,
                                escalation: bool) -> None:
    text = ping_text(reason, 7200.0, zone, language, escalation)  # type: ignore[arg-type]
    assert 0 < len(text.title) <= TITLE_MAX and 0 < len(text.message) <= MESSAGE_MAX


@pytest.mark.parametrize(("language", "reason", "dwell", "zone", "title", "message"), [
    ("en", "linger", 130.0, "shoes", "Visitor lingering", "In the shop 2 min at shoes"),
    ("en", "help_point", 20.0, None, "Help point", "Visitor waiting"),
    ("de", "linger", 20.0, None, "Kunde verweilt", "Seit 20 s im Laden"),
    ("de", "linger", 600.0, None, "Kunde verweilt", "Seit 10 Min. im Laden"),
    ("de", "looking_around", 95.0, "Kasse", "Kunde sucht Hilfe",
     "Schaut sich suchend um bei Kasse"),
])
def test_texts(language: str, reason: str, dwell: float, zone: str | None, title: str,
               message: str) -> None:
    text = ping_text(reason, dwell, zone, language)  # type: ignore[arg-type]
    assert (text.title, text.message) == (title, message)


def test_payload_fields_and_times() -> None:
    ping = make_ping("id-1", "looking_around", 61.26, zone="entrance", visitor=7)
    data = ping_payload(ping, store="s", camera="c", language="en", now=1_700_000_000.25,
                        expiry_s=120)
    assert data == {
        "id": "id-1", "store": "s", "camera": "c", "visitor": 7, "reason": "looking_around",
        "title": "Visitor looking around", "message": "Seems to look for help at entrance",
        "priority": 4, "zone": "entrance", "dwell_s": 61.3, "escalation": False,
        "ts": "2023-11-14T22:13:20.250Z", "expires_at": "2023-11-14T22:15:20.250Z",
    }
    assert parse_iso_utc(data["expires_at"]) - parse_iso_utc(data["ts"]) == 120
    text = json.dumps(data)
    assert "image" not in text and "box" not in text and "face" not in text


def test_iso_roundtrip() -> None:
    assert parse_iso_utc(iso_utc(1234.5)) == 1234.5


# -- status and stats payloads (edge/delivery/status.py) -------------------------------------

def test_status_payloads_and_last_will() -> None:
    from edge.delivery.status import StatusSnapshot, status_payload

    online = status_payload("online", StatusSnapshot(camera_ok=False, fps=7.26,
                                                     visitors_now=3), 0.0)
    assert online == {"state": "online", "camera_ok": False, "problems": [],
                      "version": online["version"], "ts": "1970-01-01T00:00:00.000Z"}
    will = status_payload("offline", None, None, "connection lost")
    assert will["state"] == "offline" and "ts" not in will and will["camera_ok"] is None
    degraded = status_payload("online", None, 0.0, problems=("outbox was corrupt",))
    assert degraded["problems"] == ["outbox was corrupt"]


def test_stats_payload_and_ticker() -> None:
    from edge.delivery.status import DeliveryCounters, StatsSnapshot, StatsTicker, stats_payload

    counters = DeliveryCounters(queued=2, expired=1)
    counters.acks_refused["not_json"] += 2
    data = stats_payload(StatsSnapshot(visitors_today=4, dwell_median_s=33.333,
                                       pings_by_reason={"linger": 1}, acks=1,
                                       ack_median_s=None), counters, 60.0)
    assert data["dwell_median_s"] == 33.3 and data["ack_median_s"] is None
    assert data["delivery"]["expired"] == 1 and data["delivery"]["acks_refused"] == {
        "not_json": 2}
    json.dumps(data)  # plain JSON all the way down
    ticker = StatsTicker(60.0)
    assert [ticker.due(t) for t in (0.0, 30.0, 59.9, 60.0, 61.0, 120.0)] == [
        True, False, False, True, False, True]
