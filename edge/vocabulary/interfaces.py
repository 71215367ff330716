"""The small interface of each stage, so tests can plug a fake into the code around it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.vocabulary.events import Ping
from edge.vocabulary.types import Detections, Frame, Tracks


class FrameSource(Protocol):
    """Yields frames until the input ends (a file) or ``close`` is called (a live camera)."""

    def frames(self) -> Iterator[Frame]: ...

    def close(self) -> None: ...


class Detector(Protocol):
    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        """People in one BGR image, boxes in that image's pixels."""
        ...


class Tracker(Protocol):
    def update(self, detections: Detections | None, t: float) -> Tracks:
        """``None`` means the detector did not look at this frame (not: nobody is there)."""
        ...

    def __len__(self) -> int:
        """How many people are followed, including ones not yet output (unconfirmed)."""
        ...


AckHandler = Callable[[str, str, str | None], None]
"""Called with (ping_id, action, by) when the watch side answers a ping."""


class Publisher(Protocol):
    def publish(self, ping: Ping) -> None: ...

    def close(self) -> None: ...
