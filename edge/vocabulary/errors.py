"""Errors that carry a message fit for the user: what input, where, and what is wrong."""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Malformed input (trace, MOT file, video); the message names the file and line."""

    def __init__(self, message: str, path: str | Path | None = None,
                 line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(where + message)
        self.path = path
        self.line = line
