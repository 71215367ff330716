"""Records for the centre: made from real pipeline events, checked by the collector's rules,
bounded in the outbox (no broker or database here: tests/test_fleet.py has the real parts)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from edge.delivery.outbox import Outbox
from edge.delivery.records import RecordMaker
from edge.fleet.validate import RecordRefused, accept
from edge.vocabulary.events import Acknowledged, Attended, Entered, Ping, VisitEnded
from tests.builders import of_type, run_scenario, settings_with, standing, walk_through

TOPIC = "dwell/shop/entrance/events"


def maker() -> RecordMaker:
    return RecordMaker("shop", "entrance", "run1", lambda t: 1_780_000_000.0 + t)


def test_a_scenario_gives_one_record_per_finished_thing_and_every_one_is_accepted() -> None:
    events = run_scenario([standing(1.0, 80.0, 320.0, 400.0), walk_through(5.0)], 90.0,
                          settings_with(policy={"space_window_s": 20, "linger_s": 10}))
    m = maker()
    records = [r for ev in events for r in m.records(ev)]
    kinds = [r.kind for r in records]
    assert kinds.count("visit") == len(of_type(events, "visit_end"))
    assert kinds.count("ping") == len(of_type(events, "ping")) >= 1
    assert kinds.count("held") == len(of_type(events, "held"))
    assert len({r.id for r in records}) == len(records)  # every id unique within the run
    for record in records:
        accepted = accept(TOPIC, json.dumps(record.payload).encode())
        assert accepted.id == record.id and accepted.kind == record.kind
        assert "box" not in json.dumps(record.payload)  # ids, times, counts, zones only


def test_visit_carries_entrance_crossings_and_ack_and_attended_carry_latency() -> None:
    m = maker()
    assert m.records(Entered(1.0, 7)) == []
    ping = m.records(Ping(30.0, 7, id="p1", reason="linger", dwell_s=29.0))[0]
    ack = m.records(Acknowledged(42.5, 7, ping_id="p1", action="on_my_way"))[0]
    attended = m.records(Attended(60.0, 7, staff_id=2))[0]
    visit = m.records(VisitEnded(90.0, 7, dwell_s=89.0))[0]
    assert ping.payload["reason"] == "linger" and ping.payload["dwell_s"] == 29.0
    assert ack.payload["after_s"] == 12.5 and ack.payload["action"] == "on_my_way"
    assert attended.payload == {**attended.payload, "ping_id": "p1", "after_s": 30.0}
    assert visit.payload["entered"] is True and visit.payload["exited"] is False
    assert visit.payload["at"] == "2026-05-28T20:28:10.000Z"


@pytest.mark.parametrize("payload, kind, words", [
    (b"not json", "malformed", "not JSON"),
    (b"[1, 2]", "malformed", "not a JSON object"),
    (b'{"schema": 2}', "malformed", "schema 2"),
    (b'{"schema": 1, "kind": "selfie"}', "malformed", "unknown kind"),
    (b'{"schema": 1, "kind": "held", "id": ""}', "malformed", "id must be"),
    (b'{"schema": 1, "kind": "held", "id": "x", "store": "other", "camera": "entrance"}',
     "foreign", "'other'/'entrance'"),
    (b'{"schema": 1, "kind": "visit", "id": "x", "store": "shop", "camera": "entrance", '
     b'"at": "2026-05-02T10:00:00Z", "dwell_s": "long", "staff": false, "entered": false, '
     b'"exited": false}', "malformed", "visit.dwell_s"),
    (b'{"schema": 1, "kind": "held", "id": "x", "store": "shop", "camera": "entrance", '
     b'"at": "yesterday", "rule": "cooldown", "candidate": "linger"}', "malformed", "at:"),
    (b'{"schema": 1, "kind": "held", "id": "x", "store": "shop", "camera": "entrance", '
     b'"at": "2026-05-02T10:00:00", "rule": "cooldown", "candidate": "linger"}', "malformed",
     "no time zone"),
])
def test_bad_records_are_refused_with_their_reason(payload: bytes, kind: str,
                                                   words: str) -> None:
    with pytest.raises(RecordRefused) as refused:
        accept(TOPIC, payload)
    assert refused.value.kind == kind and words in str(refused.value)


def test_a_full_outbox_drops_held_records_first_then_the_oldest(tmp_path: Path) -> None:
    box = Outbox(tmp_path / "outbox.db")
    for i in range(4):
        box.add_record(f"v{i}", TOPIC, b"{}", held=False, limit=6)
        box.add_record(f"h{i}", TOPIC, b"{}", held=True, limit=6)
    assert [r[0] for r in box.pending_records()] == ["v0", "v1", "v2", "h2", "v3", "h3"]
    box.add_record("v3", TOPIC, b"{}", held=False, limit=6)  # a resend is stored once
    assert box.records_waiting() == 6 and box.counter("records_dropped") == 2
    for i in range(4, 10):
        box.add_record(f"v{i}", TOPIC, b"{}", held=False, limit=6)
    assert [r[0] for r in box.pending_records()] == [f"v{i}" for i in range(4, 10)]
    assert box.remove_record("v4") and not box.remove_record("v4")
