"""Person precision/recall at IoU 0.5 on TUD-Stadtmitte and TUD-Campus for every installed
detector runtime (yolox-nano, the same letterbox and decode), detector on every frame.

    DWELL_SHARED=/work/shared DWELL_MODELS_DIR=/work/shared/models \\
        .venv/bin/python bench/runtime_accuracy.py [INPUT_SIZE]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.offline.metrics import detection_precision_recall
from edge.perception import runtimes
from edge.perception.detector import YoloxDetector

SHARED = Path(os.environ.get("DWELL_SHARED", "/work/shared"))
MODELS = Path(os.environ.get("DWELL_MODELS_DIR", SHARED / "models"))


def ground_truth(seq: Path) -> dict[int, np.ndarray]:
    rows = np.loadtxt(seq / "gt" / "gt.txt", delimiter=",")
    gt = {}
    for frame_no in np.unique(rows[:, 0]).astype(int):
        boxes = rows[rows[:, 0] == frame_no][:, 2:6].copy()
        boxes[:, 2:] += boxes[:, :2]
        gt[int(frame_no)] = boxes
    return gt


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 416
    cv2.setNumThreads(1)
    dets = {n: YoloxDetector(MODELS / "yolox_nano.onnx", size, runtime=n)
            for n in runtimes.available(MODELS / "yolox_nano.onnx", size)}
    for clip in ("TUD-Stadtmitte", "TUD-Campus"):
        seq = SHARED / "footage" / clip
        pred: dict[str, dict[int, np.ndarray]] = {n: {} for n in dets}
        cap = cv2.VideoCapture(str(seq / f"{clip}.mp4"))
        k = 0
        while True:
            ok, image = cap.read()
            if not ok:
                break
            k += 1  # MOT frames count from 1
            for name, det in dets.items():
                pred[name][k] = det.detect(image).xyxy
        gt = ground_truth(seq)
        for name in dets:
            p, r = detection_precision_recall(gt, pred[name], iou=0.5)
            print(f"{clip} yolox-nano@{size} {name:<12} precision {p:.4f} recall {r:.4f}")


if __name__ == "__main__":
    main()
