"""The small interface of each stage, used by name: the real classes are typed against these,
and a test can plug a fake into the code around a stage."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

from edge.vocabulary.acks import Ack
from edge.vocabulary.events import Ping
from edge.vocabulary.records import Record
from edge.vocabulary.status import StatsSnapshot, StatusSnapshot
from edge.vocabulary.types import Detections, Frame, Tracks


@dataclass
class SourceStats:
    """Counters a source keeps; ``ok`` is False while a live camera is not delivering."""

    frames: int = 0
    dropped: int = 0
    corrupt: int = 0
    reconnects: int = 0
    ok: bool = True


class FrameSource(Protocol):
    """Frames from a file (every one, in order, never dropped) or a live camera (the newest;
    older ones the reader had no time for are dropped and counted in ``stats.dropped``)."""

    live: bool
    stats: SourceStats

    def frames(self) -> Iterator[Frame]:
        """Every frame until the input ends (a file) or ``close`` is called."""
        ...

    def next_frame(self, timeout: float) -> Frame | None:
        """The next frame; None when a live source had none within ``timeout`` seconds, or
        when the input has ended (then ``ended`` is True)."""
        ...

    @property
    def ended(self) -> bool: ...

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


AckHandler = Callable[[Ack], None]
"""Called with each accepted answer of the watch side (on the publisher's network thread)."""


class Publisher(Protocol):
    """Where a sensor's pings, status and stats go (``edge.delivery.publisher.MqttPublisher``).

    ``publish`` never blocks on the network: a ping waits in the publisher's outbox until the
    broker confirms it. Acks come back through the ``AckHandler`` it was built with.
    """

    connection_error: str | None  # why the broker is not reachable (None: connected or unknown)

    def publish(self, ping: Ping) -> None: ...

    def publish_record(self, record: Record) -> None:
        """A finished record for the centre; waits in the outbox like a ping, but never
        expires (docs/fleet.md)."""
        ...

    def set_status(self, snapshot: StatusSnapshot) -> None: ...

    def publish_stats(self, snapshot: StatsSnapshot) -> None: ...

    def ack_median_s(self) -> float | None: ...

    def wait_connected(self, timeout: float) -> bool: ...

    def drain(self, timeout: float) -> int:
        """Waits up to ``timeout`` s for unconfirmed pings; returns how many are left."""
        ...

    def close(self) -> None: ...
