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

import hashlib
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
from edge.vocabulary.types import Detections, Tracks

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
        # what `extend` continues from: the pipeline that tracked the frames so far (None for
        # a recording loaded from disk), the file's size and first bytes then, the last frame
        self._seer: Pipeline | None = None
        self._size, self._after_t = 0, 0.0
        self._first_size, self._grown_from = 0, ""

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
        """Tracks ``path`` with ``settings``, keeping what tracker and visits saw, then replays
        the recording (every event to ``on_event``, as `dwell replay` decides them); (the
        day, the pipeline's Tally). ``stop`` is asked every ``_ASK_STOP`` frames; True gives
        up (``Stopped``)."""
        header, frames = read_trace(path)
        day = cls(path, header, seen_key(settings))
        day._seer = day._pipeline(settings)
        day._first_size = path.stat().st_size
        day._grown_from = _prefix_of(path, day._first_size)
        day.zone_names = [None, *(z.name for z in day._seer.zones.zones)]
        day._see(frames, stop)
        return day, day.replay(settings, on_event)

    def extend(self, stop: Callable[[], bool] = lambda: False) -> bool:
        """Tracks the frames a growing trace (today's) gained since it was recorded, on from
        the tracker and visits as they were; False when the file is not this one grown (its
        first 64 KiB differ, or it shrank) or the recording came from disk."""
        if self._seer is None or self.path.stat().st_size < self._size:
            return False
        if _prefix_of(self.path, self._first_size) != self._grown_from:
            return False
        _, frames = read_trace(self.path, skip=len(self.times), after_t=self._after_t)
        self._see(frames, stop)
        self.seed = input_seed(self.path)  # ping ids follow the file's size, as in a replay
        return True

    def _see(self, frames: Iterable[tuple[float, Detections]], stop: Callable[[], bool]) -> None:
        """Tracker, visits and behaviour (whose staff flags visits reads) on ``frames``,
        appended to the recording; behaviour's events are not kept (``replay`` decides)."""
        assert self._seer is not None
        pipeline, base = self._seer, len(self.times)
        self._size = self.path.stat().st_size
        zones = pipeline.zones
        code = {name: i for i, name in enumerate(self.zone_names)}
        cols, times, sizes = _Columns(), [], []
        for j, (t, detections) in enumerate(frames):
            k = base + j
            seen = pipeline.see(t, detections)
            v = seen.visitors
            places = zones.places(feet_of(v.xyxy[v.matched]))
            asked: dict[int, float] = {}

            def first_seen(vid: int, real: Callable[[int], float] = seen.first_seen,
                           asked: dict[int, float] = asked) -> float:
                asked[vid] = real(vid)
                return asked[vid]

            pipeline.behave(Seen(t, v, seen.crossings, first_seen, places))
            cols.add(ids=v.ids, xyxy=v.xyxy, yaw=v.yaw, matched=v.matched,
                     zone=np.array([code[n] for n in places.names], np.int16),
                     help=np.array(places.help or (), bool),
                     staff=np.array(places.staff or (), bool))
            times.append(t)
            sizes.append((len(v), len(places.names)))
            if asked:
                self.first_seen[k] = asked
            if seen.crossings:
                self.crossings[k] = seen.crossings
            self.last_t = max(self.last_t, t)
            self._after_t = t
            if j % _ASK_STOP == _ASK_STOP - 1 and stop():
                raise Stopped(f"recording {self.path.name} given up at frame {k + 1}")
        self._append(cols, times, sizes, zones.has_help_point, zones.has_staff)

    def _append(self, cols: _Columns, times: list[float], sizes: list[tuple[int, int]],
                has_help: bool, has_staff: bool) -> None:
        counts = np.array(sizes, np.int64).reshape(-1, 2)
        self.times = np.concatenate([self.times, np.array(times, np.float64)])
        self.offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum(counts[:, 0])])
        self.matched_offsets = np.concatenate(
            [self.matched_offsets, self.matched_offsets[-1] + np.cumsum(counts[:, 1])])
        for name in ("ids", "xyxy", "yaw", "matched", "zone", "help", "staff"):
            old = getattr(self, name)
            setattr(self, name, np.concatenate([old, cols.done(name, old[:0])]))
        self.has_help, self.has_staff = has_help, has_staff
        widest = int(np.diff(self.offsets).max()) if len(self.times) else 0
        self.score = np.zeros(widest, np.float32)

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


def _prefix_of(path: Path, size: int) -> str:
    """A digest of the file's first ``size`` bytes, at most 64 KiB (a file that only grows,
    as a gzip stream being written does, keeps them)."""
    with path.open("rb") as fh:
        return hashlib.sha256(fh.read(min(size, 1 << 16))).hexdigest()


def _never_asked(vid: int) -> float:
    raise KeyError(f"visitor {vid}: first sighting not recorded (behaviour diverged from the "
                   "recording)")


def _emit(events: list[Event], sink: EventSink) -> None:
    for ev in events:
        sink(ev)


class SeenDays:
    """The most recent ``keep`` recordings, by trace content and ``seen_key``; ``replay`` runs
    a trace with ``settings`` the fast way when it can, else in full (recording it). A file
    that grew since it was recorded (today's, being written) is tracked on from where the
    recording stopped, not from its start. With a ``store``, a recording not in memory is
    looked for on disk, and a full recording of a settled rolling trace is stored there."""

    def __init__(self, keep: int = 2, store: SeenStore | None = None) -> None:
        self.keep, self.store = keep, store
        self._days: OrderedDict[tuple[str, float, int, str], SeenDay] = OrderedDict()
        self._lock = threading.Lock()
        # how each replay ran (the bench and tests read them): from memory, from the store,
        # from memory after tracking what a growing file gained, in full
        self.fast = self.loaded = self.extended = self.full = 0

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
        grown = self._grown(key)
        if grown is not None:
            self.extended += 1
            return grown.replay(settings, on_event)
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

    def _grown(self, key: tuple[str, float, int, str]) -> SeenDay | None:
        """The recording of the same file and ``seen_key`` at an earlier size, extended by
        what the file gained (and kept under the new key); None if there is none."""
        with self._lock:
            old = next((k for k in self._days if (k[0], k[3]) == (key[0], key[3])), None)
            day = self._days.pop(old) if old is not None else None
        if day is None or not day.extend():
            return None
        self._keep(self._key(day.path, key[3]), day)
        return day

    @staticmethod
    def _key(path: Path, settings: Settings | str) -> tuple[str, float, int, str]:
        stat = path.stat()
        return (str(path), stat.st_mtime, stat.st_size,
                settings if isinstance(settings, str) else seen_key(settings))

    def _keep(self, key: tuple[str, float, int, str], day: SeenDay) -> None:
        with self._lock:
            self._days[key] = day
            while len(self._days) > self.keep:
                self._days.popitem(last=False)
