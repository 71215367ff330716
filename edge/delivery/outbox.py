"""The ping outbox: every ping is on disk before it is sent, and leaves only when the broker
confirmed it (PUBACK) or it expired.

paho's own queue lives in RAM (lost with the process) and ignores message expiry, so the
outbox, not paho, is what decides whether a ping still goes out: a restarted process resends
what is unacknowledged and unexpired, and drops (and counts) what expired, never sending late.

SQLite in ``state_dir`` (one small file per camera). It is used from the processing thread
(add) and paho's network thread (remove, flush), hence one lock and ``check_same_thread=False``.
A committed row survives SIGKILL; ``synchronous=NORMAL`` with WAL would only lose the last rows
on a power cut, which a 2-minute ping cannot outlive meaningfully anyway.

A corrupt file (SD cards do this after power cuts) must not stop the sensor for good: systemd
would restart it into the same failure forever. It is moved aside with a timestamp (kept for
a post-mortem, with its -wal/-shm files so none is applied to the fresh file), logged, shown
in ``quarantined`` (the publisher puts it into ``status``), and a fresh outbox is started:
the pings queued in it are lost, which beats losing every ping from now on. Any other error
(a directory that is not writable) still fails with its name: moving files cannot fix it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger("dwell.outbox")
CORRUPT = ("SQLITE_NOTADB", "SQLITE_CORRUPT")  # sqlite3 error names a fresh file cures

SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    created REAL NOT NULL,
    expires REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    held INTEGER NOT NULL
);
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


class CorruptOutbox(Exception):
    """The file is not a usable outbox (the message as SQLite put it). ``db`` is the
    connection, still open: SQLite deletes the -wal/-shm files when it closes, so they are
    moved aside first."""

    def __init__(self, message: str, db: sqlite3.Connection) -> None:
        super().__init__(message)
        self.db = db


class Outbox:
    """Unconfirmed pings on disk. Times are wall-clock epoch seconds given by the caller;
    ``clock`` only names a quarantined file."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self.quarantined: Path | None = None  # where a corrupt outbox was moved at open
        try:
            self._db = self._open()
        except CorruptOutbox as exc:
            try:
                self.quarantined = self._quarantine(clock())
            finally:
                exc.db.close()
            log.error("the ping outbox %s is corrupt (%s): moved aside to %s; starting a fresh "
                      "outbox (pings queued in the old one are lost)", path, exc,
                      self.quarantined.name)
            self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise OSError(f"{self.path}: cannot open the ping outbox: {exc}") from None
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            check = db.execute("PRAGMA quick_check").fetchone()
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorname", "") in CORRUPT:
                raise CorruptOutbox(str(exc), db) from None
            db.close()
            raise OSError(f"{self.path}: cannot open the ping outbox: {exc}") from None
        if check is None or check[0] != "ok":
            raise CorruptOutbox(f"quick_check: {check[0] if check else 'no answer'}", db)
        return db

    def _quarantine(self, now: float) -> Path:
        stamp = datetime.fromtimestamp(now, UTC).strftime("%Y%m%dT%H%M%SZ")
        moved = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        for suffix in ("-wal", "-shm", ""):  # the main file last: it names the quarantine
            part = self.path.with_name(self.path.name + suffix)
            if part.exists():
                part.rename(moved.with_name(f"{self.path.name}{suffix}.corrupt-{stamp}"))
        return moved

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

    # -- records for the centre (edge/delivery/records.py): no expiry, bounded by count -----

    def add_record(self, rid: str, topic: str, payload: bytes, held: bool,
                   limit: int) -> int:
        """Queue one record (a resent id is stored once); keeps at most ``limit`` records by
        dropping held-candidate records first, then the oldest. Returns how many it dropped
        (also counted in ``records_dropped``)."""
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO records (id, topic, payload, held) "
                             "VALUES (?, ?, ?, ?)", (rid, topic, payload, int(held)))
            over = int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0]) - limit
            if over <= 0:
                return 0
            self._db.execute("DELETE FROM records WHERE seq IN (SELECT seq FROM records "
                             "ORDER BY held DESC, seq LIMIT ?)", (over,))
            self._bump("records_dropped", over)
        return over

    def pending_records(self) -> list[tuple[str, str, bytes]]:
        """Unconfirmed records, oldest first: (id, topic, payload)."""
        with self._lock:
            rows = self._db.execute("SELECT id, topic, payload FROM records ORDER BY seq"
                                    ).fetchall()
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def remove_record(self, rid: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM records WHERE id = ?", (rid,))
        return cur.rowcount > 0

    def records_waiting(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
