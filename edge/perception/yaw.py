"""Head yaw: a face detector on the upper part of each person's box -> degrees per person.

Sign convention (camera facing the person): **positive yaw = the person turned their head to
their own left, which is towards the image's right**; 0 = looking into the camera; NaN = no
trusted face (back turned, face smaller than ``yaw.min_face_px``, or a low detector score).

Method: for each person box a square region over the head (top part of the box, never the whole
frame) is warped to the face detector's small input, the most central face found there gives
eye and nose landmarks, and yaw = atan(k * r) where r is the nose tip's offset from where a
frontal nose would be (the eye midpoint; with YuNet the mean of eyes and mouth corners) along
the eye axis, divided by the inter-ocular distance (a head turning by theta moves the nose by
d*sin(theta) while the eyes close up by cos(theta): r = (d / iod) * tan(theta)).
``k`` is calibrated against solvePnP on the MediaPipe face mesh (bench/yaw_validation.py,
docs/yaw.md). Face detectors: YuNet (OpenCV Zoo, installed by `dwell models install yunet`)
when present, else BlazeFace short range (vendored in edge/perception/data/, Apache-2.0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge.vocabulary.boxes import iou_matrix
from edge.vocabulary.types import FloatArray

if TYPE_CHECKING:
    from edge.config.sections import YawConfig

Image = npt.NDArray[np.uint8]

# Head region relative to the person box height h: a square of side clip(0.8 w, 0.3 h, 0.45 h)
# centred on the box, starting a little above its top (detector boxes often cut the hair).
# A standing person's head is ~h/7.5 tall, so it fills ~40% of the square: big enough for the
# face detectors, small enough that the whole body is never searched.
ROI_MIN_H, ROI_MAX_H, ROI_W = 0.30, 0.45, 0.8
ROI_ABOVE = 0.08  # fraction of the square placed above the box top
# A "face" wider than this fraction of the head square is a whole head or hood read as a face
# (BlazeFace does this on small, blurred heads, with confident but wrong keypoints).
MAX_FACE_OF_ROI = 0.65
# A region narrower than min_face_px / FACE_OF_ROI is not searched: measured on both TUD clips
# (bench/yaw_region_size.py, YuNet, 1357 regions) no region under 30.3 px gave a trusted face
# of >= 12 px (the default min_face_px), and in regions under 30 px faces were at most 0.47 of
# the side (median 0.25). 12 / 0.40 = 30 px: the face detector runs only where it can count.
FACE_OF_ROI = 0.40


@dataclass(frozen=True)
class Face:
    """One face in detector-input pixels: box xyxy, score, and landmarks.

    ``points`` rows start with the person's right eye, left eye, nose tip ("right" is the
    subject's right, i.e. image left when facing us); YuNet adds the mouth corners, BlazeFace
    the mouth centre and the ear tragions.
    """

    box: FloatArray
    score: float
    points: FloatArray
    centre: FloatArray | None = None  # where a frontal nose would be; None: the eye midpoint


class FaceDetector(Protocol):
    """Finds faces in one square BGR patch of ``input_size`` pixels."""

    input_size: int

    def detect(self, patch: Image) -> list[Face]: ...


def head_rois(xyxy: FloatArray) -> FloatArray:
    """(N, 3) squares (x0, y0, side) over the head of each person box, in frame pixels."""
    boxes = np.asarray(xyxy, np.float32).reshape(-1, 4)
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = np.clip(ROI_W * w, ROI_MIN_H * h, ROI_MAX_H * h)
    x0 = (boxes[:, 0] + boxes[:, 2]) / 2 - side / 2
    y0 = boxes[:, 1] - ROI_ABOVE * side
    return np.stack([x0, y0, side], axis=1).astype(np.float32)


def nose_ratio(points: FloatArray, centre: FloatArray | None = None) -> float:
    """Nose-tip offset from ``centre`` (default: the eye midpoint) along the eye axis, over the
    eye distance.

    Positive when the nose lies towards the person's left eye (image right when facing us).
    Using the eye axis (not the image x axis) makes it insensitive to head roll.
    """
    right_eye, left_eye, nose = points[0], points[1], points[2]
    if centre is None:
        centre = (left_eye + right_eye) / 2
    axis = left_eye - right_eye
    iod = float(np.hypot(axis[0], axis[1]))
    if iod < 1e-6:
        return math.nan
    return float(np.dot(nose - centre, axis)) / (iod * iod)


def ratio_to_degrees(r: float, gain: float) -> float:
    return math.degrees(math.atan(gain * r))


class YawEstimator:
    """Yaw in degrees for each person box; NaN where no trusted face is seen.

    ``min_face_px``: smallest face width (frame pixels) trusted; ``min_score``: lowest face
    detector score trusted; ``gain``: k in yaw = atan(k * r), calibrated per detector.
    """

    def __init__(self, detector: FaceDetector, *, min_face_px: float, min_score: float,
                 gain: float) -> None:
        self.detector = detector
        self.min_face_px = min_face_px
        self.min_region_px = min_face_px / FACE_OF_ROI
        self.min_score = min_score
        self.gain = gain

    @classmethod
    def from_config(cls, cfg: YawConfig, models_dir: Path | None = None,
                    runtime: str = "opencv") -> YawEstimator | None:
        """None when yaw is disabled; ModelError (edge.perception.models) when the chosen model
        is absent. ``runtime`` runs YuNet ("opencv" or "onnxruntime")."""
        if not cfg.enabled:
            return None
        name, path = _choose_model(cfg, models_dir)
        detector: FaceDetector
        if name == "yunet":
            detector = YuNetDetector(path, cfg.input_px, cfg.min_score, runtime)
        else:
            detector = BlazeFaceDetector(path, cfg.min_score)
        return cls(detector, min_face_px=cfg.min_face_px, min_score=cfg.min_score,
                   gain=GAINS[name])

    def estimate(self, image: Image, xyxy: FloatArray) -> FloatArray:
        """Degrees per box (N,), NaN where no trusted face; boxes are frame pixels xyxy."""
        if image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"yaw needs a BGR image (H, W, 3), got shape {image.shape}")
        boxes = np.asarray(xyxy, np.float32)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"yaw needs xyxy boxes of shape (N, 4), got {boxes.shape}")
        rois = head_rois(boxes)
        out = np.full(len(rois), np.nan, np.float32)
        for i, (x0, y0, side) in enumerate(rois):
            # A trusted face needs a region ~2.5x its width; NaN or empty boxes have no region.
            if not (side >= self.min_region_px and math.isfinite(x0) and math.isfinite(y0)):
                continue
            face = self._face_in(image, float(x0), float(y0), float(side))
            if face is not None:
                out[i] = ratio_to_degrees(nose_ratio(face.points, face.centre), self.gain)
        return out

    def faces(self, image: Image, xyxy: FloatArray) -> list[Face | None]:
        """The trusted face of each box in frame pixels (for validation and debugging)."""
        return [self._face_in(image, float(x0), float(y0), float(s), to_frame=True)
                for x0, y0, s in head_rois(xyxy)]

    def _face_in(self, image: Image, x0: float, y0: float, side: float,
                 to_frame: bool = False) -> Face | None:
        n = self.detector.input_size
        scale = n / side
        # One warp crops, pads (out of frame = black) and resizes: no copy of the frame.
        m = np.array([[scale, 0, -x0 * scale], [0, scale, -y0 * scale]], np.float32)
        patch = np.asarray(cv2.warpAffine(image, m, (n, n), flags=cv2.INTER_LINEAR,
                                          borderMode=cv2.BORDER_CONSTANT), np.uint8)
        faces = [f for f in self.detector.detect(patch) if f.score >= self.min_score]
        if not faces:
            return None
        # The person's own face is the one nearest the region's centre line (a neighbour's
        # face may show at the edge when people overlap).
        face = min(faces, key=lambda f: abs((f.box[0] + f.box[2]) / 2 - n / 2))
        width = face.box[2] - face.box[0]
        if width / scale < self.min_face_px or width > MAX_FACE_OF_ROI * n:
            return None
        if not to_frame:
            return face
        offset = np.array([x0, y0], np.float32)
        centre = None if face.centre is None else face.centre / scale + offset
        return Face(face.box / scale + np.tile(offset, 2), face.score,
                    face.points / scale + offset, centre)


# yaw = atan(gain * nose_ratio): fitted against the face-mesh PnP reference (docs/yaw.md).
GAINS = {"yunet": 3.6, "blazeface": 2.3}


def _choose_model(cfg: YawConfig, models_dir: Path | None) -> tuple[str, Path]:
    from edge.perception.models import ModelError, find_model

    if cfg.model != "auto":
        return cfg.model, find_model(cfg.model, models_dir)
    try:
        return "yunet", find_model("yunet", models_dir)
    except ModelError:
        return "blazeface", find_model("blazeface", models_dir)


class YuNetDetector:
    """OpenCV Zoo's YuNet: box, 5 landmarks, score; any input size. ``runtime`` "opencv":
    cv2.FaceDetectorYN; "onnxruntime": edge.perception.yunet (the same faces, faster)."""

    def __init__(self, path: Path, input_px: int, min_score: float,
                 runtime: str = "opencv") -> None:
        self.input_size = input_px
        self.runtime = runtime
        if runtime == "onnxruntime":
            from edge.perception.yunet import OrtYuNet

            self._ort: OrtYuNet | None = OrtYuNet(path, input_px, min_score)
        else:
            self._ort = None
            self._net = cv2.FaceDetectorYN.create(str(path), "", (input_px, input_px),
                                                  min_score, 0.3, 50)

    def detect(self, patch: Image) -> list[Face]:
        rows = self._ort.detect(patch) if self._ort is not None else self._net.detect(patch)[1]
        if rows is None:
            return []
        faces = []
        for row in rows:
            x, y, w, h = (float(v) for v in row[:4])
            pts = np.asarray(row[4:14], np.float32).reshape(5, 2)
            # Eyes and mouth corners together locate a frontal nose better than the eyes
            # alone: YuNet's landmarks are coarse, averaging four of them halves the noise.
            faces.append(Face(np.array([x, y, x + w, y + h], np.float32), float(row[14]), pts,
                              pts[[0, 1, 3, 4]].mean(axis=0)))
        return faces


def _blazeface_anchors() -> FloatArray:
    """(896, 2) anchor centres (0..1) of MediaPipe's short-range face detector.

    Its SSD anchor options: input 128, strides [8, 16, 16, 16], one aspect ratio plus the
    interpolated scale, fixed anchor size: 2 anchors per cell on the 16x16 grid and 6 (3 layers
    x 2) per cell on the 8x8 grid, all of unit size.
    """
    centres = []
    for grid, per_cell in ((16, 2), (8, 6)):
        ys, xs = np.mgrid[0:grid, 0:grid]
        cells = np.stack([(xs.ravel() + 0.5) / grid, (ys.ravel() + 0.5) / grid], axis=1)
        centres.append(np.repeat(cells, per_cell, axis=0))
    return np.concatenate(centres).astype(np.float32)


class BlazeFaceDetector:
    """MediaPipe BlazeFace short range (TFLite via cv2.dnn): box, 6 keypoints, score."""

    input_size = 128

    def __init__(self, path: Path, min_score: float) -> None:
        engine = getattr(cv2.dnn, "ENGINE_CLASSIC", None)
        # OpenCV 5's new engine keeps only one output of a multi-output TFLite model.
        self._net = (cv2.dnn.readNet(str(path), engine=engine) if engine is not None
                     else cv2.dnn.readNet(str(path)))
        self._outs = ["regressors", "classificators"]
        self._anchors = _blazeface_anchors()
        self.min_score = min_score

    def detect(self, patch: Image) -> list[Face]:
        n = self.input_size
        blob = cv2.dnn.blobFromImage(patch, 1 / 127.5, (n, n), (127.5, 127.5, 127.5),
                                     swapRB=True)
        self._net.setInput(blob)
        reg, cls = self._net.forward(self._outs)
        logits = np.clip(cls.reshape(-1), -80, 80)
        scores = (1 / (1 + np.exp(-logits))).astype(np.float32)
        keep = np.flatnonzero(scores >= self.min_score)
        if keep.size == 0:
            return []
        raw = reg.reshape(-1, 16)[keep].astype(np.float32) / n
        anchors = self._anchors[keep]
        centre = raw[:, 0:2] + anchors
        half = raw[:, 2:4] / 2
        boxes = np.concatenate([centre - half, centre + half], axis=1) * n
        points = ((raw[:, 4:16].reshape(-1, 6, 2) + anchors[:, None, :]) * n).astype(np.float32)
        return _weighted_nms(boxes, scores[keep], points)


def _weighted_nms(boxes: FloatArray, scores: FloatArray, points: FloatArray,
                  iou_min: float = 0.3) -> list[Face]:
    """MediaPipe's blending NMS: overlapping candidates are averaged by score (steadier points)."""
    order = np.argsort(-scores)
    faces = []
    while order.size:
        iou = iou_matrix(boxes[order[0]][None], boxes[order])[0]
        group = order[iou >= iou_min]
        w = scores[group][:, None]
        faces.append(Face((boxes[group] * w).sum(0) / w.sum(),
                          float(scores[order[0]]),
                          (points[group] * w[:, :, None]).sum(0) / w.sum()))
        order = order[iou < iou_min]
    return faces
