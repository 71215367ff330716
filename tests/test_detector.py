"""Person detectors on real footage (YOLOX from $DWELL_MODELS_DIR, SSDLite vendored)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config.settings import load_settings
from edge.perception.detector import SsdDetector, YoloxDetector, _nms, load_detector
from edge.perception.models import VENDORED_MODELS, ModelError
from tests.conftest import model_file, shared_file

pytestmark = pytest.mark.perception


def first_frame_and_gt() -> tuple[np.ndarray, np.ndarray]:
    seq = shared_file("footage/TUD-Stadtmitte")
    ok, image = cv2.VideoCapture(str(seq / "TUD-Stadtmitte.mp4")).read()
    assert ok
    gt = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",")
    boxes = gt[gt[:, 0] == 1][:, 2:6].copy()
    boxes[:, 2:] += boxes[:, :2]
    return image, boxes


def matched(pred: np.ndarray, gt: np.ndarray, iou: float = 0.5) -> int:
    """Ground-truth boxes that some prediction overlaps by at least ``iou``."""
    tl = np.maximum(gt[:, None, :2], pred[None, :, :2])
    br = np.minimum(gt[:, None, 2:], pred[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area = lambda b: np.prod(b[:, 2:] - b[:, :2], axis=1)  # noqa: E731
    union = area(gt)[:, None] + area(pred)[None, :] - inter
    return int(np.sum((inter / union).max(axis=1) >= iou)) if len(pred) else 0


@pytest.mark.parametrize("size", [416, 320])
def test_yolox_finds_the_people_of_the_first_frame(size: int) -> None:
    image, gt = first_frame_and_gt()
    det = YoloxDetector(model_file("yolox_nano.onnx"), size, score_threshold=0.4)
    found = det.detect(image)
    assert found.xyxy.dtype == np.float32 and np.all(np.isnan(found.yaw))
    assert matched(found.xyxy, gt) >= len(gt) - 2  # 7 people; two are half hidden
    assert len(found) <= len(gt) + 1
    assert np.all(found.xyxy[:, 2:] > found.xyxy[:, :2])
    assert np.all((found.xyxy >= 0) & (found.xyxy <= [640, 480, 640, 480]))


def test_vendored_ssdlite_finds_people_without_any_download() -> None:
    image, gt = first_frame_and_gt()
    pb = VENDORED_MODELS / "ssdlite_pedestrian.pb"
    det = SsdDetector(pb, pb.with_suffix(".pbtxt"), score_threshold=0.4)
    found = det.detect(image)
    assert matched(found.xyxy, gt) >= 4
    assert len(found) <= len(gt) + 1


def test_nobody_in_a_blank_picture() -> None:
    det = YoloxDetector(model_file("yolox_nano.onnx"), 416)
    assert len(det.detect(np.full((480, 640, 3), 128, np.uint8))) == 0


def test_letterbox_maps_boxes_back_for_any_aspect_ratio() -> None:
    """The same people, padded to a tall picture, come out at the same place."""
    image, _ = first_frame_and_gt()
    det = YoloxDetector(model_file("yolox_nano.onnx"), 416)
    tall = np.full((900, 640, 3), 114, np.uint8)
    tall[:480] = image
    a, b = det.detect(image), det.detect(tall)
    assert matched(b.xyxy, a.xyxy, iou=0.7) >= len(a) - 1


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 20], [1, 0, 11, 20], [50, 50, 60, 70]], np.float32)
    kept = _nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.4, 0.45)
    assert kept.xyxy.tolist() == [[0, 0, 10, 20], [50, 50, 60, 70]]
    assert len(_nms(boxes, np.array([0.3, 0.2, 0.1], np.float32), 0.4, 0.45)) == 0


def test_load_detector_without_the_model_says_how_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("DWELL_MODELS_DIR", raising=False)
    settings = load_settings(None, models_dir=tmp_path, detector={"model": "yolox-nano"})
    with pytest.raises(ModelError, match="dwell models install yolox-nano"):
        load_detector(settings.detector, settings.models_dir)


def test_ssdlite_loads_from_the_repo_with_an_empty_models_dir(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    settings = load_settings(None, models_dir=tmp_path, detector={"model": "ssdlite-pedestrian"})
    assert isinstance(load_detector(settings.detector, settings.models_dir), SsdDetector)
