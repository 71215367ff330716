"""What-if without re-tracking: a day's trace after tracker and visits, kept in memory, so a
change of ``[policy]`` keys re-runs only behaviour and policy.

``Pipeline.see`` (ignore zones, tracker, visits) reads the trace, ``[tracker]``,
``[behaviour]`` and the zones, and nothing of ``[policy]``; ``Pipeline.behave`` (behaviour,
policy) reads the rest. ``SeenDay.record`` replays a trace through the whole pipeline exactly
as `dwell replay` does while keeping every frame's ``Seen`` in a compact form (one array per
field for the whole day, ~33 bytes per visitor per frame); ``SeenDay.replay`` feeds those
frames to a fresh pipeline built with other settings. Both give the events `dwell replay`
gives for the same settings (tests/test_seen.py compares them on real and synthetic traces);
a recording is only reused for settings with the same ``seen_key``, anything else is a full
replay. ``SeenStore`` (edge/offline/seen_store.py) keeps recordings of settled traces in
``state_dir/seen`` so that a day is tracked once, not once per console start; the arrays hold
boxes and ids, as the trace does.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edge.behaviour.pipeline import Pipeline, Seen
from edge.behaviour.policy import deterministic_ping_ids
from edge.behaviour.visits import Crossing
from edge.behaviour.zones import Places
from edge.config.settings import Settings
from edge.offline.replay import input_seed
from edge.offline.trace import TraceHeader, read_trace
from edge.vocabulary.boxes import feet_of
from edge.vocabulary.events import Event
from edge.vocabulary.tally import Tally
from edge.vocabulary.types import Tracks

if TYPE_CHECKING:
    from edge.offline.seen_store import SeenStore

EventSink = Callable[[Event], None]
_CHUNK = 4096  # frames gathered before their arrays are joined (bounds the per-frame garbage)
_ASK_STOP = 1024  # frames between asking ``stop`` (~0.6 s of replaying a busy floor here)


def seen_key(settings: Settings) -> str:
    """The settings ``Pipeline.see`` depends on; a recording is reused only when they match."""
    return json.dumps({"tracker": settings.tracker.model_dump(mode="json"),
                       "behaviour": settings.behaviour.model_dump(mode="json"),
                       "zones": [z.model_dump(mode="json") for z in settings.zones]},
                      sort_keys=True)


@dataclass
class _Columns:
    """Per-frame arrays appended, joined every _CHUNK frames."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)
    pending: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **arrays: np.ndarray) -> None:
        for name, arr in arrays.items():
            self.pending.setdefault(name, []).append(arr)
        if len(self.pending["ids"]) >= _CHUNK:
            self._join()

    def _join(self) -> None:
        for name, arrs in self.pending.items():
            self.parts.setdefault(name, []).append(np.concatenate(arrs))
        self.pending = {}

    def done(self, name: str, empty: np.ndarray) -> np.ndarray:
        if self.pending:
            self._join()
        return np.concatenate(self.parts[name]) if name in self.parts else empty


class SeenDay:
    """One trace after tracker and visits; see the module docstring."""

    def __init__(self, path: Path, header: TraceHeader, key: str,
                 seed: str | None = None) -> None:
        self.path, self.header, self.key = path, header, key
        self.seed = input_seed(path) if seed is None else seed
        self.times = np.zeros(0, np.float64)
        self.offsets = np.zeros(1, np.int64)
        self.ids = np.zeros(0, np.int64)
        self.xyxy = np.zeros((0, 4), np.float32)
        self.score = np.zeros(0, np.float32)  # zeros: behaviour never reads a score
        self.yaw = np.zeros(0, np.float32)
        self.matched = np.zeros(0, bool)
        self.matched_offsets = np.zeros(1, np.int64)
        self.zone = np.zeros(0, np.int16)  # per matched row: index into zone_names
        self.help = np.zeros(0, bool)
        self.staff = np.zeros(0, bool)
        self.zone_names: list[str | None] = [None]
        self.has_help = self.has_staff = False
        self.crossings: dict[int, tuple[Crossing, ...]] = {}
        self.first_seen: dict[int, dict[int, float]] = {}  # frame -> {visitor: first seen}
        self.last_t = 0.0

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.times, self.offsets, self.ids, self.xyxy,
                                      self.score, self.yaw, self.matched,
                                      self.matched_offsets, self.zone, self.help, self.staff))

    def _pipeline(self, settings: Settings) -> Pipeline:
        return Pipeline(settings, self.header.size, ping_id=deterministic_ping_ids(self.seed),
                        start_wall=self.header.start)

    @classmethod
    def record(cls, path: Path, settings: Settings, on_event: EventSink,
               stop: Callable[[], bool] = lambda: False) -> tuple[SeenDay, Tally]:
        """Replays ``path`` with ``settings`` (every event to ``on_event``, as `dwell replay`
        decides them) and keeps what tracker and visits saw; (the day, the pipeline's Tally).
        ``stop`` is asked every ``_ASK_STOP`` frames; True gives up (``Stopped``)."""
        header, frames = read_trace(path)
        day = cls(path, header, seen_key(settings))
        pipeline = day._pipeline(settings)
        zones = pipeline.zones
        day.zone_names = [None, *(z.name for z in zones.zones)]
        code = {name: i for i, name in enumerate(day.zone_names)}
        cols, times, sizes = _Columns(), [], []
        for k, (t, detections) in enumerate(frames):
            seen = pipeline.see(t, detections)
            v = seen.visitors
            places = zones.places(feet_of(v.xyxy[v.matched]))
            asked: dict[int, float] = {}

            def first_seen(vid: int, real: Callable[[int], float] = seen.first_seen,
                           asked: dict[int, float] = asked) -> float:
                asked[vid] = real(vid)
                return asked[vid]

            _emit(pipeline.behave(Seen(t, v, seen.crossings, first_seen, places)), on_event)
            cols.add(ids=v.ids, xyxy=v.xyxy, yaw=v.yaw, matched=v.matched,
                     zone=np.array([code[n] for n in places.names], np.int16),
                     help=np.array(places.help or (), bool),
                     staff=np.array(places.staff or (), bool))
            times.append(t)
            sizes.append((len(v), len(places.names)))
            if asked:
                day.first_seen[k] = asked
            if seen.crossings:
                day.crossings[k] = seen.crossings
            day.last_t = max(day.last_t, t)
            if k % _ASK_STOP == _ASK_STOP - 1 and stop():
                raise Stopped(f"recording {path.name} given up at frame {k + 1}")
        _emit(pipeline.finish(day.last_t), on_event)
        day._store(cols, times, sizes, zones.has_help_point, zones.has_staff)
        return day, pipeline.counts

    def _store(self, cols: _Columns, times: list[float], sizes: list[tuple[int, int]],
               has_help: bool, has_staff: bool) -> None:
        self.times = np.array(times, np.float64)
        counts = np.array(sizes, np.int64).reshape(-1, 2)
        self.offsets = np.concatenate([[0], np.cumsum(counts[:, 0])])
        self.matched_offsets = np.concatenate([[0], np.cumsum(counts[:, 1])])
        for name, empty in (("ids", self.ids), ("xyxy", self.xyxy),
                            ("yaw", self.yaw), ("matched", self.matched),
                            ("zone", self.zone), ("help", self.help), ("staff", self.staff)):
            setattr(self, name, cols.done(name, empty))
        self.has_help, self.has_staff = has_help, has_staff
        self.score = np.zeros(int(counts[:, 0].max()) if len(counts) else 0, np.float32)

    def replay(self, settings: Settings, on_event: EventSink) -> Tally:
        """The day with ``settings`` (same ``seen_key`` as recorded): behaviour and policy
        only; every event to ``on_event``; the pipeline's Tally."""
        if seen_key(settings) != self.key:
            raise ValueError("settings change what tracker and visits see: replay in full")
        pipeline = self._pipeline(settings)
        off, moff, no_crossings = self.offsets.tolist(), self.matched_offsets.tolist(), ()
        table = self.zone_names
        for k, t in enumerate(self.times.tolist()):
            a, b = off[k], off[k + 1]
            tracks = Tracks(self.ids[a:b], self.xyxy[a:b], self.score[:b - a], self.yaw[a:b],
                            self.matched[a:b])
            ma, mb = moff[k], moff[k + 1]
            places = Places([table[i] for i in self.zone[ma:mb].tolist()],
                            self.help[ma:mb].tolist() if self.has_help else None,
                            self.staff[ma:mb].tolist() if self.has_staff else None)
            asked = self.first_seen.get(k)
            first_seen = asked.__getitem__ if asked is not None else _never_asked
            _emit(pipeline.behave(Seen(t, tracks, self.crossings.get(k, no_crossings),
                                       first_seen, places)), on_event)
        _emit(pipeline.finish(self.last_t), on_event)
        return pipeline.counts


class Stopped(Exception):
    """A recording given up because ``stop`` said so (another job is waiting)."""


def _never_asked(vid: int) -> float:
    raise KeyError(f"visitor {vid}: first sighting not recorded (behaviour diverged from the "
                   "recording)")


def _emit(events: list[Event], sink: EventSink) -> None:
    for ev in events:
        sink(ev)


class SeenDays:
    """The most recent ``keep`` recordings, by trace content and ``seen_key``; ``replay`` runs
    a trace with ``settings`` the fast way when it can, else in full (recording it). With a
    ``store``, a recording not in memory is looked for on disk, and a full recording of a
    settled rolling trace is stored there."""

    def __init__(self, keep: int = 2, store: SeenStore | None = None) -> None:
        self.keep, self.store = keep, store
        self._days: OrderedDict[tuple[str, float, int, str], SeenDay] = OrderedDict()
        self._lock = threading.Lock()
        # how each replay ran (the bench and tests read them): from memory, from the store,
        # in full
        self.fast = self.loaded = self.full = 0

    def clear(self) -> None:
        with self._lock:
            self._days.clear()

    @property
    def nbytes(self) -> int:
        with self._lock:
            return sum(d.nbytes for d in self._days.values())

    def replay(self, path: Path, settings: Settings, on_event: EventSink) -> Tally:
        key = self._key(path, settings)
        with self._lock:
            day = self._days.get(key)
            if day is not None:
                self._days.move_to_end(key)
        if day is None and self.store is not None:
            day = self.store.load(path, key[3])
            if day is not None:
                self.loaded += 1
                self._keep(key, day)
                return day.replay(settings, on_event)
        if day is not None:
            self.fast += 1
            return day.replay(settings, on_event)
        self.full += 1
        day, counts = SeenDay.record(path, settings, on_event)
        self._keep(key, day)
        if self.store is not None:
            self.store.save(day)
        return counts

    def prerecord(self, paths: Iterable[Path], settings: Settings,
                  stop: Callable[[], bool] = lambda: False) -> list[Path]:
        """Records and stores every path the store keeps and has no recording of for
        ``settings`` (oldest first; none kept in memory); gives up when ``stop()`` says so.
        The traces recorded."""
        if self.store is None:
            return []
        key, done = seen_key(settings), []
        for path in sorted(paths, key=lambda p: p.name):
            if stop():
                break
            if not self.store.covers(path) or self.store.has(path, key):
                continue
            try:
                day, _ = SeenDay.record(path, settings, lambda e: None, stop)
            except Stopped:
                break
            if self.store.save(day) is not None:
                done.append(path)
        return done

    @staticmethod
    def _key(path: Path, settings: Settings) -> tuple[str, float, int, str]:
        stat = path.stat()
        return (str(path), stat.st_mtime, stat.st_size, seen_key(settings))

    def _keep(self, key: tuple[str, float, int, str], day: SeenDay) -> None:
        with self._lock:
            self._days[key] = day
            while len(self._days) > self.keep:
                self._days.popitem(last=False)
