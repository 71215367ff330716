"""Small made clips for the CLI tests, where real footage is not needed (or not there)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def make_video(path: Path, frames: int = 30, fps: float = 10.0) -> Path:
    """A 320x240 clip with a moving bright block (wakes the motion gate; no people in it).
    The container follows the suffix: .mp4 is mp4v, anything else MJPG."""
    fourcc = "mp4v" if path.suffix == ".mp4" else "MJPG"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (320, 240))
    for i in range(frames):
        image = np.full((240, 320, 3), 70, np.uint8)
        cv2.rectangle(image, (10 + 6 * i, 60), (50 + 6 * i, 200), (210, 210, 210), -1)
        writer.write(image)
    writer.release()
    return path
