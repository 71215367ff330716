"""The traces the console can replay: the one given to `dwell console --trace`, and the rolling
traces in ``state_dir/trace`` (``YYYY-MM-DD_HHMMSS.jsonl.gz``, one per run of the sensor and
day) offered by calendar day: a day the sensor was restarted on is several files, replayed
in order as one day. A trace is named by its day (or a file name) only, so a request can
never reach a file outside these."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edge.offline.trace import read_trace

TRACE_DIR = "trace"
GRID = (64, 48)  # heatmap cells across and down
T = TypeVar("T")


def day_of(path: Path) -> str:
    """The calendar day a rolling trace file was recorded on (its name if not one of ours)."""
    try:
        return date.fromisoformat(path.name[:10]).isoformat()
    except ValueError:
        return path.name


class Shelf:
    def __init__(self, state_dir: Path, given: Path | None = None) -> None:
        self.state_dir = state_dir
        self.dir = state_dir / TRACE_DIR
        self.given = given
        self._cache: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def traces(self) -> list[Path]:
        """Every trace file, the given one first, then the rolling ones newest first."""
        found = sorted(self.dir.glob("*.jsonl.gz"), reverse=True) if self.dir.is_dir() else []
        return [p for p in ([self.given] if self.given is not None else []) + found
                if p.is_file()]

    def days(self) -> dict[str, list[Path]]:
        """Name -> files, newest first: the given trace by its file name, rolling files by
        the calendar day in their name (a day's files in the order they were recorded)."""
        out: dict[str, list[Path]] = {}
        for path in self.traces():
            out.setdefault(path.name if path == self.given else day_of(path), []).append(path)
        return {name: sorted(files, key=lambda p: p.name) for name, files in out.items()}

    def listing(self) -> list[dict[str, Any]]:
        return [{"name": name, "files": [p.name for p in files],
                 "bytes": sum(p.stat().st_size for p in files)}
                for name, files in self.days().items()]

    def find(self, name: str | None) -> tuple[str, list[Path]]:
        """The day (or file) called ``name`` (default: the newest) and its files; KeyError
        naming it otherwise."""
        days = self.days()
        if not days:
            raise KeyError("no trace to show: give `dwell console --trace FILE`, or set "
                           "[record] keep_days so `dwell run` keeps one a day")
        if not name:
            first = next(iter(days))
            return first, days[first]
        if name in days:
            return name, days[name]
        for path in self.traces():
            if path.name == name:
                return name, [path]
        raise KeyError(f"no trace called {name!r}")

    def newest(self) -> Path:
        """The file `dwell console` plays live (the given one, else the newest recorded)."""
        traces = self.traces()
        if not traces:
            self.find(None)  # raises, saying what is missing
        return traces[0]

    @staticmethod
    def stamp(paths: Sequence[Path]) -> tuple[tuple[str, float, int], ...]:
        """What identifies the files' content for a cache: name, mtime, size."""
        return tuple((str(p), p.stat().st_mtime, p.stat().st_size) for p in paths)

    def cached(self, kind: str, paths: Sequence[Path], make: Callable[[], T]) -> T:
        """``make()`` once per files' content (name, mtime, size) and ``kind``."""
        key = (kind, self.stamp(paths))
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = make()
        with self._lock:
            if len(self._cache) > 32:
                self._cache.clear()
            self._cache[key] = value
        return value

    def heatmap(self, name: str, paths: Sequence[Path]) -> dict[str, Any]:
        """Where people's feet were: counts on a GRID over the normalised picture."""
        def make() -> dict[str, Any]:
            gx, gy = GRID
            grid = np.zeros((gy, gx), np.int64)
            size = [0, 0]
            for path in paths:
                header, frames = read_trace(path)
                w, h = header.size
                size = [w, h]
                for _, det in frames:
                    if not len(det):
                        continue
                    xyxy = det.xyxy
                    fx = np.clip(((xyxy[:, 0] + xyxy[:, 2]) / 2 / w * gx).astype(int), 0, gx - 1)
                    fy = np.clip((xyxy[:, 3] / h * gy).astype(int), 0, gy - 1)
                    np.add.at(grid, (fy, fx), 1)
            return {"trace": name, "size": size, "grid": grid.tolist(), "max": int(grid.max())}

        return self.cached("heatmap", paths, make)
