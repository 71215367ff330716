"""Shared fixtures: a real mosquitto broker, paths to ../shared models and footage."""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.broker import Mosquitto

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DWELL_SHARED", REPO.parent / "shared"))
FOOTAGE = SHARED / "footage"


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    """One broker for the whole session; tests must use unique topics or client ids."""
    broker = Mosquitto(tmp_path_factory.mktemp("mosquitto")).start()
    yield broker
    broker.stop()


@pytest.fixture
def broker_factory(tmp_path: Path) -> Iterator[Callable[..., Mosquitto]]:
    """Start brokers of this test's own (to stop, kill, restart); all stopped at teardown."""
    started: list[Mosquitto] = []

    def make(extra_config: str = "", anonymous: bool = True, start: bool = True,
             port: int | None = None) -> Mosquitto:
        workdir = tmp_path / f"broker{len(started)}"
        workdir.mkdir()
        broker = Mosquitto(workdir, extra_config, port=port, anonymous=anonymous)
        started.append(broker)
        return broker.start() if start else broker

    yield make
    for broker in started:
        broker.kill()


def shared_file(relative: str) -> Path:
    """A file under ../shared, or skip the test saying what is missing."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"{path} is absent (real footage/models live in ../shared, not in the repo)")
    return path


def model_file(name: str) -> Path:
    """A model in $DWELL_MODELS_DIR (CI points it at ../shared/models), or skip."""
    models_dir = os.environ.get("DWELL_MODELS_DIR")
    candidates = [Path(models_dir)] if models_dir else []
    candidates.append(SHARED / "models")
    for folder in candidates:
        if (folder / name).exists():
            return folder / name
    pytest.skip(f"model {name} not found in $DWELL_MODELS_DIR or ../shared/models")


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    """A real unix datagram socket standing in for systemd's NOTIFY_SOCKET: (socket, path)."""
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(20)
    yield sock, path
    sock.close()
