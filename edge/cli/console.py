"""`dwell console`: the owner's console on recorded traces, without a camera.

    dwell console --trace day.trace.jsonl            one recorded trace, played live
    dwell --config shop.toml console                 the rolling traces in state_dir
    dwell console --listen 0.0.0.0:8788              reachable from the shop's LAN

Serves until Ctrl-C. Needs ``[console] password`` (or DWELL_CONSOLE__PASSWORD); saves go to
the config file (--config). `dwell run` serves the same console when ``[console] listen`` is set.
"""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from edge.cli.common import EXIT_OK, EXIT_USAGE, CommandError, load
from edge.cli.replay import positive
from edge.config.console import split_listen
from edge.config.settings import resolve_config_path

DEFAULT_LISTEN = "127.0.0.1:8788"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "console", help="the owner's web console on recorded traces (no camera)",
        description="Serves the console: the live floor (a trace played at real time), the "
        "report, thresholds, zones and what-if.")
    parser.add_argument("--trace", type=Path, metavar="FILE",
                        help="a dwell trace to show (default: the newest in state_dir/trace)")
    parser.add_argument("--config", dest="console_config", metavar="FILE",
                        help="config file (same as dwell --config); the console saves to it")
    parser.add_argument("--listen", metavar="HOST:PORT",
                        help=f"address to serve on (default: [console] listen, else "
                        f"{DEFAULT_LISTEN})")
    parser.add_argument("--speed", type=positive, default=1.0, metavar="X",
                        help="play the trace at X times real time (default 1)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.console.server import ConsoleError
    from edge.service.console_host import TraceConsole

    config = args.console_config or args.config
    settings = load(args, config_path=config)
    listen = args.listen or settings.console.listen or DEFAULT_LISTEN
    try:
        address = split_listen(listen)
    except ValueError as exc:
        raise CommandError(f"--listen: {exc}", EXIT_USAGE) from None
    if args.trace is not None and not args.trace.is_file():
        raise CommandError(f"{args.trace}: no such trace file", EXIT_USAGE)
    try:
        host = TraceConsole(settings, address, trace=args.trace,
                            config_path=resolve_config_path(config), speed=args.speed)
    except (ConsoleError, KeyError) as exc:
        raise CommandError(str(exc.args[0]) if exc.args else str(exc), EXIT_USAGE) from None
    print(f"console: {host.url} (Ctrl-C to stop)", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        host.close()
    return EXIT_OK
