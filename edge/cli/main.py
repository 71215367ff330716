"""The `dwell` command line: one subcommand per capability, each in edge/cli/.

argparse (stdlib) rather than typer: no extra dependency on the Pi, and subcommands
register themselves from their own modules without decorators reaching across files.
Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from edge import __version__

# Each module has register(subparsers); order is the order `dwell --help` lists them.
COMMAND_MODULES = [
    "run", "replay", "record", "watch", "models", "config", "demo", "bench", "bridge", "zones",
    "console",
    "collect",
]

log = logging.getLogger("dwell")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dwell",
        description="Taps a shop assistant's watch when a visitor plausibly wants help.",
    )
    parser.add_argument("--version", action="version", version=f"dwell {__version__}")
    parser.add_argument(
        "--config", metavar="FILE",
        help="TOML config (default: $DWELL_CONFIG, else ./config/dwell.toml)",
    )
    parser.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                        help="overrides [log] level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"edge.cli.{name.replace('-', '_')}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from edge.cli.common import EXIT_USAGE, CommandError
    from edge.config.settings import ConfigError
    from edge.vocabulary.errors import InputError

    name = " ".join(filter(None, (args.command, getattr(args, "kind", None))))  # bridge ntfy
    try:
        code = int(args.func(args) or 0)
    except CommandError as exc:
        code = _report(f"dwell {exc.command or name}: {exc}", exc.code)
    except ConfigError as exc:
        code = _report(f"dwell: invalid configuration:\n{exc}", EXIT_USAGE)
    except InputError as exc:
        code = _report(f"dwell {name}: {exc}", EXIT_USAGE)
    except KeyboardInterrupt:
        code = 130
    return code


def _report(message: str, code: int) -> int:
    """The one line a failed command leaves: a JSON record when the log is JSON lines."""
    from edge.service.logs import routing_native

    if routing_native():
        log.error("%s", message, extra={"exit_code": code})
    else:
        print(message, file=sys.stderr)
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
