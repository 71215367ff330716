"""One `dwell run` per store/camera on a machine: a lock file in ``state_dir``.

Two processes for one camera share a broker client id and an outbox: at the broker each
connection closes the other's every ~2 s (status flapping, pings doubled), and both would
resend the same outbox. The second one therefore refuses to start and says which process
holds the camera.

``fcntl.flock`` on an open file: the kernel releases it when the process ends in any way
(exit, crash, SIGKILL), so a stale lock file never blocks a restart; the file itself stays
(removing it would race with a process that just opened it). It holds the pid of its owner,
for the message only.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import IO


class AlreadyRunning(Exception):
    """Another process holds this camera's lock."""


class CameraLock:
    """Held from ``acquire`` until ``release`` (or the end of the process)."""

    def __init__(self, state_dir: Path, store: str, camera: str) -> None:
        self.path = state_dir / f"dwell-{store}-{camera}.lock"
        self.store, self.camera = store, camera
        self._file: IO[str] | None = None

    def acquire(self) -> CameraLock:
        """Take the lock; AlreadyRunning (naming the holder's pid) when another has it.
        OSError when ``state_dir`` cannot hold the file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise AlreadyRunning(
                f"another dwell is already running for store {self.store!r} camera "
                f"{self.camera!r} (pid {holder}, lock {self.path}): two sensors with one "
                "broker client id knock each other off the broker. Stop it first, or give "
                "this one its own store/camera") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return self

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None
