"""Detector runtimes: the same boxes from every runtime on real footage, auto's measured and
cached choice, and a clear error for a runtime that is not installed."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config.settings import load_settings
from edge.perception import runtimes
from edge.perception.detector import YoloxDetector, load_detector
from edge.perception.runtimes import RuntimeUnavailable
from edge.vocabulary.types import Detections
from tests.conftest import model_file, shared_file


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return np.asarray(inter / (area(a)[:, None] + area(b)[None, :] - inter))


def same_boxes(a: Detections, b: Detections) -> bool:
    if len(a) != len(b):
        return False
    return len(a) == 0 or bool(np.all(iou(a.xyxy, b.xyxy).max(axis=1) >= 0.9))


@pytest.mark.perception
@pytest.mark.parametrize("size", [416, 320])
def test_every_runtime_gives_the_reference_boxes_on_tud(size: int) -> None:
    model = model_file("yolox_nano.onnx")
    video = shared_file("footage/TUD-Stadtmitte") / "TUD-Stadtmitte.mp4"
    dets = {n: YoloxDetector(model, size, runtime=n)
            for n in runtimes.available(model, size)}
    assert "onnxruntime" in dets  # a dependency: it must be installed with dwell
    cap = cv2.VideoCapture(str(video))
    frames, people = 0, 0
    while frames < 60:
        ok, image = cap.read()
        if not ok:
            break
        ref = dets["opencv"].detect(image)
        for name, det in dets.items():
            found = det.detect(image)
            assert same_boxes(ref, found), (name, frames)
            assert np.allclose(found.score, ref.score, atol=1e-3)
        frames, people = frames + 1, people + len(ref)
    assert frames == 60 and people > 200


def test_a_named_runtime_that_is_not_installed_says_so(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if absent
    assert runtimes.available() == ["opencv"]
    with pytest.raises(RuntimeUnavailable, match=r"onnxruntime is not installed.*pip install"):
        runtimes.make("onnxruntime", Path("any.onnx"), 1, 416)


def test_ssdlite_refuses_a_runtime_it_cannot_run(tmp_path: Path) -> None:
    s = load_settings(None, detector={"model": "ssdlite-pedestrian", "runtime": "onnxruntime"})
    with pytest.raises(RuntimeUnavailable, match=r"only cv2\.dnn runs"):
        load_detector(s.detector, tmp_path)


def test_an_unknown_runtime_is_refused_by_the_config() -> None:
    with pytest.raises(Exception, match="runtime"):
        load_settings(None, detector={"runtime": "tensorrt"})


@pytest.mark.perception
def test_auto_measures_once_then_reads_its_cache(tmp_path: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    model = model_file("yolox_nano.onnx")
    caplog.set_level(logging.INFO, logger="edge.perception.runtimes")
    first = runtimes.choose(model, 320, 1, tmp_path)
    assert first in runtimes.available(model, 320)
    assert "auto: median of" in caplog.text and "opencv" in caplog.text
    cached = json.loads((tmp_path / runtimes.CACHE_FILE).read_text())
    assert cached["runtime"] == first and cached["key"]["input_size"] == 320
    caplog.clear()
    assert runtimes.choose(model, 320, 1, tmp_path) == first
    assert "measured earlier" in caplog.text
    # another thread count is another measurement
    caplog.clear()
    runtimes.choose(model, 320, 2, tmp_path)
    assert "auto: median of" in caplog.text


def test_threads_default_to_every_core_but_the_pipelines(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(None).detector.threads is None
    monkeypatch.setattr(runtimes.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    assert runtimes.default_threads() == 3  # a Pi 4: three for the network, one for the rest
    monkeypatch.setattr(runtimes.os, "sched_getaffinity", lambda pid: {0})
    assert runtimes.default_threads() == 1


@pytest.mark.perception
def test_ncnn_conversion_at_install_gives_the_reference_boxes(tmp_path: Path) -> None:
    pytest.importorskip("ncnn", reason="ncnn is optional (pip install ncnn pnnx)")
    from edge.perception import ncnn_model

    if ncnn_model.pnnx_command() is None:
        pytest.skip("pnnx is optional (pip install pnnx)")
    model = tmp_path / "yolox_nano.onnx"
    model.write_bytes(model_file("yolox_nano.onnx").read_bytes())
    video = shared_file("footage/TUD-Stadtmitte") / "TUD-Stadtmitte.mp4"
    for size in (416, 320):
        param, weights = ncnn_model.convert(model, size)
        assert (param, weights) == ncnn_model.files(model, size) and weights.is_file()
        assert "ncnn" in runtimes.available(model, size)
        ref, ncnn = (YoloxDetector(model, size, runtime=n) for n in ("opencv", "ncnn"))
        cap = cv2.VideoCapture(str(video))
        for k in range(20):
            ok, image = cap.read()
            assert ok
            assert same_boxes(ref.detect(image), ncnn.detect(image)), (size, k)
    assert not list(tmp_path.glob(".*.part"))  # nothing half-written left behind


def test_ncnn_without_its_conversion_says_how_to_make_it(tmp_path: Path) -> None:
    pytest.importorskip("ncnn", reason="ncnn is optional (pip install ncnn pnnx)")
    with pytest.raises(RuntimeUnavailable, match=r"dwell models install yolox-nano"):
        runtimes.make("ncnn", tmp_path / "yolox_nano.onnx", 1, 416)
    assert "ncnn" not in runtimes.available(tmp_path / "yolox_nano.onnx", 416)


def test_an_unknown_graph_is_not_cut_as_if_it_had_a_focus_layer() -> None:
    from edge.perception.ncnn_model import NcnnUnavailable, without_focus

    param = "7767517\n3 3\nInput in0 0 1 in0\nConvolution c 1 1 in0 a 0=16\nSwish s 1 1 a out0\n"
    with pytest.raises(NcnnUnavailable, match="unexpected start"):
        without_focus(param)
