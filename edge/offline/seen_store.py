"""Recorded days on disk: what tracker and visits saw in a settled rolling trace, kept in
``state_dir/seen`` beside ``state_dir/trace`` so the console tracks a day once, not once per
start (or after every idle spell that gave its memory back).

A recording (``SeenDay``) holds, per frame, the ids, boxes, head yaw, zones and crossings the
visits layer gave behaviour; never a pixel, no appearance cue: what the trace holds, after
tracking. One ``<trace name>.seen.npz`` per trace file (numpy's zip of arrays, compressed),
written only for a rolling trace that has settled (not written for ``SETTLE_S``: closed at
midnight, or the sensor stopped), so the file of today, which still grows, is never stored.

A stored recording is used only if it was made from the same file (name, size, mtime), with
the same ``seen_key`` (tracker, behaviour and zones settings) and by the same code (a hash of
the modules that decide what it holds): anything else is a full replay, and the new recording
replaces the old one. A file that cannot be read (cut short, edited, another program's) is
logged with its name and the day is replayed in full: it costs time, never an answer. A
recording is deleted with its trace (``prune``), so it lives exactly as long as the trace.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
import zipfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from edge.behaviour.visits import Crossing
from edge.offline.seen import SeenDay
from edge.offline.trace import header_line, parse_header
from edge.vocabulary.errors import InputError

log = logging.getLogger("dwell.console")

SEEN_DIR = "seen"
SUFFIX = ".seen.npz"
FORMAT = "dwell-seen/1"
SETTLE_S = 180.0  # the rolling trace flushes every 60 s: 3 flushes missed means it is closed
_ARRAYS = ("times", "offsets", "ids", "xyxy", "yaw", "matched", "matched_offsets", "zone",
           "help", "staff")


def _code_hash() -> str:
    """The source of every module that decides what a recording holds: a software update
    that changes any of them makes the stored recordings stale."""
    root = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted([*root.glob("behaviour/*.py"), *root.glob("vocabulary/*.py"),
                        root / "offline/seen.py", root / "offline/trace.py"]):
        digest.update(path.name.encode() + path.read_bytes())
    return digest.hexdigest()[:16]


CODE = _code_hash()


class Unreadable(ValueError):
    """A stored recording that is not one this code wrote."""


class SeenStore:
    """``state_dir/seen``: recordings of the settled rolling traces in ``trace_dir``."""

    def __init__(self, folder: Path, trace_dir: Path, settle_s: float = SETTLE_S,
                 now: Callable[[], float] = time.time) -> None:
        self.folder, self.trace_dir = folder, trace_dir
        self.settle_s, self._now = settle_s, now

    @classmethod
    def of(cls, state_dir: Path) -> SeenStore:
        from edge.offline.rolling import TRACE_DIR
        return cls(state_dir / SEEN_DIR, state_dir / TRACE_DIR)

    def path_for(self, trace: Path) -> Path:
        return self.folder / (trace.name.removesuffix(".jsonl.gz") + SUFFIX)

    def covers(self, trace: Path) -> bool:
        """A rolling trace that is no longer written to (only those are stored)."""
        if trace.parent.resolve() != self.trace_dir.resolve():
            return False  # `dwell console --trace FILE`: not ours to keep a copy of
        try:
            return self._now() - trace.stat().st_mtime >= self.settle_s
        except OSError:
            return False

    def has(self, trace: Path, key: str) -> bool:
        """A usable recording of ``trace`` with ``key`` is stored (reads only its header)."""
        try:
            return self._meta_matches(self._meta(self.path_for(trace)), trace, key)
        except (OSError, Unreadable):
            return False

    def load(self, trace: Path, key: str) -> SeenDay | None:
        """The stored recording of ``trace`` for ``key``; None when there is none, it is stale,
        or it cannot be read (logged, naming the file)."""
        path = self.path_for(trace)
        if not path.is_file() or not self.covers(trace):
            return None
        try:
            with np.load(path, allow_pickle=False) as npz:
                meta = _meta_of(npz, path)
                if not self._meta_matches(meta, trace, key):
                    return None
                return _day_of(trace, meta, npz, path)
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            log.warning("recorded day %s is unreadable (%s): replaying %s in full", path,
                        exc, trace.name)
            return None

    def save(self, day: SeenDay) -> Path | None:
        """Stores ``day`` if its trace is a settled rolling trace (atomically: a power cut
        leaves the old file or the new one); the file written, else None."""
        if not self.covers(day.path):
            return None
        stat = day.path.stat()
        meta = {"format": FORMAT, "code": CODE, "trace": day.path.name, "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns, "key": day.key, "seed": day.seed,
                "header": header_line(day.header), "zone_names": day.zone_names,
                "has_help": day.has_help, "has_staff": day.has_staff, "last_t": day.last_t}
        crossings = [(k, c.t, c.visitor, c.entered) for k, cs in sorted(day.crossings.items())
                     for c in cs]
        asked = [(k, vid, t) for k, seen in sorted(day.first_seen.items())
                 for vid, t in seen.items()]
        path = self.path_for(day.path)
        partial = path.with_name(path.name + ".partial")
        try:
            self._write(partial, meta, day, crossings, asked)
            os.replace(partial, path)
        except OSError as exc:  # disk full, read-only state_dir: the answer stands regardless
            log.warning("cannot store the recorded day %s (%s): the next console replays %s "
                        "in full", path, exc.strerror or exc, day.path.name)
            with contextlib.suppress(OSError):
                partial.unlink(missing_ok=True)
            return None
        return path

    def _write(self, partial: Path, meta: dict[str, Any], day: SeenDay,
               crossings: list[tuple[int, float, int, bool]],
               asked: list[tuple[int, int, float]]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as fh:
            np.savez_compressed(
                fh, meta=np.frombuffer(json.dumps(meta).encode(), np.uint8),
                **{name: getattr(day, name) for name in _ARRAYS},
                crossing_frame=np.array([c[0] for c in crossings], np.int64),
                crossing_t=np.array([c[1] for c in crossings], np.float64),
                crossing_visitor=np.array([c[2] for c in crossings], np.int64),
                crossing_entered=np.array([c[3] for c in crossings], bool),
                asked_frame=np.array([a[0] for a in asked], np.int64),
                asked_visitor=np.array([a[1] for a in asked], np.int64),
                asked_t=np.array([a[2] for a in asked], np.float64))

    def prune(self, traces: Iterable[Path]) -> list[Path]:
        """Deletes every stored recording whose trace is not among ``traces``."""
        if not self.folder.is_dir():
            return []
        keep = {self.path_for(t).name for t in traces}
        gone = []
        for path in self.folder.iterdir():
            if path.name.endswith((SUFFIX, SUFFIX + ".partial")) and path.name not in keep:
                path.unlink(missing_ok=True)
                gone.append(path)
        return gone

    def _meta(self, path: Path) -> dict[str, Any]:
        try:
            with np.load(path, allow_pickle=False) as npz:
                return _meta_of(npz, path)
        except (ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
            raise Unreadable(str(exc)) from None

    @staticmethod
    def _meta_matches(meta: dict[str, Any], trace: Path, key: str) -> bool:
        stat = trace.stat()
        return (meta.get("code") == CODE and meta.get("trace") == trace.name
                and meta.get("size") == stat.st_size and meta.get("mtime_ns") == stat.st_mtime_ns
                and meta.get("key") == key)


def _meta_of(npz: Any, path: Path) -> dict[str, Any]:
    try:
        meta = json.loads(bytes(npz["meta"]).decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Unreadable(f"its header is not JSON: {exc}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise Unreadable(f"not a {FORMAT} file")
    return meta


def _day_of(trace: Path, meta: dict[str, Any], npz: Any, path: Path) -> SeenDay:
    """The SeenDay stored in ``npz``; Unreadable if its arrays do not fit together."""
    try:
        header = parse_header(meta["header"], path)
    except InputError as exc:
        raise Unreadable(str(exc)) from None
    day = SeenDay(trace, header, meta["key"], seed=str(meta["seed"]))
    for name in _ARRAYS:
        setattr(day, name, npz[name])
    frames, rows, matched = len(day.times), len(day.ids), len(day.zone)
    if (len(day.offsets) != frames + 1 or day.offsets[-1] != rows
            or len(day.matched_offsets) != frames + 1 or day.matched_offsets[-1] != matched
            or day.xyxy.shape != (rows, 4) or len(day.yaw) != rows or len(day.matched) != rows
            or int(day.matched.sum()) != matched or len(day.help) not in (0, matched)
            or len(day.staff) not in (0, matched)):
        raise Unreadable("its arrays do not fit together")
    day.zone_names = [None if n is None else str(n) for n in meta["zone_names"]]
    if matched and not 0 <= int(day.zone.min()) <= int(day.zone.max()) < len(day.zone_names):
        raise Unreadable("a zone index is out of range")
    day.has_help, day.has_staff = bool(meta["has_help"]), bool(meta["has_staff"])
    day.last_t = float(meta["last_t"])
    for k, t, vid, entered in zip(npz["crossing_frame"].tolist(), npz["crossing_t"].tolist(),
                                  npz["crossing_visitor"].tolist(),
                                  npz["crossing_entered"].tolist(), strict=True):
        day.crossings[k] = (*day.crossings.get(k, ()), Crossing(t, vid, bool(entered)))
    for k, vid, t in zip(npz["asked_frame"].tolist(), npz["asked_visitor"].tolist(),
                         npz["asked_t"].tolist(), strict=True):
        day.first_seen.setdefault(k, {})[vid] = t
    widest = int(np.diff(day.offsets).max()) if frames else 0
    day.score = np.zeros(widest, np.float32)
    return day
