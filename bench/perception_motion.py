"""Motion gate choices, measured: running-average background (ours) vs previous-frame
differencing vs MOG2, on real footage and on a synthetic slow walker.

Prints, per method: median ms per frame (640x480 in, shrink to 160 px wide included), the
fraction of TUD frames it calls "moving" (people walk through every frame: higher is right),
on the first frame repeated (still: 0 is right), and on a person creeping 1 px (of 640) a frame
across a still scene (every frame has a person moving: higher is right).

    .venv/bin/python bench/perception_motion.py [VIDEO]
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.config.sections import MotionConfig
from edge.perception.motion import MotionGate

DEFAULT_VIDEO = (Path(__file__).resolve().parents[2] / "shared" / "footage" / "TUD-Stadtmitte"
                 / "TUD-Stadtmitte.mp4")
CFG = MotionConfig()  # type: ignore[call-arg]
Gate = Callable[[np.ndarray], bool]


def ours(size: tuple[int, int]) -> Gate:
    return MotionGate(CFG, size).changed


def frame_difference(size: tuple[int, int]) -> Gate:
    probe = MotionGate(CFG, size)  # same shrink, blur and thresholds, previous frame as reference
    last: list[np.ndarray] = []

    def changed(image: np.ndarray) -> bool:
        grey = probe._small_grey(image).copy()
        if not last:
            last.append(grey)
            return True
        moving = np.count_nonzero(cv2.absdiff(grey, last[0]) > CFG.threshold)
        last[0] = grey
        return moving >= probe.min_pixels

    return changed


def mog2(size: tuple[int, int]) -> Gate:
    probe = MotionGate(CFG, size)
    sub = cv2.createBackgroundSubtractorMOG2(history=200, varThreshold=16, detectShadows=False)

    def changed(image: np.ndarray) -> bool:
        mask = sub.apply(probe._small_grey(image))
        return int(np.count_nonzero(mask)) >= probe.min_pixels

    return changed


def run(gate: Gate, frames: list[np.ndarray]) -> tuple[float, float]:
    ms, moving = [], 0
    for image in frames:
        t0 = time.perf_counter()
        moving += gate(image)
        ms.append((time.perf_counter() - t0) * 1000)
    return float(np.median(ms)), moving / len(frames)


def creeping(background: np.ndarray, n: int = 60) -> list[np.ndarray]:
    frames = [background.copy() for _ in range(10)]
    for i in range(n):
        image = background.copy()
        image[150:400, 100 + i:160 + i] = (60, 60, 200)
        frames.append(image)
    return frames


def main() -> None:
    cv2.setNumThreads(1)
    video = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_VIDEO
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, image = cap.read()
        if not ok:
            break
        frames.append(image)
    if not frames:
        sys.exit(f"{video}: no frames")
    size = (frames[0].shape[1], frames[0].shape[0])
    still = [frames[0]] * len(frames)
    rng = np.random.default_rng(0)
    shop = cv2.resize(rng.integers(40, 200, (24, 32, 3), dtype=np.uint8), size,
                      interpolation=cv2.INTER_NEAREST)
    creep = creeping(shop)
    print(f"{video.name}: {len(frames)} frames {size[0]}x{size[1]}, OpenCV {cv2.__version__}")
    print(f"{'method':18s} {'ms/frame':>8s} {'moving (TUD)':>13s} {'still':>6s} "
          f"{'creeping':>9s}")
    for name, make in (("running average", ours), ("frame difference", frame_difference),
                       ("MOG2", mog2)):
        ms, moving = run(make(size), frames)
        _, idle = run(make(size), still)
        gate = make(size)
        run(gate, creep[:10])
        _, crept = run(gate, creep[10:])
        print(f"{name:18s} {ms:8.2f} {moving:13.2f} {idle:6.2f} {crept:9.2f}")


if __name__ == "__main__":
    main()
