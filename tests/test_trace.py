"""Trace JSONL: written and read back exactly; every malformed line named by number."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from edge.offline.trace import TraceHeader, TraceWriter, read_trace
from edge.vocabulary.errors import InputError
from tests.builders import make_detections


def test_round_trip_keeps_boxes_scores_yaw_and_start(tmp_path: Path) -> None:
    start = datetime.fromisoformat("2026-05-02T09:00:00+02:00")
    path = tmp_path / "t.jsonl"
    dets = make_detections([[10, 20, 30, 90], [100.25, 50, 40, 120]], [0.9, 0.55], [12.3, None])
    with TraceWriter.open(path, TraceHeader(10.0, (640, 480), start)) as writer:
        writer.write(0.0, dets)
        writer.write(0.1, make_detections([]))
    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"format": "dwell-trace", "version": 1, "fps": 10.0,
                                    "size": [640, 480], "start": start.isoformat()}
    assert json.loads(lines[1])["people"][1] == {"box": [100.2, 50.0, 40.0, 120.0],
                                                 "score": 0.55, "yaw": None}
    header, frames = read_trace(path)
    assert header == TraceHeader(10.0, (640, 480), start)
    (t0, d0), (t1, d1) = list(frames)
    assert (t0, t1, len(d1)) == (0.0, 0.1, 0)
    np.testing.assert_allclose(d0.xywh, dets.xywh, atol=0.06)
    assert d0.yaw[0] == pytest.approx(12.3) and np.isnan(d0.yaw[1])


HEADER = '{"format":"dwell-trace","version":1,"fps":10,"size":[640,480]}'
GOOD = '{"t":0.0,"people":[{"box":[1,2,30,90],"score":0.9,"yaw":null}]}'


@pytest.mark.parametrize(("lines", "line", "message"), [
    (["{not json"], 1, "header is not JSON"),
    (['{"format":"other"}'], 1, "header must be"),
    (['{"format":"dwell-trace","version":2,"fps":10,"size":[1,1]}'], 1, "version"),
    (['{"format":"dwell-trace","version":1,"fps":0,"size":[1,1]}'], 1, "fps"),
    ([HEADER, GOOD, "oops"], 3, "not JSON"),
    ([HEADER, '{"t":-1,"people":[]}'], 2, "t must be"),
    ([HEADER, '{"t":2,"people":[]}', '{"t":1,"people":[]}'], 3, "backwards"),
    ([HEADER, '{"t":0,"people":{}}'], 2, "people must be a list"),
    ([HEADER, GOOD, '{"t":1,"people":[{"box":[1,2,3],"score":1,"yaw":null}]}'], 3, "box"),
    ([HEADER, '{"t":1,"people":[{"box":[1,2,0,4],"score":1,"yaw":null}]}'], 2, "w, h > 0"),
    ([HEADER, '{"t":1,"people":[{"box":[1,2,3,4],"score":"x","yaw":null}]}'], 2, "score"),
    ([HEADER, '{"t":1,"people":[{"box":[1,2,3,4],"score":1,"yaw":"left"}]}'], 2, "yaw"),
])
def test_malformed_lines_are_named(tmp_path: Path, lines: list[str], line: int,
                                   message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match=message) as err:
        _, frames = read_trace(path)
        list(frames)
    assert err.value.line == line and f"bad.jsonl:{line}:" in str(err.value)


def test_empty_file_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    with pytest.raises(InputError, match="empty"):
        read_trace(path)


def test_live_numbers_on_the_record_grid_read_back_bit_for_bit(tmp_path: Path) -> None:
    """What the sensor decides on (Detections.on_record_grid) is exactly what a replay of the
    trace reads, so no threshold can fall on the other side in the replay; and it is
    idempotent (a replay puts the read numbers on the grid again without change)."""
    rng = np.random.default_rng(7)
    n = 400
    xy = rng.uniform(-50, 700, (n, 2))
    wh = rng.uniform(5, 300, (n, 2))
    scores = np.concatenate([rng.uniform(0.3, 1.0, n - 4), [0.5499, 0.54951, 0.7, 0.55]])
    yaw = np.where(rng.random(n) < 0.3, np.nan, rng.uniform(-90, 90, n))
    live = make_detections(np.concatenate([xy, wh], axis=1), scores, yaw).on_record_grid()
    path = tmp_path / "grid.trace.jsonl"
    with TraceWriter.open(path, TraceHeader(10.0, (640, 480))) as writer:
        writer.write(0.0, live)
    _, frames = read_trace(path)
    [(_, read)] = list(frames)
    for got in (read, read.on_record_grid(), live.on_record_grid()):
        assert np.array_equal(got.xyxy, live.xyxy)
        assert np.array_equal(got.score, live.score)
        assert np.array_equal(got.yaw, live.yaw, equal_nan=True)
    assert live.score[-4] == np.float32(0.55) and live.score[-3] == np.float32(0.55)
