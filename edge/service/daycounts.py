"""Today's counts on disk, so `pings_today`/`visitors_today` survive a restart the same day.

systemd restarts the sensor after a crash, an upgrade or a reboot; without this file the
retained stats would drop to zero at 11:00 and the owner's day would look half as busy. One
small JSON file per camera in ``state_dir``, rewritten atomically (a temporary file, fsync,
``os.replace``) whenever an event changed a count: events come a few a minute, so the SD card
sees a few small writes a minute, and a SIGKILL loses at most the event being counted.

The file names its local day: a file from another day is not loaded (the counts start again
at midnight, as they would have in a sensor that kept running). A file that cannot be read as
counts (truncated by a power cut, edited by hand) is moved aside with a timestamp, said so in
the log, and the day starts from zero: counters are never worth a crash loop. A write that
fails (disk full, read-only) is logged once and the sensor keeps running with counts in RAM.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from edge.vocabulary.tally import Tally

log = logging.getLogger("dwell.service")

VERSION = 1
INTS = ("visits", "visits_ended", "staff_visits", "acks", "entered", "exited")


class BadCounts(ValueError):
    """The file's content is not a day's counts (what is wrong, for the log)."""


def encode(day: date, tally: Tally) -> dict[str, Any]:
    data: dict[str, Any] = {"version": VERSION, "day": day.isoformat()}
    data.update({name: getattr(tally, name) for name in INTS})
    data["pings"] = dict(tally.pings)
    data["held"] = dict(tally.held)
    data["dwells"] = [round(d, 1) for d in tally.dwells]
    return data


def _counter(data: dict[str, Any], name: str) -> Counter[str]:
    value = data.get(name, {})
    if not isinstance(value, dict) or not all(
            isinstance(k, str) and type(v) is int and v >= 0 for k, v in value.items()):
        raise BadCounts(f"{name!r} is not a map of names to counts")
    return Counter(value)


def decode(data: Any) -> tuple[date, Tally]:
    """The day and its tally; BadCounts naming what is wrong."""
    if not isinstance(data, dict):
        raise BadCounts("not a JSON object")
    if data.get("version") != VERSION:
        raise BadCounts(f"unknown version {data.get('version')!r}")
    try:
        day = date.fromisoformat(str(data["day"]))
    except (KeyError, ValueError):
        raise BadCounts(f"'day' is not a date: {data.get('day')!r}") from None
    tally = Tally()
    for name in INTS:
        value = data.get(name, 0)
        if type(value) is not int or value < 0:
            raise BadCounts(f"{name!r} is not a count: {value!r}")
        setattr(tally, name, value)
    tally.pings, tally.held = _counter(data, "pings"), _counter(data, "held")
    dwells = data.get("dwells", [])
    if not isinstance(dwells, list) or not all(
            isinstance(d, int | float) and not isinstance(d, bool) and d >= 0 for d in dwells):
        raise BadCounts("'dwells' is not a list of seconds")
    tally.dwells.extend(float(d) for d in dwells)
    return day, tally


class DayCountsFile:
    """Load (once) and save one camera's counts of the day."""

    def __init__(self, path: Path, clock: Any = time.time) -> None:
        self.path = path
        self._clock = clock
        self.quarantined: Path | None = None
        self._write_failed = False

    def load(self, today: date) -> Tally | None:
        """Today's saved tally; None when there is none for today (absent, another day's,
        or corrupt: then moved aside and logged)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self._quarantine(f"cannot read it: {exc}")
            return None
        try:
            day, tally = decode(json.loads(text))
        except (json.JSONDecodeError, BadCounts) as exc:
            self._quarantine(str(exc))
            return None
        if day != today:
            log.info("day counts in %s are from %s: today (%s) starts from zero", self.path,
                     day, today)
            return None
        log.info("day counts restored from %s: %d visitor(s), %d ping(s) so far today",
                 self.path, tally.visits, tally.pings_sent)
        return tally

    def _quarantine(self, why: str) -> None:
        stamp = datetime.fromtimestamp(self._clock(), UTC).strftime("%Y%m%dT%H%M%SZ")
        moved = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        try:
            self.path.rename(moved)
        except OSError as exc:
            log.error("the day counts file %s is unusable (%s) and could not be moved aside "
                      "(%s): today's counts start from zero", self.path, why, exc)
            return
        self.quarantined = moved
        log.error("the day counts file %s is corrupt (%s): moved aside to %s; today's counts "
                  "start from zero", self.path, why, moved.name)

    def save(self, day: date, tally: Tally) -> None:
        """Atomically replace the file; a failure is logged (once) and otherwise ignored."""
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(encode(day, tally), out, separators=(",", ":"))
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            if not self._write_failed:
                log.error("cannot save today's counts to %s (%s): they are kept in memory "
                          "only and restart from zero if the sensor restarts", self.path, exc)
            self._write_failed = True
            return
        if self._write_failed:
            log.info("today's counts are saved to %s again", self.path)
        self._write_failed = False
