"""One `dwell run` per camera: the lock in state_dir, and the real CLI refusing a second run
while the first keeps its broker session (real mosquitto)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.service.lock import AlreadyRunning, CameraLock
from tests.broker import Mosquitto
from tests.clips import make_video
from tests.conftest import REPO
from tests.test_run_cmd import Watcher, start, write_config

HOLD = """
import sys, time
from pathlib import Path
from edge.service.lock import CameraLock
lock = CameraLock(Path(sys.argv[1]), "shop", "entrance").acquire()  # held while referenced
print("held", flush=True)
time.sleep(60)
"""


def test_second_lock_is_refused_naming_the_holder_and_free_after_release(
        tmp_path: Path) -> None:
    first = CameraLock(tmp_path / "state", "shop", "entrance").acquire()
    with pytest.raises(AlreadyRunning, match=rf"store 'shop' camera 'entrance' \(pid "
                       rf"{os.getpid()}, lock .*dwell-shop-entrance\.lock\)"):
        CameraLock(tmp_path / "state", "shop", "entrance").acquire()
    CameraLock(tmp_path / "state", "shop", "backdoor").acquire().release()  # another camera
    first.release()
    CameraLock(tmp_path / "state", "shop", "entrance").acquire().release()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], cwd=REPO,
                              stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(AlreadyRunning, match=rf"pid {holder.pid}"):
            CameraLock(tmp_path, "shop", "entrance").acquire()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(5)
    assert (tmp_path / "dwell-shop-entrance.lock").exists()  # the file stays, the lock not
    CameraLock(tmp_path, "shop", "entrance").acquire().release()


@pytest.mark.broker
def test_a_second_dwell_run_for_the_same_camera_refuses_to_start(
        tmp_path: Path, broker_factory: Callable[..., Mosquitto]) -> None:
    broker = broker_factory()
    video = make_video(tmp_path / "clip.mp4")
    config = write_config(tmp_path / "dwell.toml", broker.port, tmp_path / "state")
    watcher = Watcher(broker.port)
    first, first_log = start(["--config", str(config), "run", "--source", str(video), "--loop"],
                             tmp_path)
    try:
        watcher.wait_for(lambda t, d: t.endswith("/status") and d["state"] == "online")
        second = subprocess.run([sys.executable, "-m", "edge.cli", "--config", str(config),
                                 "run", "--source", str(video), "--loop"], cwd=tmp_path,
                                capture_output=True, text=True, timeout=60,
                                env={k: v for k, v in os.environ.items()
                                     if k != "DWELL_CONFIG"})
        time.sleep(1.0)  # had it connected, the first would have been knocked off by now
        assert first.poll() is None
        offline = [d for t, d in watcher.messages
                   if t.endswith("/status") and d["state"] == "offline"]
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(20)
        watcher.close()
    assert second.returncode == 2, second.stderr
    assert "another dwell is already running" in second.stderr
    assert f"pid {first.pid}" in second.stderr
    assert offline == []  # the first sensor's status never flapped
    assert "lost the broker" not in first_log.read_text()
