"""`dwell run` with ``[console] listen``: the real CLI, a real mosquitto, a made video. The console
answers while the sensor runs; its save reloads the sensor exactly as SIGHUP does; the camera
snapshot is a JPEG sent with no-store and never written anywhere."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.demo.mosquitto import free_port
from tests.broker import Mosquitto
from tests.clips import make_video
from tests.console_helpers import PASSWORD, Client
from tests.test_run_cmd import start, write_config

pytestmark = pytest.mark.broker


def files_under(*roots: Path) -> set[Path]:
    return {p for root in roots for p in root.rglob("*") if p.is_file()}


def test_run_serves_the_console_and_its_save_reloads_the_sensor(
        tmp_path: Path, broker_factory: Callable[..., Mosquitto]) -> None:
    broker = broker_factory()
    video = make_video(tmp_path / "clip.avi", frames=40)
    port = free_port()
    config = write_config(tmp_path / "dwell.toml", broker.port, tmp_path / "state",
                          f'[console]\nlisten = "127.0.0.1:{port}"\npassword = "{PASSWORD}"\n')
    proc, log = start(["--config", str(config), "run", "--source", str(video), "--loop"],
                      tmp_path)
    client = Client(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if client.get("/healthz").status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        assert client.login().status == 303, log.read_text()
        client.get("/api/state")  # a viewer: the floor starts reading the sensor
        deadline = time.monotonic() + 10
        health: dict[str, object] = {}
        while time.monotonic() < deadline and not health.get("broker_connected"):
            time.sleep(0.3)
            health = client.get("/api/state").json()["health"]
        assert health["mode"] == "live" and health["camera_ok"] is True, health
        assert health["broker_connected"] is True and health["outbox"] == 0

        before = files_under(tmp_path)
        snap = client.get("/api/snapshot")
        assert snap.status == 200 and snap.body[:2] == b"\xff\xd8"  # a JPEG
        assert snap.headers["cache-control"] == "no-store"
        assert files_under(tmp_path) - before <= {tmp_path / "dwell.log"}

        res = client.post_json("/api/config", {"zones": [
            {"name": "desk", "kind": "help_point", "polygon": [[0.5, 0.5], [1, 0.5], [1, 1]]}]})
        assert res.status == 200, res.body
        deadline = time.monotonic() + 10
        while "reloaded thresholds" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "reloaded thresholds and zones (1 zones)" in log.read_text()
        assert (tmp_path / "dwell.toml.bak").is_file()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_run_refuses_a_console_without_a_password(tmp_path: Path) -> None:
    config = write_config(tmp_path / "dwell.toml", 1, tmp_path / "state",
                          '[console]\nlisten = "127.0.0.1:0"\n')
    proc, log = start(["--config", str(config), "run", "--source", "x.avi"], tmp_path)
    assert proc.wait(timeout=20) == 2
    assert "console: Value error, listen is set but password is not" in log.read_text()
