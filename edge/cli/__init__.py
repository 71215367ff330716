"""The `dwell` command line: each module has ``register(subparsers)`` setting ``func``."""

from collections.abc import Sequence

from edge.cli.main import main as _main
from edge.service.logs import allow_native_routing


def main(argv: Sequence[str] | None = None) -> int:
    """The `dwell` command (console script, ``python -m edge.cli``): as ``edge.cli.main.main``,
    and in JSON logging mode OpenCV's and FFmpeg's stderr lines become JSON records too."""
    allow_native_routing()
    return _main(argv)


__all__ = ["main"]
