"""The ping outbox: every ping is on disk before it is sent, and leaves only when the broker
confirmed it (PUBACK) or it expired.

paho's own queue lives in RAM (lost with the process) and ignores message expiry, so the
outbox, not paho, is what decides whether a ping still goes out: a restarted process resends
what is unacknowledged and unexpired, and drops (and counts) what expired, never sending late.

SQLite in ``state_dir`` (one small file per camera). It is used from the processing thread
(add) and paho's network thread (remove, flush), hence one lock and ``check_same_thread=False``.
A committed row survives SIGKILL; ``synchronous=NORMAL`` with WAL would only lose the last rows
on a power cut, which a 2-minute ping cannot outlive meaningfully anyway.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Entry:
    id: str
    topic: str
    payload: bytes
    created: float
    expires: float

    def remaining_s(self, now: float) -> float:
        return self.expires - now


class Outbox:
    """Unconfirmed pings on disk. Times are wall-clock epoch seconds given by the caller."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise OSError(f"{path}: cannot open the ping outbox: {exc}") from None

    def add(self, entry: Entry) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO outbox VALUES (?, ?, ?, ?, ?)",
                (entry.id, entry.topic, entry.payload, entry.created, entry.expires),
            )

    def remove(self, ping_id: str) -> bool:
        """Forget a confirmed ping; False when it was not there (already confirmed/expired)."""
        with self._lock:
            cur = self._db.execute("DELETE FROM outbox WHERE id = ?", (ping_id,))
        return cur.rowcount > 0

    def drop_expired(self, now: float) -> list[str]:
        """Delete pings whose lifetime is over; their ids (the caller counts them)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM outbox WHERE expires <= ? ORDER BY created", (now,)).fetchall()
            self._db.execute("DELETE FROM outbox WHERE expires <= ?", (now,))
            if rows:
                self._bump("expired", len(rows))
        return [r[0] for r in rows]

    def pending(self, now: float) -> list[Entry]:
        """Unexpired, unconfirmed pings, oldest first (expired ones are dropped first)."""
        self.drop_expired(now)
        with self._lock:
            rows = self._db.execute(
                "SELECT id, topic, payload, created, expires FROM outbox ORDER BY created"
            ).fetchall()
        return [Entry(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    def counter(self, name: str) -> int:
        """A counter kept across restarts (``expired``: pings dropped unsent, ever)."""
        with self._lock:
            row = self._db.execute("SELECT value FROM counters WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def _bump(self, name: str, by: int) -> None:
        self._db.execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, by, by),
        )

    def close(self) -> None:
        with self._lock:
            self._db.close()
