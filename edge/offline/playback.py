"""A recorded trace played like a camera: at real time through a ``Sensor``, on its own thread,
for `dwell console` (the live floor without a camera). Loops by default.

The sensor is the same composition root `dwell run` uses, so the dots, states and pings the
console shows are the ones a live run would have produced from that trace.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from edge.behaviour.policy import deterministic_ping_ids
from edge.config.settings import Settings
from edge.offline.replay import input_seed
from edge.offline.trace import read_trace
from edge.service.sensor import EventSink, Sensor, StepWatcher, paced

log = logging.getLogger("dwell.console")


class TracePlayer:
    """Plays ``path`` at ``speed`` x real time until ``stop``; ``reload`` applies new settings
    at the next frame, as SIGHUP does for `dwell run`."""

    def __init__(self, path: Path, settings: Settings, *, sinks: Iterable[EventSink] = (),
                 watchers: Iterable[StepWatcher] = (), speed: float = 1.0,
                 loop: bool = True) -> None:
        self.path, self.settings, self.speed, self.loop = path, settings, speed, loop
        self.sinks, self.watchers = list(sinks), list(watchers)
        self._stop = threading.Event()
        self._pending: Settings | None = None
        self._thread = threading.Thread(target=self._run, name="trace-player", daemon=True)
        self.rounds = 0
        self.t = 0.0
        self._steps: list[float] = []
        self.failed: BaseException | None = None

    def start(self) -> TracePlayer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def reload(self, settings: Settings) -> None:
        self._pending = settings

    def health(self) -> dict[str, Any]:
        now = time.monotonic()
        recent = [s for s in self._steps if now - s < 5.0]
        fps = (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6) if len(recent) > 1 else 0.0
        return {"mode": "trace", "source": self.path.name, "fps": round(fps, 1),
                "camera": "none (recorded trace)", "round": self.rounds + 1,
                "t": round(self.t, 1), "ok": self.failed is None}

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._play_once()
                self.rounds += 1
                if not self.loop:
                    break
        except Exception as exc:  # a malformed trace: say so on the console's health
            log.exception("trace playback failed")
            self.failed = exc

    def _play_once(self) -> None:
        header, frames = read_trace(self.path)
        sensor = Sensor(self.settings, frame_size=header.size, sinks=self.sinks,
                        watchers=self.watchers, start_wall=header.start,
                        ping_id=deterministic_ping_ids(input_seed(self.path)))
        for t, detections in paced(frames, lambda o: o[0], self.speed):
            if self._stop.is_set():
                return
            if self._pending is not None:
                self.settings, self._pending = self._pending, None
                sensor.reload(self.settings)
            self.t = t
            self._steps = [*self._steps[-49:], time.monotonic()]
            sensor.step(t, detections)
        sensor.finish()
