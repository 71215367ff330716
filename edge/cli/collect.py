"""`dwell collect`: the chain's central collector (edge/fleet/collector.py, docs/fleet.md)."""

from __future__ import annotations

import argparse
import csv
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from edge.cli.common import EXIT_OK, EXIT_USAGE, CommandError, load


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "collect", help="store every shop's visits, pings and acks in PostgreSQL (the centre)",
        description="Subscribes to <prefix>/+/+/events on the central broker ([mqtt]) with a "
        "shared subscription ([collect] group) and writes each record once to the database "
        "([collect] database_url). Needs psycopg: pip install 'dwell-sensor[fleet]'.",
    )
    parser.add_argument("--client-id", help="MQTT client id of this collector (overrides "
                        "collect.client_id; each collector of a group needs its own)")
    parser.add_argument("--migrate-only", action="store_true",
                        help="apply the database schema and exit")
    parser.add_argument("--export", type=Path, metavar="CSV",
                        help="write the hourly roll-up per shop (visits, dwell, pings, "
                        "response times) to CSV ('-': stdout) and exit")
    parser.add_argument("--days", type=int, default=7, metavar="N",
                        help="with --export: the last N days (default 7)")
    parser.add_argument("--count", type=int, metavar="N",
                        help="exit after N new records were stored (scripts and tests)")
    parser.add_argument("--timeout", type=float, metavar="S",
                        help="exit after S seconds without any event")
    parser.set_defaults(func=run)


def _export(db: Any, path: Path, days: int) -> None:
    from edge.fleet.database import EXPORT_COLUMNS, hourly_rows

    rows = hourly_rows(db, days)
    out = sys.stdout if str(path) == "-" else path.open("w", newline="", encoding="utf-8")
    try:
        writer = csv.writer(out)
        writer.writerow(EXPORT_COLUMNS)
        for row in rows:
            writer.writerow([v.isoformat() if hasattr(v, "isoformat") else v for v in row])
    finally:
        if out is not sys.stdout:
            out.close()
    if out is not sys.stdout:
        print(f"dwell collect: {len(rows)} hour(s) written to {path}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    from edge.delivery.mqtt import MqttError
    from edge.fleet.collector import Collector
    from edge.fleet.database import DatabaseError

    settings = load(args)
    try:
        collector = Collector(settings, client_id=args.client_id)
    except DatabaseError as exc:
        code = EXIT_USAGE if settings.collect.database_url is None else 1
        raise CommandError(str(exc), code) from None
    except (MqttError, OSError) as exc:
        raise CommandError(str(exc)) from None
    if args.migrate_only or args.export is not None:
        if args.export is not None:
            _export(collector.db, args.export, args.days)
        collector.close()
        if args.migrate_only:
            print("dwell collect: the database schema is up to date", file=sys.stderr)
        return EXIT_OK
    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        collector.stop()  # systemctl stop: finish the batch in hand, print counts, exit 0

    signal.signal(signal.SIGTERM, on_sigterm)
    collector.start()
    print(f"dwell collect: {collector.topic} -> the database, as {collector.client_id}",
          file=sys.stderr, flush=True)
    try:
        collector.run(count=args.count, timeout=args.timeout)
    finally:
        collector.close()
        print(f"dwell collect: {dict(collector.counts)}", file=sys.stderr, flush=True)
    return EXIT_OK
