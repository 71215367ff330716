"""Motion gate shrink, INTER_AREA on the colour frame (before) vs the gate's own choice (after,
edge/perception/motion.py: grey then halvings for power-of-two scales, INTER_LINEAR for
non-integer ones), in one run: median ms per frame of MotionGate.changed and whether the two
gates decide "moving" alike on every frame.

Clips: TUD-Stadtmitte and TUD-Campus at 640x480 (640/160 = 4: "halve") and the same frames
resized to 480x360 (3x: "area"), 768x576 and 1000x750 (768/160 = 4.8 and 1000/160 = 6.25:
non-integer, "linear") -- resized real footage, since the PETS 768x576 clip is not in
../shared. Also a still scene (first frame repeated).

    DWELL_SHARED=/work/shared .venv/bin/python bench/motion_resize.py
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.config.sections import MotionConfig
from edge.perception.motion import MotionGate

SHARED = Path(os.environ.get("DWELL_SHARED",
                            Path(__file__).resolve().parents[2] / "shared")) / "footage"
CLIPS = ["TUD-Stadtmitte", "TUD-Campus"]
SIZES = [(640, 480), (480, 360), (768, 576), (1000, 750)]


def frames(clip: str, size: tuple[int, int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(SHARED / clip / f"{clip}.mp4"))
    out = []
    while True:
        ok, image = cap.read()
        if not ok:
            return out
        out.append(image if image.shape[1::-1] == size else
                   cv2.resize(image, size, interpolation=cv2.INTER_LINEAR))


def compare(images: list[np.ndarray], size: tuple[int, int]) -> tuple[float, float, int, int]:
    cfg = MotionConfig()  # type: ignore[call-arg]
    before = MotionGate(cfg, size, shrink="area-colour")
    after = MotionGate(cfg, size)
    ms_b, ms_a, moving, differ = [], [], 0, 0
    for k, image in enumerate(images):
        pair = [(before, ms_b), (after, ms_a)]
        decided = {}
        for gate, ms in (pair if k % 2 == 0 else pair[::-1]):  # alternate: load hits both
            t0 = time.perf_counter()
            decided[id(gate)] = gate.changed(image)
            ms.append((time.perf_counter() - t0) * 1000)
        moving += decided[id(before)]
        differ += decided[id(before)] != decided[id(after)]
    return float(np.median(ms_b)), float(np.median(ms_a)), moving, differ


def main() -> None:
    cv2.setNumThreads(1)
    print("clip               size       shrink(after)   before ms  after ms  moving  differ")
    for clip in CLIPS:
        for size in SIZES:
            images = frames(clip, size)
            gate = MotionGate(MotionConfig(), size)  # type: ignore[call-arg]
            interp = gate.shrink
            for label, seq in (("", images), (" still", [images[0]] * len(images))):
                b, a, moving, differ = compare(seq, size)
                print(f"{clip + label:<20} {size[0]}x{size[1]:<5} {interp:<14} {b:9.3f} "
                      f"{a:9.3f}  {moving:3d}/{len(seq)}  {differ}")


if __name__ == "__main__":
    main()
