"""The central PostgreSQL: schema migrations owned by the project, idempotent writes.

Migrations are the plain SQL files in ``migrations/`` (``NNN_name.sql``), applied in order, each
in its own transaction, recorded in ``dwell_schema_migrations``; an advisory lock lets two
collectors start at once. A plain folder of SQL beats a migration tool here: two files, no
downgrade story needed, and an owner's DBA can read exactly what runs.

``store`` writes a batch in one transaction: a record whose id is already there is skipped
(a resend, or a redelivery after a collector died before its ack), and only new records move
the hourly roll-up, so counts stay exact however often an event arrives.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from importlib import resources
from typing import Any

from edge.fleet.validate import Accepted

log = logging.getLogger("dwell.collect")
LOCK_KEY = 0x6477656C6C  # "dwell": serialises migrations of several collectors


class DatabaseError(RuntimeError):
    """The database cannot be used; one line that says why (login, schema, unreachable)."""


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped, in order."""
    folder = resources.files("edge.fleet") / "migrations"
    out = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            out.append((version, entry.name, entry.read_text(encoding="utf-8")))
    return out


def connect(url: str) -> Any:
    """A psycopg connection; DatabaseError with the server's own first line on failure."""
    try:
        import psycopg
    except ImportError:
        raise DatabaseError("dwell collect needs psycopg: pip install 'dwell-sensor[fleet]'"
                            ) from None
    try:
        # hours of the roll-up are UTC hours, whatever the server's time zone
        return psycopg.connect(url, connect_timeout=5, autocommit=True,
                               options="-c TimeZone=UTC")
    except psycopg.Error as exc:
        raise DatabaseError(f"cannot connect to the database: {_first_line(exc)}") from None


def migrate(conn: Any) -> list[str]:
    """Applies the migrations this database has not seen; their names."""
    import psycopg

    applied: list[str] = []
    try:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
            conn.execute("CREATE TABLE IF NOT EXISTS dwell_schema_migrations ("
                         "version integer PRIMARY KEY, name text NOT NULL, "
                         "applied_at timestamptz NOT NULL DEFAULT now())")
            done = {row[0] for row in conn.execute(
                "SELECT version FROM dwell_schema_migrations")}
            for version, name, sql in migrations():
                if version in done:
                    continue
                conn.execute(sql)
                conn.execute("INSERT INTO dwell_schema_migrations (version, name) "
                             "VALUES (%s, %s)", (version, name))
                applied.append(name)
    except psycopg.Error as exc:
        raise DatabaseError(f"the database refused the schema: {_first_line(exc)}") from None
    return applied


HOURLY = {  # kind -> the roll-up columns one new record adds to
    "visit": "visits = dwell_hourly.visits + %(visitor)s, "
             "staff_visits = dwell_hourly.staff_visits + %(staff)s, "
             "dwell_s_sum = dwell_hourly.dwell_s_sum + %(dwell)s, "
             "entered = dwell_hourly.entered + %(entered)s, "
             "exited = dwell_hourly.exited + %(exited)s",
    "ping": "pings = dwell_hourly.pings + 1",
    "ack": "acks = dwell_hourly.acks + 1, ack_s_sum = dwell_hourly.ack_s_sum + %(after)s",
    "attended": "attended = dwell_hourly.attended + 1, "
                "attended_s_sum = dwell_hourly.attended_s_sum + %(after)s",
    "held": "held = dwell_hourly.held + 1",
}


def store(conn: Any, records: Sequence[Accepted]) -> int:
    """Writes ``records`` in one transaction; how many were new. Raises psycopg errors (the
    caller retries the whole batch: nothing of it was committed)."""
    from psycopg.types.json import Jsonb

    new = 0
    # one lock order for every collector: two batches touching the same hours cannot deadlock
    ordered = sorted(records, key=lambda r: (r.store, r.camera, r.at.replace(
        minute=0, second=0, microsecond=0), r.id))
    with conn.transaction():
        for rec in ordered:
            row = conn.execute(
                "INSERT INTO dwell_record (id, kind, store, camera, at, payload) "
                "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING RETURNING id",
                (rec.id, rec.kind, rec.store, rec.camera, rec.at, Jsonb(rec.payload)),
            ).fetchone()
            if row is None:
                continue  # seen before: stored once
            new += 1
            values = _hourly_values(rec)
            conn.execute(
                "INSERT INTO dwell_hourly (store, camera, hour) VALUES (%(store)s, "
                "%(camera)s, date_trunc('hour', %(at)s::timestamptz)) ON CONFLICT DO NOTHING",
                values)
            conn.execute(
                f"UPDATE dwell_hourly SET {HOURLY[rec.kind]} WHERE store = %(store)s AND "
                "camera = %(camera)s AND hour = date_trunc('hour', %(at)s::timestamptz)",
                values)
    return new


def _hourly_values(rec: Accepted) -> dict[str, Any]:
    staff = bool(rec.payload.get("staff"))
    return {"store": rec.store, "camera": rec.camera, "at": rec.at,
            "visitor": int(not staff), "staff": int(staff),
            "dwell": 0.0 if staff else rec.number("dwell_s"),
            "entered": int(bool(rec.payload.get("entered"))),
            "exited": int(bool(rec.payload.get("exited"))),
            "after": rec.number("after_s")}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


EXPORT_COLUMNS = ("store", "camera", "hour", "visits", "staff_visits", "dwell_s_mean",
                  "entered", "exited", "pings", "acks", "ack_s_mean", "attended",
                  "attended_s_mean", "held")


def hourly_rows(conn: Any, days: int) -> list[tuple[Any, ...]]:
    """The roll-up of the last ``days`` days, per shop, camera and UTC hour (EXPORT_COLUMNS)."""
    return list(conn.execute(
        "SELECT store, camera, hour, visits, staff_visits, "
        "CASE WHEN visits > 0 THEN round((dwell_s_sum / visits)::numeric, 1) END, "
        "entered, exited, pings, acks, "
        "CASE WHEN acks > 0 THEN round((ack_s_sum / acks)::numeric, 1) END, attended, "
        "CASE WHEN attended > 0 THEN round((attended_s_sum / attended)::numeric, 1) END, held "
        "FROM dwell_hourly WHERE hour >= now() - make_interval(days => %s) "
        "ORDER BY store, camera, hour", (days,)).fetchall())
