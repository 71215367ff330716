"""The wired pipeline: not-looked frames, finish, reload, acks, status counters, ids."""

from __future__ import annotations

from edge.behaviour.pipeline import Pipeline
from edge.behaviour.policy import deterministic_ping_ids
from edge.vocabulary.acks import Ack
from tests.builders import SIZE, make_trace, settings_with, standing


def feed(pipeline: Pipeline, frames: list) -> list:
    out = []
    for t, dets in frames:
        out += pipeline.step(t, dets)
    return out


def test_not_looked_frames_change_nothing() -> None:
    frames = make_trace([standing(0.0, 100.0, 320, 400)], 100.0)
    looked_only = feed(Pipeline(settings_with(), SIZE, ping_id=deterministic_ping_ids("x")),
                       frames)
    mixed = []
    for t, dets in frames:
        mixed += [(t, dets), (t + 0.05, None)]
    with_gaps = feed(Pipeline(settings_with(), SIZE, ping_id=deterministic_ping_ids("x")),
                     mixed)
    assert [e.to_json() for e in looked_only] == [e.to_json() for e in with_gaps]
    assert any(e.type == "ping" for e in looked_only)


def test_finish_ends_open_visits_and_status_counts() -> None:
    pipeline = Pipeline(settings_with(), SIZE)
    feed(pipeline, make_trace([standing(0.0, 20.0, 320, 400), standing(1.0, 20.0, 100, 300)],
                              10.0))
    assert pipeline.visitors_now == 2 and pipeline.tracking
    ends = pipeline.finish()
    assert [e.type for e in ends] == ["visit_end", "visit_end"]
    assert pipeline.visitors_now == 0 and pipeline.stats()["visits"] == 2


def test_reload_keeps_visits_and_applies_new_thresholds() -> None:
    pipeline = Pipeline(settings_with(), SIZE, ping_id=deterministic_ping_ids("x"))
    frames = make_trace([standing(0.0, 60.0, 320, 400)], 60.0)
    events = feed(pipeline, frames[:100])  # 10 s in
    pipeline.reload(settings_with(policy={"space_window_s": 20, "linger_s": 15}))
    events += feed(pipeline, frames[100:])
    assert sum(e.type == "visit_start" for e in events) == 1
    [ping] = [e for e in events if e.type == "ping"]
    assert abs(ping.t - 20.0) <= 3


def test_ack_of_unknown_ping_is_ignored_and_known_one_recorded() -> None:
    pipeline = Pipeline(settings_with(policy={"space_window_s": 0, "linger_s": 5}), SIZE)
    assert pipeline.acknowledge(Ack("nope", "on_my_way", None), 1.0) == []
    events = feed(pipeline, make_trace([standing(0.0, 20.0, 320, 400)], 10.0))
    [ping] = [e for e in events if e.type == "ping"]
    assert len(ping.id) == 32  # uuid4 hex live
    [ack] = pipeline.acknowledge(Ack(ping.id, "on_my_way", "anna"), 10.0)
    assert ack.to_json() == {"type": "ack", "t": 10.0, "visitor": ping.visitor,
                             "ping_id": ping.id, "action": "on_my_way", "by": "anna"}
    assert pipeline.stats()["acks"] == 1


def test_ignore_zone_people_are_not_visitors() -> None:
    street = {"name": "street", "kind": "ignore",
              "polygon": [[0, 0], [1, 0], [1, 0.5], [0, 0.5]]}
    pipeline = Pipeline(settings_with([street]), SIZE)
    events = feed(pipeline, make_trace([standing(0.0, 20.0, 320, 200, height=120)], 20.0))
    assert events == [] and pipeline.finish() == []


def test_head_hints_cover_still_people_whose_head_turn_would_make_them_visitors() -> None:
    """A still detection (scenery or a person standing since the start) is hidden from
    behaviour, but a head turn starts its visit: perception must keep reading its yaw."""
    settings = settings_with([])
    pipe = Pipeline(settings, SIZE)
    still = standing(0.0, 10.0, 320, 400, step_in=0.0)  # never moved: still
    walker = standing(0.0, 10.0, 120, 380)              # stepped in: a visitor
    for t, dets in make_trace([still, walker], 5.0):
        pipe.step(t, dets)
    hints = pipe.head_hints
    assert len(hints) == 2 and hints.can_count.all()
    assert sorted(pipe.behaviour.visitors) == [v for v in hints.ids.tolist()
                                               if v in pipe.behaviour.visitors]
    assert len(pipe.behaviour.visitors) == 1  # behaviour sees only the walker
