"""Offline driver: a video, MOT detections or a trace -> Sensor -> events JSONL + summary.

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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Literal

from edge.behaviour.policy import PingIdFactory, deterministic_ping_ids
from edge.config.settings import Settings
from edge.offline.report import ReplaySummary
from edge.service.sensor import Observation, Sensor, paced
from edge.vocabulary.errors import InputError
from edge.vocabulary.events import Event, Ping
from edge.vocabulary.interfaces import FrameSource, Tracker

InputKind = Literal["trace", "mot", "video"]


@dataclass
class ReplayInput:
    """An opened input: observations already made (a trace, MOT rows) or a video's frames."""

    kind: InputKind
    path: Path
    fps: float
    size: tuple[int, int] | None
    start: datetime | None
    observations: Iterable[Observation] = ()
    video: FrameSource | None = None

    def close(self) -> None:
        if self.video is not None:
            self.video.close()


def input_kind(path: Path, fps: float | None) -> InputKind:
    """A trace starts with '{'; MOT text is given --fps (or ends in .txt); else a video."""
    with path.open("rb") as fh:
        head = fh.read(64).lstrip()
    if head.startswith(b"{") or (head.startswith(b"\x1f\x8b") and path.name.endswith(".gz")):
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
        return ReplayInput("trace", path, header.fps, size or header.size, header.start, frames)
    if kind == "mot":
        if fps is None:
            raise InputError("MOT detections need --fps (the frame rate they were taken at)",
                             path)
        if size is None and settings.zones:
            raise InputError("MOT detections need --size WxH to place the configured zones",
                             path)
        from edge.offline.mot import read_mot_detections

        return ReplayInput("mot", path, fps, size, None, read_mot_detections(path, fps))
    from edge.perception.sources import FileSource  # only a video needs OpenCV

    video = FileSource(path)
    return ReplayInput("video", path, video.fps, video.size, None, video=video)


class EventsFile:
    """Events JSONL written to a temporary file beside ``out``, renamed into place by
    ``commit``; ``discard`` leaves nothing behind (a malformed input, a crash)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        fd, self._tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
        self._fh: IO[str] = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, ev: Event) -> None:
        self._fh.write(json.dumps(ev.to_json(), separators=(",", ":")) + "\n")

    def commit(self) -> None:
        self._fh.close()
        os.replace(self._tmp, self.out)

    def discard(self) -> None:
        self._fh.close()
        Path(self._tmp).unlink(missing_ok=True)


def replay(path: Path, settings: Settings, *, out: Path | None = None,
           fps: float | None = None, size: tuple[int, int] | None = None,
           start: datetime | None = None, speed: float | None = None,
           on_event: Callable[[Event], None] | None = None,
           on_ping: Callable[[Ping], None] | None = None,
           tracker: Tracker | None = None,
           ping_id: PingIdFactory | None = None) -> ReplaySummary:
    """Replay ``path`` through the sensor; write events to ``out`` (atomically) if given.

    ``on_ping`` sees every ping as it is decided (the seam for publishing a replay; pass
    ``ping_id=random_ping_ids()`` then, since replay ids repeat for the same input);
    ``on_event`` sees every event (``--explain`` prints the held ones). ``start`` (local time
    of t=0) overrides a trace header's; without either, opening hours are not applied.
    """
    source = open_input(path, settings, fps=fps, size=size)
    summary = ReplaySummary(source=str(path), kind=source.kind,
                            hours_configured=bool(settings.policy.opening_hours))
    events = EventsFile(out) if out is not None else None
    sinks: list[Callable[[Event], None]] = [summary.add]
    if events is not None:
        sinks.append(events.write)
    if on_event is not None:
        sinks.append(on_event)
    if on_ping is not None:
        sinks.append(lambda ev: on_ping(ev) if isinstance(ev, Ping) else None)
    sensor = Sensor(settings, frame_size=source.size, sinks=sinks, tracker=tracker,
                    ping_id=ping_id or deterministic_ping_ids(input_seed(path)),
                    start_wall=start or source.start)
    try:
        summary.frames, summary.duration_s = _feed(sensor, source, speed)
    except BaseException:
        if events is not None:
            events.discard()
        raise
    finally:
        source.close()
    if events is not None:
        events.commit()
    summary.counts = sensor.counts
    summary.hours_applied = sensor.start(source.size).hours_applied
    return summary


def _feed(sensor: Sensor, source: ReplayInput, speed: float | None) -> tuple[int, float]:
    """Every frame or observation of ``source`` through ``sensor``; (frames, last t)."""
    frames = 0
    if source.video is not None:
        for frame in paced(source.video.frames(), lambda f: f.t, speed):
            frames += 1
            sensor.process(frame)
    else:
        for t, detections in paced(source.observations, lambda o: o[0], speed):
            frames += 1
            sensor.step(t, detections)
    sensor.finish()
    return frames, sensor.last_t
