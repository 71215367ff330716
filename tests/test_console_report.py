"""The report's bucketing and response times, from events (what the pipeline emits)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from edge.console.ledger import Ledger, merged
from edge.console.report import Collected, dwell_bins, report_csv
from edge.vocabulary.events import Acknowledged, Attended, Ping, VisitEnded, VisitStarted


def test_events_are_bucketed_by_local_hour_and_responses_paired() -> None:
    c = Collected(datetime(2026, 5, 2, 9, 59, 30))
    for ev in (VisitStarted(1.0, 3), Ping(10.0, 3, id="a", reason="linger"),
               Acknowledged(14.0, 3, ping_id="a", action="on_my_way"),
               Attended(25.0, 3, staff_id=9),
               VisitStarted(40.0, 4), Ping(50.0, 4, id="b", reason="help_point", party=(5,)),
               Attended(80.0, 5, staff_id=9), VisitEnded(90.0, 4, dwell_s=50.0)):
        c.add(ev)
    assert sorted(c.hours) == ["2026-05-02 09:00", "2026-05-02 10:00"]
    assert c.hours["2026-05-02 09:00"].visits == 1 and c.hours["2026-05-02 10:00"].visits == 1
    assert c.hours["2026-05-02 10:00"].pings == {"help_point": 1}
    a, b = (p for _, p in c.pings)
    assert c.acks == {"a": 14.0}
    assert c.staff_after(a) == 15.0
    assert c.staff_after(b) == 30.0  # staff reached a member of the visitor's party
    assert c.pinged == {3, 4, 5}


def test_a_trace_without_a_start_is_bucketed_in_hours_since_its_beginning() -> None:
    c = Collected(None)
    c.add(VisitStarted(3599.0, 1))
    c.add(VisitStarted(3601.0, 2))
    assert sorted(c.hours) == ["+0h", "+1h"]


def test_dwell_bins_and_csv() -> None:
    assert dwell_bins([5, 29.9, 30, 700, 5000]) == {
        "0-30s": 2, "30-60s": 1, "60-120s": 0, "120-300s": 0, "300-600s": 0,
        "600-1200s": 1, "1200s+": 1}
    row = {"hour": "total", "visits": 2, "entered": 0, "exited": 0, "dwell_median_s": 10.0,
           "dwell_p90_s": None, "pings": 1, "held": 1, "acks": 0, "response_median_s": None,
           "unanswered": 1, "staff_came": 0, "staff_response_median_s": None,
           "pings_by_reason": {"linger": 1}, "held_by_rule": {"cooldown": 1}}
    text = report_csv({"hours": [dict(row, hour="09:00")], "total": row})
    lines = text.strip().splitlines()
    assert lines[0].endswith("pings_linger,held_cooldown")
    assert lines[-1] == "total,2,0,0,10.0,,1,1,0,,1,0,,,,,1,1"


def test_the_ledger_adds_live_ping_to_ack_times_to_the_report_of_that_day(
        tmp_path: Path) -> None:
    # yesterday 09:00 (the ledger deletes rows older than 90 days when it opens)
    yesterday = datetime.now().astimezone() - timedelta(days=1)
    day = yesterday.replace(hour=9, minute=0, second=0, microsecond=0)
    d = day.strftime("%Y-%m-%d")
    clock = {"now": day.timestamp()}
    ledger = Ledger(tmp_path / "responses.db", now=lambda: clock["now"])
    for offset, ev in ((60, Ping(1.0, 3, id="a")), (72, Acknowledged(2.0, 3, ping_id="a")),
                       (80, Acknowledged(3.0, 3, ping_id="a")),  # a second ack: not counted
                       (3700, Ping(4.0, 5, id="b")), (3730, Ping(5.0, 6, id="c")),
                       (3740, Acknowledged(6.0, 6, ping_id="c"))):
        clock["now"] = day.timestamp() + offset
        ledger.on_event(ev)
    ledger.close()
    reopened = Ledger.existing(tmp_path)
    assert reopened is not None
    report = {"start": day.isoformat(), "hours": [
        {"hour": f"{d} 09:00"}, {"hour": f"{d} 10:00"}, {"hour": f"{d} 11:00"}],
        "total": {"hour": "total"}}
    out = merged(report, reopened)
    nine, ten, eleven = out["hours"]
    assert (nine["live_pings"], nine["live_acked"], nine["live_response_median_s"]) == (1, 1, 12.0)
    assert (ten["live_pings"], ten["live_acked"], ten["live_response_median_s"]) == (2, 1, 10.0)
    assert eleven["live_pings"] == 0 and eleven["live_response_median_s"] is None
    assert out["total"]["live_pings"] == 3 and out["total"]["live_response_median_s"] == 11.0
    assert merged(report, None) is report
    assert Ledger.existing(tmp_path / "nowhere") is None
