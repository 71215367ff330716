"""Head-region size below which the face detector never gives a trusted yaw, measured.

Runs yolox-nano@416 (onnxruntime) on every frame of the TUD clips, and for every person's head
region runs the configured face detector with no size floor (min_face_px = 1, every other yaw
setting at its default). Prints, per band of region side (frame pixels), how many regions were
tried and how many gave a trusted face, with the narrowest trusted face width; then the
smallest region side that ever gave a trusted yaw, and the share of face width to region side.

    DWELL_SHARED=/work/shared DWELL_MODELS_DIR=/work/shared/models \\
        .venv/bin/python bench/yaw_region_size.py [yunet|blazeface]
"""

from __future__ import annotations

import itertools
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.config.sections import YawConfig
from edge.perception.detector import YoloxDetector
from edge.perception.yaw import GAINS, YawEstimator, head_rois

SHARED = Path(os.environ.get("DWELL_SHARED", "/work/shared"))
MODELS = Path(os.environ.get("DWELL_MODELS_DIR", SHARED / "models"))
CLIPS = ["TUD-Stadtmitte", "TUD-Campus"]
BANDS = [0, 20, 25, 30, 35, 40, 45, 50, 60, 80, 120, 1000]


def main() -> None:
    name = sys.argv[1] if len(sys.argv) > 1 else "yunet"
    cfg = YawConfig(model=name)  # type: ignore[call-arg]
    cv2.setNumThreads(1)
    det = YoloxDetector(MODELS / "yolox_nano.onnx", 416, runtime="onnxruntime")
    est = YawEstimator.from_config(cfg, MODELS)
    assert est is not None
    probe = YawEstimator(est.detector, min_face_px=1, min_score=cfg.min_score, gain=GAINS[name])
    sides, widths = [], []
    for clip in CLIPS:
        cap = cv2.VideoCapture(str(SHARED / "footage" / clip / f"{clip}.mp4"))
        while True:
            ok, image = cap.read()
            if not ok:
                break
            boxes = det.detect(image).xyxy
            for (_, _, side), face in zip(head_rois(boxes), probe.faces(image, boxes),
                                          strict=True):
                sides.append(float(side))
                widths.append(np.nan if face is None else float(face.box[2] - face.box[0]))
    s, w = np.array(sides), np.array(widths)
    ok = ~np.isnan(w)
    print(f"{name}: {len(s)} head regions on {', '.join(CLIPS)}; {ok.sum()} trusted faces")
    big = ok & (w >= cfg.min_face_px)
    print(f"region side px   regions  trusted  >= min_face_px {cfg.min_face_px}  "
          "narrowest face px  widest face/side")
    for lo, hi in itertools.pairwise(BANDS):
        band = (s >= lo) & (s < hi)
        t = band & ok
        narrow = f"{w[t].min():.1f}" if t.any() else "-"
        widest = f"{np.max(w[t] / s[t]):.2f}" if t.any() else "-"
        print(f"  [{lo:4d}, {hi:4d})   {band.sum():7d}  {t.sum():7d}  {(band & big).sum():17d}"
              f"  {narrow:>17}  {widest:>16}")
    if ok.any():
        print(f"smallest region side with a trusted face: {s[ok].min():.1f} px; "
              f"face width / region side: median {np.median(w[ok] / s[ok]):.2f}, "
              f"min {np.min(w[ok] / s[ok]):.2f}, max {np.max(w[ok] / s[ok]):.2f}")
    if big.any():
        print(f"smallest region side with a trusted face >= min_face_px {cfg.min_face_px}: "
              f"{s[big].min():.1f} px")


if __name__ == "__main__":
    main()
