"""The traces the console can replay: the one given to `dwell console --trace`, and the rolling
daily traces in ``state_dir/trace`` (``YYYY-MM-DD.jsonl.gz``). A trace is named by its file
name only, so a request can never reach a file outside these."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edge.offline.trace import read_trace

TRACE_DIR = "trace"
GRID = (64, 48)  # heatmap cells across and down
T = TypeVar("T")


class Shelf:
    def __init__(self, state_dir: Path, given: Path | None = None) -> None:
        self.dir = state_dir / TRACE_DIR
        self.given = given
        self._cache: dict[tuple[str, str, float, int], Any] = {}
        self._lock = threading.Lock()

    def traces(self) -> list[Path]:
        found = sorted(self.dir.glob("*.jsonl.gz"), reverse=True) if self.dir.is_dir() else []
        return ([self.given] if self.given is not None else []) + found

    def listing(self) -> list[dict[str, Any]]:
        return [{"name": p.name, "bytes": p.stat().st_size} for p in self.traces()
                if p.is_file()]

    def find(self, name: str | None) -> Path:
        """The trace called ``name`` (default: the newest); KeyError naming it otherwise."""
        traces = [p for p in self.traces() if p.is_file()]
        if not traces:
            raise KeyError("no trace to show: give `dwell console --trace FILE`, or set "
                           "[record] keep_days so `dwell run` keeps one a day")
        if not name:
            return traces[0]
        for path in traces:
            if path.name == name:
                return path
        raise KeyError(f"no trace called {name!r}")

    def cached(self, kind: str, path: Path, make: Callable[[], T]) -> T:
        """``make()`` once per trace content (name, mtime, size) and ``kind``."""
        stat = path.stat()
        key = (kind, str(path), stat.st_mtime, stat.st_size)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = make()
        with self._lock:
            if len(self._cache) > 32:
                self._cache.clear()
            self._cache[key] = value
        return value

    def heatmap(self, path: Path) -> dict[str, Any]:
        """Where people's feet were: counts on a GRID over the normalised picture."""
        def make() -> dict[str, Any]:
            header, frames = read_trace(path)
            w, h = header.size
            gx, gy = GRID
            grid = np.zeros((gy, gx), np.int64)
            for _, det in frames:
                if not len(det):
                    continue
                xyxy = det.xyxy
                fx = np.clip(((xyxy[:, 0] + xyxy[:, 2]) / 2 / w * gx).astype(int), 0, gx - 1)
                fy = np.clip((xyxy[:, 3] / h * gy).astype(int), 0, gy - 1)
                np.add.at(grid, (fy, fx), 1)
            return {"trace": path.name, "size": [w, h], "grid": grid.tolist(),
                    "max": int(grid.max())}

        return self.cached("heatmap", path, make)
