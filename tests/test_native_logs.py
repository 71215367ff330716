"""OpenCV's and FFmpeg's own stderr lines do not break the one-JSON-object-per-line log.

The real CLI on videos FFmpeg complains about (made here: a truncated MP4, and an MP4 and an
MJPEG AVI with bytes overwritten), `dwell replay` and `dwell run` against a real broker.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.broker import Mosquitto
from tests.conftest import REPO


def clip(path: Path, fourcc: str) -> bytes:
    rng = np.random.default_rng(0)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0, (320, 240))
    for _ in range(40):
        writer.write(rng.integers(0, 255, (240, 320, 3), dtype=np.uint8))
    writer.release()
    return path.read_bytes()


def mangled(data: bytes, seed: int, step: int) -> bytes:
    chosen = random.Random(seed)
    out = bytearray(data)
    for k in range(len(out) // 10, len(out) * 9 // 10, step):
        out[k] = chosen.randrange(256)
    return bytes(out)


@pytest.fixture(scope="module")
def bad_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-videos")
    mp4, avi = clip(folder / "good.mp4", "mp4v"), clip(folder / "good.avi", "MJPG")
    videos = {"truncated.mp4": mp4[: len(mp4) // 2], "mangled.mp4": mangled(mp4, 1, 97),
              "mangled.avi": mangled(avi, 1, 211)}
    for name, data in videos.items():
        (folder / name).write_bytes(data)
    return {name: folder / name for name in videos}


def dwell(tmp_path: Path, *args: str, port: int = 1) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    env.update({"DWELL_LOG__JSON": "true", "DWELL_YAW__ENABLED": "false",
                "DWELL_STATE_DIR": str(tmp_path / "state"), "DWELL_MQTT__PORT": str(port),
                "DWELL_STORE": f"native{port}"})
    if "DWELL_MODELS_DIR" in os.environ:
        env["DWELL_MODELS_DIR"] = os.environ["DWELL_MODELS_DIR"]
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, env=env, cwd=REPO, timeout=120)


def records(stderr: str) -> list[dict[str, object]]:
    lines = stderr.splitlines()
    assert lines, "nothing logged"
    for line in lines:
        try:
            json.loads(line)
        except json.JSONDecodeError:
            raise AssertionError(f"not a JSON line: {line!r}\nin:\n{stderr}") from None
    return [json.loads(line) for line in lines]


@pytest.mark.parametrize("name", ["truncated.mp4", "mangled.mp4", "mangled.avi"])
def test_replay_of_a_bad_video_logs_only_json(bad_videos: dict[str, Path], name: str,
                                              tmp_path: Path) -> None:
    result = dwell(tmp_path, "replay", str(bad_videos[name]), "--out",
                   str(tmp_path / "events.jsonl"))
    logged = records(result.stderr)
    native = [r for r in logged if r["logger"] == "dwell.native"]
    assert native, f"FFmpeg said nothing about {name}? {logged}"  # the test reaches FFmpeg
    if name == "truncated.mp4":
        assert result.returncode == 2
        assert any("moov atom not found" in str(r["msg"]) for r in native)
        assert any("cannot open as a video" in str(r["msg"]) for r in logged)
    else:
        assert result.returncode == 0, result.stderr


@pytest.mark.broker
def test_run_on_a_bad_video_logs_only_json(bad_videos: dict[str, Path], tmp_path: Path,
                                           mosquitto: Mosquitto) -> None:
    result = dwell(tmp_path, "run", "--source", str(bad_videos["mangled.mp4"]),
                   "--no-realtime", port=mosquitto.port)
    assert result.returncode == 0, result.stderr
    logged = records(result.stderr)
    assert any(r["logger"] == "dwell.native" for r in logged)
    assert any("processing ended" in str(r["msg"]) for r in logged)
    # a burst of decoder errors is capped, and the cap says how many it left out
    native = [r for r in logged if r["logger"] == "dwell.native"]
    assert len(native) <= 51
