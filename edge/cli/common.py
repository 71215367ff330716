"""What every subcommand needs: the settings (with a clean error) and logging."""

from __future__ import annotations

import argparse
from typing import Any

from edge.config.settings import Settings, load_settings
from edge.service.logs import setup_logging

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2


class CommandError(Exception):
    """A failure to report as one line on stderr and an exit code, without a traceback.

    The one handler in ``edge.cli.main`` prints it as ``dwell COMMAND: message``; ``command``
    names a sub-action when the message is about one (``models install``).
    """

    def __init__(self, message: str, code: int = EXIT_FAILURE,
                 command: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.command = command


def load(args: argparse.Namespace, config_path: str | None = None,
         **overrides: Any) -> Settings:
    """Settings for this invocation (``config_path``, else --config), logging configured.
    A bad key raises ``ConfigError``, which the CLI's one handler reports (exit 2)."""
    settings = load_settings(config_path or getattr(args, "config", None), **overrides)
    level = getattr(args, "log_level", None) or settings.log.level
    setup_logging(level, settings.log.json_logs)
    return settings
