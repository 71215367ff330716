"""A hung sensor (SIGSTOPped: alive, connection open, silent) is offline for the watch within
a minute, with the shipped default keepalive: the real `dwell run`, a real mosquitto."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from edge.bridges.health import HealthWatch
from edge.config.settings import Settings
from tests.broker import Mosquitto
from tests.test_run_cmd import Watcher, make_video, start, write_config

pytestmark = pytest.mark.broker
NOTICED_WITHIN_S = 60.0


def test_a_stopped_sensor_is_offline_within_a_minute(tmp_path: Path,
                                                     broker_factory: Callable[..., Mosquitto]
                                                     ) -> None:
    broker = broker_factory()
    video = make_video(tmp_path / "clip.mp4")
    config = write_config(tmp_path / "dwell.toml", broker.port, tmp_path / "state")
    assert "keepalive" not in config.read_text()  # the shipped default is what is tested
    watcher = Watcher(broker.port)
    health = HealthWatch()
    proc, _log = start(["--config", str(config), "run", "--source", str(video), "--loop"],
                      tmp_path)
    try:
        watcher.wait_for(lambda t, d: t.endswith("/status") and d["state"] == "online"
                         and d["camera_ok"] is True)
        watcher.messages.clear()
        stopped = time.monotonic()
        proc.send_signal(signal.SIGSTOP)
        status = watcher.wait_for(lambda t, d: t.endswith("/status")
                                  and d["state"] == "offline", timeout=NOTICED_WITHIN_S + 5)
        after = time.monotonic() - stopped
        topic = next(t for t, d in watcher.messages if d is status)
        change = health.update(topic, b'{"state": "offline", "reason": "connection lost"}')
        assert change is not None and change.health == "offline"
        assert status["reason"] == "connection lost"
        print(f"hung sensor offline after {after:.1f} s (keepalive "
              f"{Settings().mqtt.keepalive_s} s)")
        assert after <= NOTICED_WITHIN_S, f"offline only after {after:.1f} s"
        # not dead: the keepalive, not a closed socket, told the broker (no earlier than 1x)
        assert after >= Settings().mqtt.keepalive_s
    finally:
        proc.send_signal(signal.SIGCONT)
        proc.kill()
        proc.wait()
        watcher.close()
