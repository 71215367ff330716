"""A private mosquitto on a free loopback port: the demo's broker, and the tests' real one.

``Mosquitto`` can be stopped, SIGKILLed and restarted on the same port (the tests use that to
test faults). Extra config lines (users, ACLs, persistence) can be given; the files it needs
live in ``workdir``. It listens on 127.0.0.1 only: nothing outside this machine reaches it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"


def installed() -> bool:
    return Path(MOSQUITTO).exists()


def port_answers(host: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout):
        return True
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_answers("127.0.0.1", port, 0.2):
            return
        time.sleep(0.01)
    raise TimeoutError(f"mosquitto did not listen on 127.0.0.1:{port} within {timeout}s")


class Mosquitto:
    """One mosquitto process; ``start`` returns once it listens (RuntimeError if it cannot)."""

    def __init__(self, workdir: Path, extra_config: str = "", port: int | None = None,
                 anonymous: bool = True) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra_config = extra_config
        self.anonymous = anonymous
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "mosquitto.log"

    def config_text(self) -> str:
        return (
            f"listener {self.port} 127.0.0.1\n"
            f"allow_anonymous {'true' if self.anonymous else 'false'}\n"
            # started as root it would drop to user mosquitto; keep file access simple
            "user root\n"
            f"{self.extra_config}\n"
        )

    def start(self) -> Mosquitto:
        if not installed():
            raise RuntimeError("mosquitto is not installed (apt-get install -y mosquitto)")
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        logfile = self.log.open("ab")
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=logfile,
                                     stderr=subprocess.STDOUT, cwd=self.workdir)
        try:
            wait_port(self.port)
        except TimeoutError:
            self.stop()
            raise RuntimeError(
                f"mosquitto failed to start: {self.log.read_text()[-2000:]}") from None
        return self

    def stop(self) -> None:
        """Graceful stop (SIGTERM): the broker saves persistence and closes sessions."""
        self._signal(signal.SIGTERM)

    def kill(self) -> None:
        self._signal(signal.SIGKILL)

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _signal(self, sig: int) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
