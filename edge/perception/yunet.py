"""YuNet on onnxruntime: the same faces as cv2.FaceDetectorYN, ~2.7x faster on 96 px patches.

cv2.FaceDetectorYN runs the network on cv2.dnn and decodes it in C++. Here the network runs on
onnxruntime and the decode is cv2's, re-done in numpy: per stride s (8, 16, 32) and grid cell
(row r, column c), score = sqrt(cls * obj), box centre ((c, r) + bbox[:2]) * s, size
exp(bbox[2:]) * s, landmarks ((c, r) + kps) * s, then NMS at IoU 0.3 keeping the top 50.
Measured against cv2.FaceDetectorYN on 430 TUD head regions: the same 119 faces, every value
within 2.3e-5 px (tests/test_yaw.py checks it); 0.24 vs 0.65 ms per 96 px patch, one thread.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from edge.perception.runtimes import _import_onnxruntime
from edge.vocabulary.types import FloatArray

STRIDES = (8, 16, 32)
NMS_IOU = 0.3
TOP_K = 50


class OrtYuNet:
    """``detect(patch)`` -> (N, 15) rows like cv2.FaceDetectorYN's (x, y, w, h, 5 landmark
    points, score), or None. ``input_px`` must be a multiple of 32."""

    def __init__(self, path: Path, input_px: int, min_score: float) -> None:
        if input_px % 32:
            raise ValueError(f"YuNet input {input_px} px is not a multiple of 32")
        ort = _import_onnxruntime()
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1  # a 96 px patch: too small to split across threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(path), opts,
                                            providers=["CPUExecutionProvider"])
        self.names = [o.name for o in self.session.get_outputs()]
        self.input = self.session.get_inputs()[0].name
        self.min_score = min_score
        self.cells = [self._cells(input_px // s) for s in STRIDES]

    @staticmethod
    def _cells(n: int) -> FloatArray:
        rows, cols = np.divmod(np.arange(n * n), n)
        return np.stack([cols, rows], axis=1).astype(np.float32)

    def detect(self, patch: np.ndarray) -> FloatArray | None:
        blob = cv2.dnn.blobFromImage(patch)  # BGR, 0..255, as cv2.FaceDetectorYN feeds it
        out = dict(zip(self.names, self.session.run(None, {self.input: blob}), strict=True))
        found = []
        for stride, cells in zip(STRIDES, self.cells, strict=True):
            score = np.sqrt(np.clip(out[f"cls_{stride}"][0, :, 0], 0, 1)
                            * np.clip(out[f"obj_{stride}"][0, :, 0], 0, 1))
            keep = score >= self.min_score
            if not keep.any():
                continue
            bbox, kps, cell = out[f"bbox_{stride}"][0][keep], out[f"kps_{stride}"][0][keep], \
                cells[keep]
            centre = (cell + bbox[:, :2]) * stride
            size = np.exp(bbox[:, 2:4]) * stride
            points = (kps.reshape(-1, 5, 2) + cell[:, None, :]) * stride
            found.append(np.concatenate([centre - size / 2, size, points.reshape(-1, 10),
                                         score[keep, None]], axis=1))
        if not found:
            return None
        rows = np.concatenate(found).astype(np.float32)
        kept = cv2.dnn.NMSBoxes(rows[:, :4].tolist(), rows[:, 14].tolist(), self.min_score,
                                NMS_IOU, top_k=TOP_K)
        return rows[np.asarray(kept, dtype=np.intp).reshape(-1)]
