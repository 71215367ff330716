"""Person boxes of every installed detector runtime on a few TUD-Stadtmitte frames: written on
x86 (``dump``), compared on arm64 (``compare``) by bench/arm64_check.sh. Boxes only: no frame
is written anywhere.

    DWELL_SHARED=/work/shared DWELL_MODELS_DIR=/work/shared/models \\
        .venv/bin/python bench/arm64_boxes.py dump x86_boxes.json
    .venv/bin/python bench/arm64_boxes.py compare x86_boxes.json   # on the other machine

``compare`` prints, per runtime, whether every frame has as many boxes as x86's reference
(cv2.dnn) and each overlaps one by IoU >= 0.9, the lowest such IoU and the largest score
difference; it exits 1 when a runtime's boxes differ.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.perception import runtimes
from edge.perception.detector import YoloxDetector

SHARED = Path(os.environ.get("DWELL_SHARED", "/work/shared"))
MODELS = Path(os.environ.get("DWELL_MODELS_DIR", SHARED / "models"))
VIDEO = SHARED / "footage" / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4"
FRAMES = (0, 45, 90, 135)


def boxes_here() -> dict[str, list[dict[str, list[list[float]] | list[float]]]]:
    cv2.setNumThreads(1)
    dets = {n: YoloxDetector(MODELS / "yolox_nano.onnx", 416, runtime=n)
            for n in runtimes.available(MODELS / "yolox_nano.onnx", 416)}
    cap = cv2.VideoCapture(str(VIDEO))
    out: dict[str, list[dict[str, list[list[float]] | list[float]]]] = {n: [] for n in dets}
    for k in range(max(FRAMES) + 1):
        ok, image = cap.read()
        if not ok:
            raise SystemExit(f"{VIDEO}: frame {k} unreadable")
        if k in FRAMES:
            for name, det in dets.items():
                found = det.detect(image)
                out[name].append({"xyxy": found.xyxy.tolist(), "score": found.score.tolist()})
    return out


def best_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return np.asarray((inter / (area(a)[:, None] + area(b)[None, :] - inter)).max(axis=1))


def compare(reference: Path) -> int:
    ref = json.loads(reference.read_text())["runtimes"]["opencv"]
    here = boxes_here()
    print(f"{platform.machine()}: runtimes {', '.join(here)}; versions {runtimes.versions()}")
    bad = 0
    for name, frames in here.items():
        lowest, score_diff, equal = 1.0, 0.0, True
        for mine, theirs in zip(frames, ref, strict=True):
            a, b = np.array(mine["xyxy"]).reshape(-1, 4), np.array(theirs["xyxy"]).reshape(-1, 4)
            if len(a) != len(b):
                equal = False
                continue
            if len(a):
                iou = best_iou(a, b)
                lowest = min(lowest, float(iou.min()))
                equal &= bool(iou.min() >= 0.9)
                score_diff = max(score_diff, float(np.abs(np.sort(mine["score"])
                                                          - np.sort(theirs["score"])).max()))
        print(f"  {name:<12} boxes equal to x86 cv2.dnn: {equal}; lowest IoU {lowest:.3f}; "
              f"largest score difference {score_diff:.4f}")
        bad += not equal
    return 1 if bad else 0


def main() -> int:
    if len(sys.argv) != 3 or sys.argv[1] not in ("dump", "compare"):
        print(__doc__)
        return 2
    if sys.argv[1] == "dump":
        Path(sys.argv[2]).write_text(json.dumps({"machine": platform.machine(),
                                                 "versions": runtimes.versions(),
                                                 "runtimes": boxes_here()}))
        return 0
    return compare(Path(sys.argv[2]))


if __name__ == "__main__":
    sys.exit(main())
