"""The rolling anonymous trace: what the detector saw (boxes, scores, head yaw; never a pixel),
kept for the last ``[record] keep_days`` days in ``state_dir/trace`` so the owner can replay a
day with other thresholds (the console's what-if and report).

One gzip-compressed dwell trace per run and day, ``YYYY-MM-DD_HHMMSS.jsonl.gz`` (local time
of its first frame, which its header's ``start`` also carries, so opening hours apply in a
replay). At local midnight the file is closed and the next day's begins; files of days older
than ``keep_days`` are deleted whenever a file is opened, with the console's recordings of
them in ``state_dir/seen``. The stream is flushed every ``FLUSH_S`` seconds: a power cut loses
at most that much, and a cut-short file still replays up to its last complete frame.
"""

from __future__ import annotations

import gzip
import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO

from edge.offline.seen_store import SeenStore
from edge.offline.trace import TraceHeader, frame_line, header_line
from edge.vocabulary.types import Detections

log = logging.getLogger("dwell.record")

TRACE_DIR = "trace"
FLUSH_S = 60.0
SUFFIX = ".jsonl.gz"


def prune(folder: Path, keep_days: int, today: date) -> list[Path]:
    """Deletes trace files of days before the last ``keep_days`` (today counts as one), and
    the console's recordings of them (edge/offline/seen_store.py)."""
    oldest = today - timedelta(days=keep_days - 1)
    gone = []
    for path in folder.glob(f"*{SUFFIX}"):
        try:
            day = date.fromisoformat(path.name[:10])
        except ValueError:
            continue  # not one of ours
        if day < oldest:
            path.unlink(missing_ok=True)
            recorded = SeenStore.of(folder.parent).path_for(path)
            try:
                recorded.unlink(missing_ok=True)
            except OSError as exc:  # the trace is gone; the console's idle work tries again
                log.warning("rolling trace: cannot delete %s (%s)", recorded, exc.strerror)
            gone.append(path)
    return gone


class RollingTrace:
    """A ``Sensor`` looked-sink: ``write(t, detections)`` for every frame the detector saw."""

    def __init__(self, state_dir: Path, keep_days: int, size: Callable[[], tuple[int, int] | None],
                 fps: float, now: Callable[[], datetime] = lambda: datetime.now().astimezone()
                 ) -> None:
        self.folder = state_dir / TRACE_DIR
        self.keep_days, self.fps = keep_days, fps
        self._size, self._now = size, now
        self._out: IO[str] | None = None
        self._day: date | None = None
        self._t0 = 0.0  # sensor t of this file's t=0
        self._flushed = 0.0
        self.path: Path | None = None
        self.frames = 0

    def write(self, t: float, detections: Detections) -> None:
        now = self._now()
        if self._out is None or now.date() != self._day:
            size = self._size()
            if size is None:
                return
            self._open(now, t, size)
        assert self._out is not None
        self._out.write(frame_line(t - self._t0, detections) + "\n")
        self.frames += 1
        if t - self._flushed >= FLUSH_S:
            self._out.flush()
            self._flushed = t

    def _open(self, now: datetime, t: float, size: tuple[int, int]) -> None:
        self.close()
        self.folder.mkdir(parents=True, exist_ok=True)
        for gone in prune(self.folder, self.keep_days, now.date()):
            log.info("rolling trace: deleted %s (older than %d days)", gone.name, self.keep_days)
        self.path = self.folder / f"{now.strftime('%Y-%m-%d_%H%M%S')}{SUFFIX}"
        self._out = gzip.open(self.path, "wt", encoding="utf-8", compresslevel=6)  # noqa: SIM115 (open until close)
        self._out.write(header_line(TraceHeader(self.fps, size, now.replace(microsecond=0)))
                        + "\n")
        self._day, self._t0, self._flushed = now.date(), t, t

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None
