"""`dwell bench` through the real CLI: what it reports (not how fast: that is bench's job)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from tests.conftest import REPO, model_file, shared_file


def dwell(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], capture_output=True,
                          text=True, cwd=REPO, env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.perception
def test_bench_json_on_real_footage() -> None:
    video = shared_file("footage/TUD-Campus/TUD-Campus.mp4")
    models_dir = model_file("yolox_nano.onnx").parent
    done = dwell("bench", str(video), "--json", "--model", "yolox-nano", "--input-size", "320",
                 env={"DWELL_MODELS_DIR": str(models_dir), "DWELL_YAW__ENABLED": "false"})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    for key in ("fps", "fps_serial", "detector_only_fps", "idle_fps", "rss_mb"):
        assert isinstance(result[key], float) and result[key] > 0, key
    assert {"motion", "detect", "track"} <= set(result["stage_ms"])
    assert result["stage_ms"]["detect"] > 0
    assert (result["frames"], result["size"], result["model"]) == (71, [640, 480], "yolox-nano")
    assert result["input_size"] == 320
    assert result["detector_runs"] >= 60  # people walk through nearly every frame
    assert result["idle_detector_runs"] <= 5  # still scene: first look + ~1 redetect a second
    assert "detector only" in done.stdout and "peak RSS" in done.stdout


def test_bench_on_a_file_that_is_not_a_video(tmp_path: Path) -> None:
    bogus = tmp_path / "clip.mp4"
    bogus.write_text("nope")
    done = dwell("bench", str(bogus))
    assert done.returncode == 2
    assert str(bogus) in done.stderr and "cannot open as a video" in done.stderr


def test_bench_without_the_model_says_how_to_install(tmp_path: Path) -> None:
    video = tmp_path / "v.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 48))
    for _ in range(3):
        writer.write(np.zeros((48, 64, 3), np.uint8))
    writer.release()
    done = dwell("bench", str(video), "--model", "yolox-nano",
                 env={"DWELL_MODELS_DIR": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)})
    assert done.returncode == 1
    assert "dwell models install yolox-nano" in done.stderr


@pytest.mark.perception
def test_bench_runtimes_measures_every_runtime_on_the_same_frames() -> None:
    video = shared_file("footage/TUD-Campus/TUD-Campus.mp4")
    models_dir = model_file("yolox_nano.onnx").parent
    done = dwell("bench", str(video), "--json", "--runtimes", "--threads", "1",
                 "--model", "yolox-nano", "--input-size", "320", "--runtime", "onnxruntime",
                 env={"DWELL_MODELS_DIR": str(models_dir), "DWELL_YAW__ENABLED": "false"})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["runtime"], result["threads"]) == ("onnxruntime", 1)
    assert set(result["runtimes"]) == {"opencv", "onnxruntime"}
    for name, m in result["runtimes"].items():
        assert 0 < m["ms_median"] <= m["ms_p90"], name
        assert m["boxes_equal"] is True, name  # same people on every frame as cv2.dnn
        assert m["fps"] > 0, name
    assert result["fps"] == result["runtimes"]["onnxruntime"]["fps"]
    for key in ("detector_only_fps", "idle_fps", "stage_ms", "rss_mb", "frames"):
        assert key in result, key


def test_bench_refuses_zero_threads() -> None:
    done = dwell("bench", "any.mp4", "--threads", "0")
    assert done.returncode != 0 and "--threads 0" in done.stderr
