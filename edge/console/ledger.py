"""When each live ping was sent and answered, for the report's ping -> ack response times.

A trace records what the detector saw, not what the watch answered, so `dwell run` keeps
these timestamps in ``state_dir/responses.db`` (SQLite; wall-clock seconds, the ping's id,
reason and anonymous visitor number of that visit; nothing else). Rows older than
``KEEP_DAYS`` are deleted at start. Written on the processing thread (a ping or an ack is a
rare event), read by the console's HTTP threads.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from edge.delivery.status import median_or_none
from edge.vocabulary.events import Acknowledged, Event, Ping

FILE = "responses.db"
KEEP_DAYS = 90


class Ledger:
    def __init__(self, path: Path, now: Callable[[], float] = time.time) -> None:
        self.path, self._now = path, now
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS pings (id TEXT PRIMARY KEY, at REAL, "
                         "reason TEXT, visitor INTEGER)")
        self._db.execute("CREATE TABLE IF NOT EXISTS acks (ping_id TEXT PRIMARY KEY, at REAL, "
                         "action TEXT)")
        old = now() - KEEP_DAYS * 86400
        self._db.execute("DELETE FROM pings WHERE at < ?", (old,))
        self._db.execute("DELETE FROM acks WHERE at < ?", (old,))

    @classmethod
    def existing(cls, state_dir: Path) -> Ledger | None:
        """The ledger in ``state_dir`` if `dwell run` made one (the console on a laptop)."""
        path = state_dir / FILE
        return cls(path) if path.is_file() else None

    def on_event(self, ev: Event) -> None:
        """A sink: records live pings and the first ack of each."""
        with self._lock:
            if isinstance(ev, Ping):
                self._db.execute("INSERT OR IGNORE INTO pings VALUES (?, ?, ?, ?)",
                                 (ev.id, self._now(), ev.reason, ev.visitor))
            elif isinstance(ev, Acknowledged):
                self._db.execute("INSERT OR IGNORE INTO acks VALUES (?, ?, ?)",
                                 (ev.ping_id, self._now(), ev.action))

    def responses(self, day: date) -> list[tuple[str, float | None]]:
        """(local hour, seconds to its first ack or None) of every live ping on ``day``."""
        start = datetime.combine(day, datetime.min.time()).astimezone()
        end = start + timedelta(days=1)
        with self._lock:
            rows = self._db.execute(
                "SELECT p.at, a.at FROM pings p LEFT JOIN acks a ON a.ping_id = p.id "
                "WHERE p.at >= ? AND p.at < ?", (start.timestamp(), end.timestamp())).fetchall()
        return [(datetime.fromtimestamp(sent).astimezone().strftime("%Y-%m-%d %H:00"),
                 None if acked is None else acked - sent) for sent, acked in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _summary(times: list[float | None]) -> dict[str, Any]:
    answered = [t for t in times if t is not None]
    return {"live_pings": len(times), "live_acked": len(answered),
            "live_response_median_s": median_or_none(answered, 1)}


def merged(report: dict[str, Any], ledger: Ledger | None) -> dict[str, Any]:
    """``report`` with the live ledger's numbers beside each hour of its day (and in total)."""
    if ledger is None or not report.get("start"):
        return report
    live = ledger.responses(datetime.fromisoformat(report["start"]).date())
    by_hour: dict[str, list[float | None]] = defaultdict(list)
    for hour, delay in live:
        by_hour[hour].append(delay)
    hours = [dict(row, **_summary(by_hour.get(row["hour"], []))) for row in report["hours"]]
    total = dict(report["total"], **_summary([delay for _, delay in live]))
    return dict(report, hours=hours, total=total)
