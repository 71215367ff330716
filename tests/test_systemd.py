"""sd_notify over a real unix datagram socket, filesystem and abstract."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from edge.service.systemd import Notifier


def test_ready_status_stopping_reach_a_filesystem_socket(notify_socket: tuple[socket.socket, str]
                                                        ) -> None:
    sock, path = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path})
    assert n.enabled
    assert n.ready("watching 1 camera")
    assert sock.recv(4096) == b"READY=1\nSTATUS=watching 1 camera"
    assert n.status("camera lost")
    assert sock.recv(4096) == b"STATUS=camera lost"
    assert n.stopping()
    assert sock.recv(4096) == b"STOPPING=1"
    n.close()


def test_abstract_socket_with_at_sign() -> None:
    name = f"dwell-test-{os.getpid()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2)
    try:
        n = Notifier({"NOTIFY_SOCKET": "@" + name})
        assert n.ready()
        assert sock.recv(4096) == b"READY=1"
    finally:
        sock.close()


def test_watchdog_pings_at_half_the_interval(notify_socket: tuple[socket.socket, str]) -> None:
    sock, path = notify_socket
    now = [100.0]
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "4000000",
                  "WATCHDOG_PID": str(os.getpid())}, clock=lambda: now[0])
    assert n.watchdog_interval_s == 2.0
    sent = []
    for step in range(11):  # 0..5 s in 0.5 s steps: pings at 0, 2, 4
        now[0] = 100.0 + step * 0.5
        sent.append(n.watchdog())
    assert sent.count(True) == 3
    assert [sock.recv(64) for _ in range(3)] == [b"WATCHDOG=1"] * 3


@pytest.mark.parametrize("env", [
    {},                                                     # not under systemd
    {"NOTIFY_SOCKET": "relative/path"},                     # not a valid address
])
def test_no_socket_is_a_quiet_no_op(env: dict[str, str]) -> None:
    n = Notifier(env)
    assert not n.enabled
    assert not n.ready()
    assert not n.watchdog()


def test_watchdog_for_another_pid_is_ignored(notify_socket: tuple[socket.socket, str]) -> None:
    _, path = notify_socket
    n = Notifier({"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000", "WATCHDOG_PID": "1"})
    assert n.watchdog_interval_s is None
    assert not n.watchdog()


def test_a_vanished_socket_does_not_raise(tmp_path: Path) -> None:
    n = Notifier({"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})
    assert n.ready() is False
