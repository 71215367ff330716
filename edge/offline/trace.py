"""Anonymous traces: what the detector saw, frame by frame, without a single pixel.

Format (JSONL, the contract in GUIDE.md)::

    {"format":"dwell-trace","version":1,"fps":F,"size":[W,H]}            header
    {"t":T,"people":[{"box":[x,y,w,h],"score":S,"yaw":DEG or null}, ...]}  one line per frame

The header may also carry ``"start"``: the ISO 8601 local wall-clock time of t=0, which lets a
replay apply opening hours. Only frames the detector looked at are written (an empty
``people`` list means it looked and saw nobody); frames it skipped are left out, which is
exactly what the pipeline ignores live, so a replay of the trace decides what the live run
decided.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import numpy as np

from edge.vocabulary.errors import InputError
from edge.vocabulary.types import (
    BOX_DECIMALS,
    SCORE_DECIMALS,
    T_DECIMALS,
    YAW_DECIMALS,
    Detections,
)

log = logging.getLogger("dwell.trace")

FORMAT, VERSION = "dwell-trace", 1


@dataclass(frozen=True)
class TraceHeader:
    fps: float
    size: tuple[int, int]
    start: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "fps": self.fps,
                                "size": list(self.size)}
        if self.start is not None:
            data["start"] = self.start.isoformat()
        return data


def header_line(header: TraceHeader) -> str:
    """The trace's first line (no newline)."""
    return json.dumps(header.to_json(), separators=(",", ":"))


def frame_line(t: float, detections: Detections) -> str:
    """One frame's line (no newline): boxes as [x, y, w, h], score and yaw; never pixels."""
    people = []
    xywh = detections.xywh.tolist()
    for box, score, yaw in zip(xywh, detections.score.tolist(), detections.yaw.tolist(),
                               strict=True):
        people.append({"box": [round(v, BOX_DECIMALS) for v in box],
                       "score": round(score, SCORE_DECIMALS),
                       "yaw": None if math.isnan(yaw) else round(yaw, YAW_DECIMALS)})
    return json.dumps({"t": round(t, T_DECIMALS), "people": people}, separators=(",", ":"))


class TraceWriter:
    """Writes a trace to an open text stream (``open`` for a path)."""

    def __init__(self, stream: IO[str], header: TraceHeader) -> None:
        self._out = stream
        self._out.write(header_line(header) + "\n")
        self.frames = 0

    @classmethod
    def open(cls, path: str | Path, header: TraceHeader) -> TraceWriter:
        return cls(Path(path).open("w", encoding="utf-8"), header)

    def write(self, t: float, detections: Detections) -> None:
        self._out.write(frame_line(t, detections) + "\n")
        self.frames += 1

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self._out.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def parse_header(line: str, path: Path) -> TraceHeader:
    """The header line ``line`` of ``path``; InputError naming what is wrong."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"header is not JSON ({exc.msg})", path, 1) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f'header must be {{"format":"{FORMAT}",...}}', path, 1)
    if data.get("version") != VERSION:
        raise InputError(f"unsupported trace version {data.get('version')!r} (want {VERSION})",
                         path, 1)
    fps, size = data.get("fps"), data.get("size")
    if not isinstance(fps, int | float) or fps <= 0:
        raise InputError(f"header fps must be a positive number, got {fps!r}", path, 1)
    if (not isinstance(size, list) or len(size) != 2
            or not all(isinstance(v, int) and v > 0 for v in size)):
        raise InputError(f"header size must be [W, H] in pixels, got {size!r}", path, 1)
    start = None
    if data.get("start") is not None:
        try:
            start = datetime.fromisoformat(str(data["start"]))
        except ValueError:
            raise InputError(f"header start {data['start']!r} is not an ISO 8601 time",
                             path, 1) from None
    return TraceHeader(float(fps), (size[0], size[1]), start)


def _number(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _frame(line: str, path: Path, lineno: int, last_t: float) -> tuple[float, Detections]:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON ({exc.msg})", path, lineno) from None
    if not isinstance(data, dict):
        raise InputError("expected {\"t\":T,\"people\":[...]}", path, lineno)
    t, people = data.get("t"), data.get("people")
    if not isinstance(t, int | float) or not _number(t) or t < 0:
        raise InputError(f"t must be seconds >= 0, got {t!r}", path, lineno)
    if t < last_t:
        raise InputError(f"t goes backwards ({t} after {last_t})", path, lineno)
    if not isinstance(people, list):
        raise InputError(f"people must be a list, got {people!r}", path, lineno)
    if not people:
        return float(t), Detections.empty()
    try:  # fast path: numpy checks every value at once (None yaw becomes NaN)
        xywh = np.array([p["box"] for p in people], np.float32)
        score = np.array([p["score"] for p in people], np.float32)
        yaw = np.array([p.get("yaw") for p in people], np.float32)
        ok = (xywh.shape == (len(people), 4) and bool(np.isfinite(xywh).all())
              and bool((xywh[:, 2:] > 0).all()) and score.ndim == 1 and yaw.ndim == 1
              and bool(np.isfinite(score).all()))
    except (KeyError, TypeError, ValueError, AttributeError):
        ok = False
    if not ok:
        _explain_people(people, path, lineno)  # raises, naming the person and field
    return float(t), Detections.from_xywh(xywh, score, yaw)


def _explain_people(people: list[Any], path: Path, lineno: int) -> None:
    for i, p in enumerate(people):
        box = p.get("box") if isinstance(p, dict) else None
        if not (isinstance(box, list) and len(box) == 4 and all(map(_number, box))
                and box[2] > 0 and box[3] > 0):
            raise InputError(f"person {i}: box must be [x, y, w, h] with w, h > 0, got {box!r}",
                             path, lineno)
        s, y = p.get("score"), p.get("yaw")
        if not _number(s):
            raise InputError(f"person {i}: score must be a number, got {s!r}", path, lineno)
        if y is not None and not _number(y):
            raise InputError(f"person {i}: yaw must be degrees or null, got {y!r}", path, lineno)
    raise InputError("people must be objects with box, score and yaw", path, lineno)


def open_text(path: Path) -> IO[str]:
    """A trace file for reading; ``.gz`` (the rolling trace in state_dir) is decompressed."""
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open("r", encoding="utf-8")


def read_trace(path: str | Path, skip: int = 0,
               after_t: float = 0.0) -> tuple[TraceHeader, Iterator[tuple[float, Detections]]]:
    """The header (checked now) and the frames (parsed lazily; InputError names the line).
    ``skip`` frames are passed over unparsed (read before, the last of them at ``after_t``):
    a growing trace is read on from where an earlier reading stopped."""
    path = Path(path)
    try:
        stream = open_text(path)
    except OSError as exc:
        raise InputError(f"cannot open trace: {exc.strerror}", path) from None
    try:
        first = stream.readline()
    except (OSError, EOFError) as exc:  # a .gz that is not gzip, or cut short
        stream.close()
        raise InputError(f"cannot read trace: {exc}", path, 1) from None
    if not first.strip():
        stream.close()
        raise InputError("empty file, expected a dwell-trace header", path, 1)
    try:
        header = parse_header(first, path)
    except InputError:
        stream.close()
        raise

    def frames() -> Iterator[tuple[float, Detections]]:
        last_t, passed = after_t, 0
        with stream:
            lineno = 1
            while True:
                try:
                    line = stream.readline()
                except EOFError:  # a .gz cut short (power cut): replay what is complete
                    log.warning("%s: cut short after line %d; replaying up to there", path,
                                lineno)
                    return
                if not line:
                    return
                lineno += 1
                if not line.strip() or (not line.endswith("\n") and path.name.endswith(".gz")):
                    continue  # blank, or the half-written last line of a cut-short file
                if passed < skip:
                    passed += 1
                    continue
                t, dets = _frame(line, path, lineno, last_t)
                last_t = t
                yield t, dets

    return header, frames()
