"""Person detectors, measured: speed and precision/recall at IoU 0.5 on the footage with MOT
ground truth (detector run on every frame, one thread, at the video's resolution).

    DWELL_MODELS_DIR=../shared/models .venv/bin/python bench/perception_detectors.py \
        [--footage ../shared/footage] [--threshold 0.4]

yolox-nano comes from $DWELL_MODELS_DIR (it may not be vendored); ssdlite-pedestrian from the
package's vendored models (edge/perception/data/). Rows whose model is absent are skipped with
the reason.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.offline.metrics import detection_precision_recall
from edge.offline.mot import read_mot_ground_truth
from edge.perception.detector import SsdDetector, YoloxDetector
from edge.perception.models import ModelError, find_model

REPO = Path(__file__).resolve().parent.parent
CONFIGS = [("yolox-nano", 416), ("yolox-nano", 320), ("ssdlite-pedestrian", 300)]


def build(model: str, size: int, threshold: float) -> YoloxDetector | SsdDetector:
    models_dir = os.environ.get("DWELL_MODELS_DIR")
    path = find_model(model, Path(models_dir) if models_dir else None)
    if model == "yolox-nano":
        return YoloxDetector(path, size, threshold)
    return SsdDetector(path, path.with_suffix(".pbtxt"), threshold)


def evaluate(detector: YoloxDetector | SsdDetector, seq: Path
             ) -> tuple[float, float, float, int]:
    gt = {frame: boxes for frame, (_ids, boxes) in
          read_mot_ground_truth(seq / "gt" / "gt.txt").items()}
    cap = cv2.VideoCapture(str(seq / f"{seq.name}.mp4"))
    pred, ms, frame = {}, [], 0
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frame += 1
        t0 = time.perf_counter()
        pred[frame] = detector.detect(image).xyxy
        ms.append((time.perf_counter() - t0) * 1000)
    precision, recall = detection_precision_recall(gt, pred, iou=0.5)
    return float(np.median(ms)), precision, recall, frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--footage", type=Path, default=REPO.parent / "shared" / "footage")
    parser.add_argument("--threshold", type=float, default=0.4,
                        help="score threshold ([detector] score_threshold, default 0.4)")
    args = parser.parse_args()
    cv2.setNumThreads(1)
    seqs = [args.footage / name for name in ("TUD-Stadtmitte", "TUD-Campus")]
    print(f"OpenCV {cv2.__version__}, 1 thread, score >= {args.threshold}, IoU 0.5")
    print(f"{'detector':22s} {'sequence':15s} {'ms/frame':>8s} {'precision':>9s} {'recall':>7s}")
    for model, size in CONFIGS:
        try:
            detector = build(model, size, args.threshold)
        except ModelError as exc:
            print(f"{model}@{size}: skipped ({exc})")
            continue
        detector.detect(np.zeros((480, 640, 3), np.uint8))  # warm-up allocation
        for seq in seqs:
            if not seq.is_dir():
                print(f"{seq}: absent, skipped")
                continue
            ms, precision, recall, _frames = evaluate(detector, seq)
            print(f"{model + '@' + str(size):22s} {seq.name:15s} {ms:8.1f} {precision:9.3f} "
                  f"{recall:7.3f}")


if __name__ == "__main__":
    main()
