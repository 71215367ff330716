"""The `dwell` command line: each module has ``register(subparsers)`` setting ``func``."""

from edge.cli.main import main

__all__ = ["main"]
