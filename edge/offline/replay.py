"""Offline driver: a video, MOT detections or a trace -> Pipeline -> events JSONL + summary.

The owner's tuning loop: replay yesterday's trace with other thresholds and see what would have
pinged. Deterministic: the same input and config give the same file, because time comes from
the input and ping ids are derived from the input (a hash of its first bytes and size) plus
visitor, t and reason (``edge.behaviour.policy.deterministic_ping_ids``).

The events file is written to a temporary file beside ``out`` and renamed at the end, so a
malformed input line (reported with its line number) leaves no partial output behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Literal

from edge.behaviour.pipeline import Pipeline
from edge.behaviour.policy import PingIdFactory, deterministic_ping_ids
from edge.config.settings import Settings
from edge.offline.report import ReplaySummary
from edge.vocabulary.errors import InputError
from edge.vocabulary.events import Event, Ping
from edge.vocabulary.interfaces import Tracker
from edge.vocabulary.types import Detections

InputKind = Literal["trace", "mot", "video"]
Frames = Iterator[tuple[float, Detections | None]]


@dataclass
class ReplayInput:
    """An opened input: its frames (given a way to ask whether anyone is tracked)."""

    kind: InputKind
    path: Path
    fps: float
    size: tuple[int, int] | None
    start: datetime | None
    frames: Callable[[Callable[[], bool]], Frames]
    close: Callable[[], None] = lambda: None


def input_kind(path: Path, fps: float | None) -> InputKind:
    """A trace starts with '{'; MOT text is given --fps (or ends in .txt); else a video."""
    with path.open("rb") as fh:
        head = fh.read(64).lstrip()
    if head.startswith(b"{"):
        return "trace"
    if fps is not None or path.suffix.lower() == ".txt":
        return "mot"
    return "video"


def input_seed(path: Path) -> str:
    """Identifies the input's content (first 64 KiB + size), not its name or location."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 16))
    digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()[:16]


def open_input(path: Path, settings: Settings, *, fps: float | None = None,
               size: tuple[int, int] | None = None) -> ReplayInput:
    if not path.is_file():
        raise InputError("no such file", path)
    kind = input_kind(path, fps)
    if kind == "trace":
        from edge.offline.trace import read_trace

        header, frames = read_trace(path)
        return ReplayInput("trace", path, header.fps, size or header.size, header.start,
                           lambda _tracking: frames)
    if kind == "mot":
        if fps is None:
            raise InputError("MOT detections need --fps (the frame rate they were taken at)",
                             path)
        if size is None and settings.zones:
            raise InputError("MOT detections need --size WxH to place the configured zones",
                             path)
        from edge.offline.mot import read_mot_detections

        return ReplayInput("mot", path, fps, size, None,
                           lambda _tracking: iter(read_mot_detections(path, fps)))
    return _video_input(path, settings)


def _video_input(path: Path, settings: Settings) -> ReplayInput:
    from edge.perception.perceiver import Perception
    from edge.perception.sources import open_source

    source = open_source(str(path), settings.source)
    perception = Perception(settings, source.size)

    def frames(tracking: Callable[[], bool]) -> Frames:
        for frame in source.frames():
            yield frame.t, perception.observe(frame, tracking())

    return ReplayInput("video", path, source.fps, source.size, None, frames, source.close)


def _paced(frames: Frames, speed: float | None) -> Frames:
    """Holds each frame back until its time at ``speed`` x real time (None: no pacing)."""
    if not speed:
        yield from frames
        return
    wall0 = time.monotonic()
    for t, dets in frames:
        wait = t / speed - (time.monotonic() - wall0)
        if wait > 0:
            time.sleep(wait)
        yield t, dets


def replay(path: Path, settings: Settings, *, out: Path | None = None,
           fps: float | None = None, size: tuple[int, int] | None = None,
           start: datetime | None = None, speed: float | None = None,
           on_event: Callable[[Event], None] | None = None,
           on_ping: Callable[[Ping], None] | None = None,
           tracker: Tracker | None = None,
           ping_id: PingIdFactory | None = None) -> ReplaySummary:
    """Replay ``path`` through the pipeline; write events to ``out`` (atomically) if given.

    ``on_ping`` sees every ping as it is decided (the seam for publishing a replay; pass
    ``ping_id=random_ping_ids()`` then, since replay ids repeat for the same input);
    ``on_event`` sees every event (``--explain`` prints the held ones). ``start`` (local time
    of t=0) overrides a trace header's; without either, opening hours are not applied.
    """
    source = open_input(path, settings, fps=fps, size=size)
    pipeline = Pipeline(settings, source.size, tracker=tracker,
                        ping_id=ping_id or deterministic_ping_ids(input_seed(path)),
                        start_wall=start or source.start)
    summary = ReplaySummary(source=str(path), kind=source.kind,
                            hours_applied=pipeline.hours_applied,
                            hours_configured=bool(settings.policy.opening_hours))
    sink, tmp = _open_out(out)
    try:
        last_t = 0.0

        def emit(events: list[Event]) -> None:
            for ev in events:
                summary.add(ev)
                if sink is not None:
                    sink.write(json.dumps(ev.to_json(), separators=(",", ":")) + "\n")
                if on_event is not None:
                    on_event(ev)
                if on_ping is not None and isinstance(ev, Ping):
                    on_ping(ev)

        for t, dets in _paced(source.frames(lambda: pipeline.tracking), speed):
            last_t = t
            summary.frames += 1
            emit(pipeline.step(t, dets))
        emit(pipeline.finish(last_t))
        summary.duration_s = last_t
    except BaseException:
        if sink is not None:
            sink.close()
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        source.close()
    if sink is not None and out is not None:
        sink.close()
        os.replace(tmp, out)
    return summary


def _open_out(out: Path | None) -> tuple[IO[str] | None, str]:
    if out is None:
        return None, ""
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    return os.fdopen(fd, "w", encoding="utf-8"), tmp
