"""Scenario tests of the give-them-space rule: scripted, seeded scenes through the real pipeline
(tracker -> behaviour -> policy), default thresholds unless a test says otherwise
(space_window_s 90, linger_s 30, visitor_cooldown_s 300, max_pings_per_minute 4).
Ping times are asserted within +-3 s of when a good assistant would be told."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.builders import (
    Person,
    browsing,
    looking_around,
    of_type,
    run_scenario,
    settings_with,
    standing,
    walk_through,
)

TOL = 3.0
SHELVES = [(120.0, 300.0), (320.0, 330.0), (520.0, 300.0)]
HELP = {"name": "help desk", "kind": "help_point",
        "polygon": [[0.8, 0.8], [1.0, 0.8], [1.0, 1.0], [0.8, 1.0]]}
COUNTER = {"name": "counter", "kind": "staff",
           "polygon": [[0.0, 0.85], [0.15, 0.85], [0.15, 1.0], [0.0, 1.0]]}


def pings(events: list) -> list:
    return of_type(events, "ping")


def held(events: list, reason: str | None = None) -> list:
    return [e for e in of_type(events, "held") if reason is None or e.reason == reason]


def browse_then_stand(t_stand: float, t_end: float, spot: tuple[float, float] = (320, 400),
                      **kw: object) -> Person:
    """Browses the shelves (stops shorter than linger_s) from t=0, then stands at ``spot``."""
    person = browsing(0.0, t_stand - 3.0, SHELVES, stop_s=8.0)
    path = [*person.path, (t_stand, *spot), (t_end, *spot)]
    return Person(path, **kw)  # type: ignore[arg-type]


def test_walk_through_is_a_visit_and_nothing_else() -> None:
    events = run_scenario([walk_through(1.0)], 15.0)
    assert [e.type for e in events] == ["visit_start", "visit_end"]
    assert events[1].dwell_s == pytest.approx(6.2, abs=0.6)


def test_browsing_inside_the_window_is_left_alone() -> None:
    events = run_scenario([browsing(0.0, 85.0, SHELVES)], 95.0)
    assert pings(events) == [] and held(events) == []
    assert len(of_type(events, "visit_start")) == 1


def test_lingering_after_the_window_pings_after_linger_s() -> None:
    events = run_scenario([browse_then_stand(100.0, 160.0)], 170.0)
    [ping] = pings(events)
    assert ping.reason == "linger"
    assert ping.t == pytest.approx(130.0, abs=TOL)
    assert ping.dwell_s == pytest.approx(ping.t, abs=1.0)
    assert held(events) == []


def test_lingering_during_the_window_pings_when_it_ends() -> None:
    events = run_scenario([standing(0.0, 120.0, 320, 400)], 130.0)
    [window] = held(events)
    assert (window.reason, window.candidate) == ("space_window", "linger")
    assert window.t == pytest.approx(30.0, abs=TOL)
    [ping] = pings(events)
    assert ping.t == pytest.approx(90.0, abs=TOL) and ping.reason == "linger"


def test_lingered_during_the_window_but_moved_on_is_not_pinged_at_its_end() -> None:
    still = standing(0.0, 50.0, 120, 400)
    moving_on = browsing(53.0, 120.0, SHELVES, stop_s=8.0)
    person = Person([*still.path, *moving_on.path])
    events = run_scenario([person], 125.0)
    assert [e.reason for e in held(events)] == ["space_window"]
    assert pings(events) == []


def test_help_point_pings_at_once_inside_the_window() -> None:
    person = Person([(10.0, 420.0, 300.0), (14.0, 580.0, 440.0), (40.0, 580.0, 440.0)])
    events = run_scenario([person], 45.0, settings_with([HELP]))
    [ping] = pings(events)
    assert ping.reason == "help_point" and ping.zone == "help desk"
    assert ping.t == pytest.approx(16.0, abs=TOL)
    assert ping.dwell_s < 10


def test_crossing_the_help_point_does_not_ping() -> None:
    person = Person([(0.0, 450.0, 440.0), (3.0, 640.0, 440.0)], height=150)
    events = run_scenario([person, standing(0.0, 10.0, 100, 300)], 12.0,
                          settings_with([HELP]))
    assert of_type(events, "at_help_point") == [] and pings(events) == []


def test_looking_around_inside_the_window_is_held() -> None:
    person = standing(0.0, 28.0, 320, 400, yaw=looking_around(10.0, 25.0))
    events = run_scenario([person], 32.0)
    assert of_type(events, "looking_around")
    assert {e.reason for e in held(events)} == {"space_window"}
    assert pings(events) == []


def test_looking_around_after_the_window_pings() -> None:
    person = browse_then_stand(100.0, 125.0, yaw=looking_around(100.0, 120.0))
    events = run_scenario([person], 130.0)
    [ping] = pings(events)
    assert ping.reason == "looking_around"
    # three sweeps of a 3 s left-right swing: the third ends ~3.75 s after it starts
    assert ping.t == pytest.approx(103.75, abs=TOL)


def test_looking_around_while_walking_does_not_count() -> None:
    yaw = looking_around(100.0, 140.0)
    path = browsing(0.0, 95.0, SHELVES).path
    corners = [(70.0, 250.0), (570.0, 250.0), (570.0, 450.0), (70.0, 450.0)]
    t = 98.0
    for lap in range(12):  # laps of the shop at 150 px/s (0.75 box heights per second)
        x, y = corners[lap % 4]
        path.append((t, x, y))
        t += (500.0 if lap % 2 == 0 else 200.0) / 150.0
    events = run_scenario([Person(path, yaw=yaw)], t)
    assert of_type(events, "looking_around") == []
    events = run_scenario([Person(path, yaw=yaw)], t,
                          settings_with(behaviour={"walk_speed": 2.0}))
    assert of_type(events, "looking_around")


def test_sweeps_made_while_walking_do_not_count_after_stopping() -> None:
    """The settled rule (issue 14): each sweep must be made while not walking. Head turns on
    the way (two or more here) plus one after stopping are not three sweeps; standing and
    sweeping three times still is."""
    def walk_then_stand(yaw_until: float) -> Person:
        path = browsing(0.0, 95.0, SHELVES).path
        # 125 px/s = 0.63 box heights per second (walking) from 97 to 101 s, then standing
        path += [(97.0, 70.0, 300.0), (101.0, 570.0, 300.0), (140.0, 570.0, 300.0)]
        return Person(path, yaw=looking_around(97.0, yaw_until))

    events = run_scenario([walk_then_stand(102.6)], 140.0)
    assert of_type(events, "looking_around") == []  # the old rule fired at 102.2 s
    events = run_scenario([walk_then_stand(112.0)], 140.0)
    first = of_type(events, "looking_around")[0]
    assert first.t == pytest.approx(105.2, abs=0.5)  # three sweeps, all made standing


def test_unknown_yaw_is_not_a_turn() -> None:
    person = browse_then_stand(100.0, 125.0, yaw=lambda t: None)
    events = run_scenario([person], 126.0)
    assert of_type(events, "looking_around") == [] and pings(events) == []


def test_occlusion_gap_keeps_the_visit_and_the_linger_clock() -> None:
    person = standing(0.0, 120.0, 320, 400, hidden=[(50.0, 52.5), (95.0, 97.0)])
    events = run_scenario([person], 125.0)
    assert len(of_type(events, "visit_start")) == 1
    [end] = of_type(events, "visit_end")
    assert end.dwell_s == pytest.approx(120.0, abs=1.0)
    [ping] = pings(events)
    assert ping.t == pytest.approx(90.0, abs=TOL)


def test_staff_attending_holds_the_ping_and_restarts_the_linger_clock() -> None:
    visitor = standing(0.0, 200.0, 400, 400)
    staff = Person([(0.0, 40.0, 460.0), (78.0, 40.0, 460.0), (80.0, 470.0, 400.0),
                    (120.0, 470.0, 400.0), (123.0, 40.0, 460.0), (200.0, 40.0, 460.0)])
    events = run_scenario([visitor, staff], 205.0, settings_with([COUNTER]))
    starts = sorted(of_type(events, "visit_start"), key=lambda e: not e.staff)
    assert [e.staff for e in starts] == [True, False]
    [attended] = of_type(events, "attended")
    assert attended.t == pytest.approx(83.0, abs=TOL)
    visitor_id = starts[1].visitor
    assert [e.reason for e in held(events) if e.visitor == visitor_id] == \
        ["space_window", "attended"]
    [left] = of_type(events, "attended_end")
    assert left.t == pytest.approx(122.0, abs=TOL)
    [ping] = pings(events)
    assert ping.visitor == starts[1].visitor
    assert ping.t == pytest.approx(152.0, abs=TOL)


def test_staff_lingering_is_never_pinged() -> None:
    staff = standing(0.0, 200.0, 40, 460)
    events = run_scenario([staff], 205.0, settings_with([COUNTER]))
    assert pings(events) == []
    assert {e.reason for e in held(events)} == {"staff"}
    [end] = of_type(events, "visit_end")
    assert end.staff


def test_a_party_gets_one_ping() -> None:
    a = standing(0.0, 130.0, 300, 400)
    b = standing(1.0, 130.0, 380, 400)
    events = run_scenario([a, b], 135.0)
    [party] = of_type(events, "party")
    [ping] = pings(events)
    assert ping.t == pytest.approx(90.0, abs=TOL)
    assert list(ping.party) == [e.visitor for e in of_type(events, "visit_start")
                                if e.visitor != ping.visitor]
    assert [e.reason for e in held(events) if e.t > 85] == ["party"]
    assert party.t == pytest.approx(6.5, abs=TOL)


def test_strangers_arriving_together_are_pinged_each() -> None:
    a = Person([(0.0, 300.0, 400.0), (3.0, 100.0, 300.0), (130.0, 100.0, 300.0)])
    b = Person([(1.0, 340.0, 400.0), (4.0, 560.0, 300.0), (130.0, 560.0, 300.0)])
    events = run_scenario([a, b], 135.0)
    assert of_type(events, "party") == []
    assert len(pings(events)) == 2


def crowd(n: int, stay: float) -> list[Person]:
    """n people arriving 3 s apart (no party), standing far enough apart to stay distinct."""
    spots = [(60 + 75 * (i % 8), 250 + 180 * (i // 8)) for i in range(n)]
    return [standing(3.0 * i, stay, x, y, height=120) for i, (x, y) in enumerate(spots)]


def test_a_crowd_against_the_rate_limit_waits_in_order() -> None:
    events = run_scenario(crowd(8, 200.0), 205.0, settings_with(policy={"stale_s": 120}))
    sent = pings(events)
    assert len(sent) == 8
    times = [p.t for p in sent]
    for t in times:
        assert sum(1 for u in times if t - 60 < u <= t) <= 4
    assert times[:4] == pytest.approx([90, 93, 96, 99], abs=TOL)
    assert times[4:] == pytest.approx([150, 153, 156, 159], abs=TOL)
    queued = [e.visitor for e in held(events, "rate_limit")]
    assert [p.visitor for p in sent[4:]] == queued  # released in the order they waited


def test_rate_limited_pings_go_stale_or_depart() -> None:
    events = run_scenario(crowd(8, 200.0), 205.0, settings_with(policy={"stale_s": 30}))
    assert len(pings(events)) == 4
    assert len(held(events, "stale")) == 4
    events = run_scenario(crowd(8, 130.0), 135.0, settings_with(policy={"stale_s": 120}))
    assert len(pings(events)) == 4
    assert len(held(events, "departed")) == 4


def test_cooldown_holds_a_second_linger() -> None:
    first = standing(0.0, 100.0, 120, 400)
    second = Person([*first.path, (103.0, 500.0, 400.0), (200.0, 500.0, 400.0)])
    events = run_scenario([second], 205.0)
    assert [p.t for p in pings(events)] == pytest.approx([90.0], abs=TOL)
    [cool] = held(events, "cooldown")
    assert cool.t == pytest.approx(133.0, abs=TOL)
    events = run_scenario([second], 205.0,
                          settings_with(policy={"visitor_cooldown_s": 30}))
    # still lingering there: reminded each time the 30 s cooldown runs out
    assert [p.t for p in pings(events)] == pytest.approx([90.0, 133.0, 163.0, 193.0], abs=TOL)


def test_still_lingering_after_the_cooldown_is_pinged_again_until_acknowledged() -> None:
    cfg = settings_with(policy={"visitor_cooldown_s": 120})
    person = standing(0.0, 400.0, 320, 400)
    events = run_scenario([person], 405.0, cfg)
    assert [p.t for p in pings(events)] == pytest.approx([90.0, 210.0, 330.0], abs=TOL)
    events = run_scenario([person], 405.0, cfg, acks=[(100.0, "latest")])
    assert [p.t for p in pings(events)] == pytest.approx([90.0], abs=TOL)


def test_acknowledged_visitor_gets_no_further_pings() -> None:
    person = standing(0.0, 200.0, 320, 400, yaw=looking_around(150.0, 165.0))
    cfg = settings_with(policy={"visitor_cooldown_s": 20, "escalate_after_s": 30})
    events = run_scenario([person], 205.0, cfg, acks=[(100.0, "latest")])
    assert len(pings(events)) == 1
    [ack] = of_type(events, "ack")
    assert ack.ping_id == pings(events)[0].id and ack.by == "anna"
    assert {e.reason for e in held(events) if e.t > 100} == {"acknowledged"}


def test_unanswered_ping_escalates_once() -> None:
    cfg = settings_with(policy={"escalate_after_s": 30})
    events = run_scenario([standing(0.0, 200.0, 320, 400)], 205.0, cfg)
    first, again = pings(events)
    assert not first.escalation and again.escalation
    assert again.t == pytest.approx(120.0, abs=TOL) and again.id != first.id


def test_no_pings_outside_opening_hours() -> None:
    cfg = settings_with(policy={"opening_hours": ["09:00-18:00"]})
    early = datetime.fromisoformat("2026-05-02T08:58:00")
    events = run_scenario([standing(0.0, 100.0, 320, 400), standing(50.0, 200.0, 100, 300)],
                          205.0, cfg, start_wall=early)
    assert [e.reason for e in held(events) if e.visitor == 1][-1] == "closed"
    [ping] = pings(events)  # the second visitor's window ends at 09:00:20
    assert ping.t == pytest.approx(140.0, abs=TOL) and ping.visitor == 2


def test_an_absence_inside_the_scene_keeps_the_visit_within_visit_memory_s() -> None:
    """Hidden 6 s mid-picture (longer than the tracker's 3 s grace): still one visit."""
    person = standing(0.0, 60.0, 320, 400, hidden=[(20.0, 26.0)])
    events = run_scenario([person], 65.0)
    [end] = of_type(events, "visit_end")
    assert end.dwell_s == pytest.approx(60, abs=1)


def test_an_absence_longer_than_visit_memory_s_is_a_new_visit() -> None:
    path = [(0.0, 400.0, 400.0), (1.0, 320.0, 400.0), (20.0, 320.0, 400.0),
            (32.0, 320.0, 400.0), (33.0, 400.0, 400.0), (60.0, 400.0, 400.0)]
    person = Person(path, hidden=[(20.0, 32.0)])  # visit_memory_s is 10 s
    events = run_scenario([person], 65.0)
    first, second = of_type(events, "visit_end")
    assert first.t == pytest.approx(20.0, abs=0.2) and second.dwell_s == pytest.approx(28, abs=1)


@pytest.mark.parametrize(("hours", "clock", "closed"), [
    (["09:00-18:00"], "08:59:59", True),
    (["09:00-18:00"], "09:00:00", False),
    (["09:00-18:00"], "18:00:00", True),
    (["09:00-12:30", "14:00-24:00"], "13:00:00", True),
    (["09:00-12:30", "14:00-24:00"], "23:59:00", False),
    (["22:00-02:00"], "01:30:00", False),  # across midnight
    (["22:00-02:00"], "03:00:00", True),
])
def test_opening_hours_in_local_time(hours: list[str], clock: str, closed: bool) -> None:
    from edge.behaviour.policy import Policy
    from edge.config.sections import PolicyConfig

    start = datetime.fromisoformat(f"2026-05-02T{clock}+02:00")
    policy = Policy(PolicyConfig(opening_hours=hours), start_wall=start)
    assert policy._closed(0.0) is closed
    assert Policy(PolicyConfig(opening_hours=hours))._closed(0.0) is False  # no clock: open
