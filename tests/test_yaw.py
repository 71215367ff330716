"""Head yaw: ROI geometry and gates (fake face detector), real models on real footage."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from edge.config.settings import load_settings
from edge.perception.models import VENDORED_MODELS, ModelError, find_model
from edge.perception.yaw import (
    GAINS,
    BlazeFaceDetector,
    Face,
    YawEstimator,
    YuNetDetector,
    _blazeface_anchors,
    head_rois,
    nose_ratio,
)
from tests.conftest import model_file, shared_file

Image = npt.NDArray[np.uint8]


class FakeFaces:
    """Returns a scripted face in every patch and keeps each patch it was shown."""

    input_size = 96

    def __init__(self, faces: list[Face] | None = None) -> None:
        self.faces = faces if faces is not None else []
        self.patches: list[Image] = []

    def detect(self, patch: Image) -> list[Face]:
        self.patches.append(patch.copy())
        return self.faces


def face(width: float, nose_dx: float = 0.0, score: float = 0.9) -> Face:
    """A face centred in a 96-px patch, eyes 0.4*width apart, nose moved by nose_dx px."""
    c, iod = 48.0, 0.4 * width
    pts = np.array([[c - iod / 2, 40], [c + iod / 2, 40], [c + nose_dx, 50]], np.float32)
    box = np.array([c - width / 2, 30, c + width / 2, 30 + width], np.float32)
    return Face(box, score, pts)


def estimator(det: object, min_face_px: float = 10) -> YawEstimator:
    return YawEstimator(det, min_face_px=min_face_px, min_score=0.5, gain=3.0)  # type: ignore[arg-type]


def test_zero_boxes_give_an_empty_array_and_no_face_search() -> None:
    det = FakeFaces([face(40)])
    out = estimator(det).estimate(np.zeros((48, 64, 3), np.uint8), np.zeros((0, 4), np.float32))
    assert out.shape == (0,) and out.dtype == np.float32
    assert det.patches == []


def test_only_the_upper_part_of_each_box_is_searched() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    boxes = np.array([[100, 50, 180, 290], [400, 200, 460, 420], [480, 0, 640, 100]], np.float32)
    for x1, y1, x2, y2 in boxes:  # the lower half of every person is bright
        image[int(y1 + (y2 - y1) / 2):int(y2) + 1, int(x1):int(x2) + 1] = 255
    det = FakeFaces()
    out = estimator(det).estimate(image, boxes)
    assert np.isnan(out).all()
    assert len(det.patches) == len(boxes)
    for patch in det.patches:
        assert patch.shape == (96, 96, 3)
        assert patch.max() == 0, "a patch reached into the lower half of a person box"
    rois = head_rois(boxes)
    h = boxes[:, 3] - boxes[:, 1]
    assert (rois[:, 1] >= boxes[:, 1] - 0.1 * h).all()
    assert (rois[:, 1] + rois[:, 2] <= boxes[:, 1] + 0.45 * h).all()
    assert (rois[:, 2] * rois[:, 2] < 0.35 * h * (boxes[:, 2] - boxes[:, 0]) + 1).all()


@pytest.mark.parametrize(("nose_dx", "sign"), [(6.0, 1), (-6.0, -1), (0.0, 0)])
def test_sign_convention_nose_towards_image_right_is_positive(nose_dx: float, sign: int) -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    out = estimator(FakeFaces([face(40, nose_dx)])).estimate(
        image, np.array([[200, 100, 300, 400]], np.float32))
    assert np.sign(out[0]) == sign


def test_nose_ratio_ignores_head_roll() -> None:
    pts = face(40, nose_dx=5).points
    angle = math.radians(25)
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    rolled = ((pts - 48) @ rot.T + 48).astype(np.float32)
    assert nose_ratio(rolled) == pytest.approx(nose_ratio(pts), abs=1e-5)
    assert nose_ratio(pts) == pytest.approx(5 / 16, abs=1e-5)


def test_faces_below_min_face_px_give_nan() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    box = np.array([[200, 100, 300, 400]], np.float32)  # head square 96 px: patch scale 1
    small = face(20, nose_dx=4)  # 20 px wide in the frame
    assert not np.isnan(estimator(FakeFaces([small]), min_face_px=16).estimate(image, box)[0])
    assert np.isnan(estimator(FakeFaces([small]), min_face_px=24).estimate(image, box)[0])


def test_low_scores_and_head_sized_faces_give_nan() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    box = np.array([[200, 100, 300, 400]], np.float32)
    assert np.isnan(estimator(FakeFaces([face(40, 4, score=0.3)])).estimate(image, box)[0])
    # A "face" filling the whole head square is a head or hood, not a face.
    assert np.isnan(estimator(FakeFaces([face(90, 4)])).estimate(image, box)[0])


def test_the_face_nearest_the_centre_line_is_the_persons() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    box = np.array([[200, 100, 300, 400]], np.float32)
    own = face(30, nose_dx=5)
    # A more confident face off to the side, its nose turned the other way.
    shift = np.array([40, 0], np.float32)
    pts = own.points + shift
    pts[2, 0] -= 10
    neighbour = Face(own.box + np.tile(shift, 2), 0.99, pts)
    out = estimator(FakeFaces([neighbour, own])).estimate(image, box)
    assert out[0] > 0


def test_blazeface_has_896_anchors_on_two_grids() -> None:
    anchors = _blazeface_anchors()
    assert anchors.shape == (896, 2)
    assert anchors.min() > 0 and anchors.max() < 1
    assert np.allclose(anchors[0], [0.5 / 16, 0.5 / 16])
    assert np.allclose(anchors[512], [0.5 / 8, 0.5 / 8])


def test_settings_choose_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))  # no user-installed yunet
    assert YawEstimator.from_config(load_settings(None, yaw={"enabled": False}).yaw) is None
    est = YawEstimator.from_config(load_settings(None).yaw, tmp_path)
    assert est is not None and isinstance(est.detector, BlazeFaceDetector)  # vendored
    with pytest.raises(ModelError, match="dwell models install yunet"):
        YawEstimator.from_config(load_settings(None, yaw={"model": "yunet"}).yaw, tmp_path)


def test_vendored_blazeface_is_found_and_verified() -> None:
    path = find_model("blazeface")
    assert path.parent == VENDORED_MODELS and path.stat().st_size > 100_000
    assert (path.parent / "LICENSE.blazeface").read_text().count("Apache License") >= 1


@pytest.mark.perception
@pytest.mark.parametrize("model", ["blazeface", "yunet"])
def test_blank_region_gives_nan(model: str) -> None:
    det: object
    if model == "yunet":
        det = YuNetDetector(model_file("face_detection_yunet_2026may.onnx"), 96, 0.6)
    else:
        det = BlazeFaceDetector(find_model("blazeface"), 0.6)
    image = np.full((480, 640, 3), 128, np.uint8)
    image[:, 320:] = 40  # an edge, still no face
    boxes = np.array([[100, 50, 180, 290], [300, 80, 380, 330]], np.float32)
    assert np.isnan(estimator(det).estimate(image, boxes)).all()


def tud_people(step: int = 6) -> list[tuple[Image, np.ndarray]]:
    """Every ``step``-th frame of TUD-Stadtmitte with its ground-truth person boxes."""
    folder = shared_file("footage/TUD-Stadtmitte")
    rows = np.loadtxt(folder / "gt" / "gt.txt", delimiter=",", ndmin=2)
    cap = cv2.VideoCapture(str(folder / "TUD-Stadtmitte.mp4"))
    out, index = [], 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        index += 1
        r = rows[rows[:, 0] == index]
        if index % step == 0 and len(r):
            boxes = np.c_[r[:, 2:4], r[:, 2:4] + r[:, 4:6]].astype(np.float32)
            out.append((np.asarray(frame, np.uint8), boxes))
    cap.release()
    return out


@pytest.mark.perception
def test_mirrored_faces_flip_the_yaw_sign_on_real_footage() -> None:
    path = model_file("face_detection_yunet_2026may.onnx")
    est = YawEstimator(YuNetDetector(path, 96, 0.6), min_face_px=10, min_score=0.6,
                       gain=GAINS["yunet"])
    yaws, mirrored = [], []
    for frame, boxes in tud_people():
        flipped = boxes.copy()
        flipped[:, [0, 2]] = frame.shape[1] - boxes[:, [2, 0]]
        yaws.append(est.estimate(frame, boxes))
        mirrored.append(est.estimate(np.asarray(cv2.flip(frame, 1), np.uint8), flipped))
    a, b = np.concatenate(yaws), np.concatenate(mirrored)
    both = ~np.isnan(a) & ~np.isnan(b) & (np.abs(a) >= 15)
    assert both.sum() >= 10, f"only {both.sum()} turned faces found in TUD-Stadtmitte"
    assert np.mean(np.sign(a[both]) != np.sign(b[both])) >= 0.8
    assert np.median(np.abs(a[both] + b[both])) <= 15
    assert np.isnan(a).mean() > 0.2, "backs and side views must give NaN, not a yaw"


@pytest.mark.perception
@pytest.mark.parametrize("input_px", [96, 160])
def test_yunet_on_onnxruntime_gives_cv2s_faces_and_yaws_on_real_footage(input_px: int) -> None:
    path = model_file("face_detection_yunet_2026may.onnx")
    ests = {rt: YawEstimator(YuNetDetector(path, input_px, 0.6, rt), min_face_px=10,
                             min_score=0.6, gain=GAINS["yunet"])
            for rt in ("opencv", "onnxruntime")}
    trusted = 0
    for frame, boxes in tud_people():
        a, b = (ests[rt].estimate(frame, boxes) for rt in ("opencv", "onnxruntime"))
        assert np.array_equal(np.isnan(a), np.isnan(b))  # the same faces are trusted
        assert np.allclose(a[~np.isnan(a)], b[~np.isnan(b)], atol=0.01)
        trusted += int((~np.isnan(a)).sum())
    assert trusted >= 20


class ScriptedNet:
    """Stands in for cv2.dnn: returns BlazeFace-shaped outputs with one confident anchor."""

    def __init__(self, anchor: int, raw: list[float]) -> None:
        self.reg = np.zeros((1, 896, 16), np.float32)
        self.reg[0, anchor] = raw
        self.cls = np.full((1, 896, 1), -10.0, np.float32)
        self.cls[0, anchor] = 3.0

    def setInput(self, blob: object) -> None:  # cv2.dnn.Net names it so
        pass

    def forward(self, names: list[str]) -> list[np.ndarray]:
        return [self.reg, self.cls]


def test_blazeface_decoding_puts_box_and_keypoints_around_the_anchor() -> None:
    det = BlazeFaceDetector(find_model("blazeface"), 0.5)
    anchor = 512 + 6 * (8 * 3 + 5)  # 8x8 grid, row 3, column 5: centre (88, 56) px
    raw = [4.0, -2, 32, 40, -8, -6, 8, -6, 0, 4, 0, 12, -16, -4, 16, -4]
    det._net = ScriptedNet(anchor, raw)  # type: ignore[assignment]
    faces = det.detect(np.zeros((128, 128, 3), np.uint8))
    assert len(faces) == 1
    f = faces[0]
    assert f.score == pytest.approx(1 / (1 + math.exp(-3.0)), abs=1e-5)
    assert np.allclose(f.box, [92 - 16, 54 - 20, 92 + 16, 54 + 20])
    assert np.allclose(f.points[:3], [[80, 50], [96, 50], [88, 60]])  # eyes, nose
    assert nose_ratio(f.points) == 0.0


def test_bad_inputs_are_named_and_degenerate_boxes_give_nan() -> None:
    det = FakeFaces([face(40, 4)])
    est = estimator(det)
    with pytest.raises(ValueError, match=r"BGR image \(H, W, 3\)"):
        est.estimate(np.zeros((48, 64), np.uint8), np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match=r"shape \(N, 4\)"):
        est.estimate(np.zeros((48, 64, 3), np.uint8), np.zeros((2, 5), np.float32))
    boxes = np.array([[10, 10, 10, 10], [np.nan, 0, 50, 100], [30, 80, 20, 40]], np.float32)
    assert np.isnan(est.estimate(np.zeros((480, 640, 3), np.uint8), boxes)).all()
    assert det.patches == []


def test_regions_too_small_for_a_trusted_face_are_not_searched() -> None:
    """min_face_px 12: regions under 12 / 0.4 = 30 px never gave a trusted face on TUD
    (bench/yaw_region_size.py), so the face detector does not run on them."""
    image = np.zeros((480, 640, 3), np.uint8)
    # person heights 60 and 100 px: head regions 0.3 h = 18 and 30 px
    boxes = np.array([[100, 100, 120, 160], [300, 100, 330, 200]], np.float32)
    assert head_rois(boxes)[:, 2].tolist() == pytest.approx([18, 30])
    det = FakeFaces([face(40)])
    estimator(det, min_face_px=12).estimate(image, boxes)
    assert len(det.patches) == 1  # only the 30 px region
