"""Logging: readable lines on a terminal, one JSON object per line otherwise (journald).

OpenCV and FFmpeg write their own messages straight to file descriptor 2 from C
(``[mpeg4 @ 0x55..] Error at MB: 3``, ``[ WARN:0@0.008] global cap_v4l.cpp ...``), which
would break a journal of JSON lines. Two measures:

- quieter libraries: ``OPENCV_LOG_LEVEL=ERROR`` (OpenCV's warnings repeat what dwell says
  itself, e.g. "cannot open camera") unless the environment sets it (set it to INFO to debug);
- in JSON mode, when the process is the `dwell` command (``allow_native_routing``; never in a
  test process), fd 2 becomes a pipe: a thread reads it line by line and logs each line as a
  JSON record of logger ``dwell.native`` (at most ``NATIVE_BURST`` lines per
  ``NATIVE_WINDOW_S``, then one line saying how many were left out: a corrupt stream can emit
  hundreds a second). ``sys.stderr`` (the JSON handler, dwell's own prints) becomes a copy
  of the original fd 2; what else writes to fd 2 (C libraries, a child process) is wrapped.
  The command's final error line is then logged as a JSON record too (``routing_native``).
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sys
import threading
import time
from typing import IO, Any

_STANDARD = set(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}
NATIVE_BURST = 50  # native lines logged per window; the rest are counted
NATIVE_WINDOW_S = 10.0
_LEVELS = {"[ INFO": logging.INFO, "[ WARN": logging.WARNING, "[DEBUG": logging.DEBUG,
           "[ERROR": logging.ERROR}

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # read when cv2 loads: before any import


class JsonFormatter(logging.Formatter):
    """One object a line: ts, level, logger, msg, plus any ``extra=`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = value
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str)


class NativeStderr:
    """fd 2 as a pipe whose lines are logged; ``stream`` is the original stderr."""

    def __init__(self) -> None:
        self._original = os.dup(2)
        self.stream: IO[str] = open(self._original, "w", buffering=1, encoding="utf-8",  # noqa: SIM115
                                    errors="backslashreplace", closefd=False)
        read, write = os.pipe()
        sys.stderr.flush()
        os.dup2(write, 2)
        os.close(write)
        sys.stderr = self.stream  # Python's own writes (dwell's prints) are not wrapped
        self._log = logging.getLogger("dwell.native")
        self._window_start, self._in_window, self._left_out = 0.0, 0, 0
        self._thread = threading.Thread(target=self._pump, args=(read,), daemon=True,
                                        name="native-stderr")
        self._thread.start()
        atexit.register(self.close)

    def _pump(self, read: int) -> None:
        with open(read, "rb") as pipe:
            for raw in pipe:
                text = raw.decode("utf-8", "backslashreplace").rstrip()
                if text:
                    self.line(text, time.monotonic())
        self._flush_left_out()

    def line(self, text: str, now: float) -> None:
        if now - self._window_start >= NATIVE_WINDOW_S:
            self._flush_left_out()
            self._window_start, self._in_window = now, 0
        if self._in_window >= NATIVE_BURST:
            self._left_out += 1
            return
        self._in_window += 1
        level = _LEVELS.get(text[:6], logging.ERROR)
        self._log.log(level, "%s", text, extra={"native": True})

    def _flush_left_out(self) -> None:
        if self._left_out:
            self._log.warning("%d more native (OpenCV/FFmpeg) stderr lines left out (at most "
                              "%d a %.0f s window)", self._left_out, NATIVE_BURST,
                              NATIVE_WINDOW_S, extra={"native": True})
            self._left_out = 0

    def close(self) -> None:
        """Puts the original fd 2 back (ending the pipe) and logs what is still in it."""
        sys.stderr.flush()
        os.dup2(self._original, 2)
        self._thread.join(1.0)


_native: NativeStderr | None = None
_routing_allowed = False


def routing_native() -> bool:
    """fd 2 is routed through the JSON log (then a command's error is logged, not printed)."""
    return _native is not None


def allow_native_routing() -> None:
    """The `dwell` command's entry point: this process may take over fd 2 (see above)."""
    global _routing_allowed
    _routing_allowed = True


def setup_logging(level: str = "INFO", json_logs: bool | None = None) -> None:
    """Configure the root logger once; ``json_logs=None`` picks JSON when stderr is no TTY."""
    global _native
    use_json = (not sys.stderr.isatty()) if json_logs is None else json_logs
    if use_json and _routing_allowed and _native is None:
        _native = NativeStderr()
    handler = logging.StreamHandler(_native.stream if _native is not None else sys.stderr)
    if use_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s",
                                               "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
