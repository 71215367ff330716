"""Overlap: the detector's network works on one frame while the previous one goes through the rest.

The person detector's network is ~80 % of a frame and computes without holding Python's lock
(onnxruntime and cv2.dnn release the GIL while they run); head yaw, looks, the tracker,
behaviour and policy are mostly Python that needs it. Run one after the other, a frame costs
their sum; overlapped, about the larger of the two, on two cores (a Pi 4 has four, and dwell is
its only job). `dwell bench` prints both (``fps`` and ``fps_serial``).

Only the network runs on the detector thread. The detector's own pre- and post-processing
(letterbox, decode, NMS: Python and numpy) stays on the caller's thread: on the detector thread
each of its many small numpy calls would wait for the lock the caller's Python holds, which is
what made a first try (the whole ``detect`` on the thread) no faster than serial.
A detector without that split (SSDLite) runs whole on the thread.

``Sensor.feed`` (edge/service/sensor.py) drives it for `dwell run` and `dwell record`: the
motion gate decides on frame N, the network starts on N here, and frame N-1 (its detections
already made) gets yaw, looks and its pipeline step on the caller's thread meanwhile. What this
changes, and what it does not:

- a frame's events come out one frame later (40 ms at 25 fps), or when the camera has sent
  nothing for half a second (`dwell run` completes the frame then: a stalled camera does not
  hold its step back);
- whether the detector looks at a still frame because someone is tracked is decided by who was
  tracked one step earlier: at most one redetection more when the last person is dropped (the
  motion gate still decides first, so nobody is lost);
- every decision is made on the same detections in the same order, and the trace records what
  the detector saw: a replay of the trace decides exactly what run decided.

The detector is only ever used by one thread at a time: each frame's inference is awaited
before the next is started.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edge.vocabulary.interfaces import Detector
    from edge.vocabulary.types import Detections, Frame


def _timed(work: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = work()
    return out, (time.perf_counter() - t0) * 1000


class InFlight:
    """One frame's detection, started: ``result()`` waits for it (and re-raises what the
    detector raised)."""

    def __init__(self, future: Future[tuple[Any, float]],
                 finish: Callable[[Any], Detections], before_ms: float) -> None:
        self._future, self._finish, self._before_ms = future, finish, before_ms

    def wait(self) -> None:
        """Until the thread is done with it (its result not taken)."""
        self._future.exception()

    def result(self) -> tuple[Detections, float]:
        """(the people found, the detector's ms: its three parts' sum)."""
        raw, infer_ms = self._future.result()
        detections, after_ms = _timed(lambda: self._finish(raw))
        return detections, self._before_ms + infer_ms + after_ms


class DetectorThread:
    """One background thread for the detector's network, started at the first frame."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, detector: Detector, frame: Frame) -> InFlight:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="detector")
        image = frame.image
        prepare = getattr(detector, "prepare", None)
        if prepare is None:  # no split: the whole detect on the thread
            return InFlight(self._pool.submit(_timed, lambda: detector.detect(image)),
                            lambda found: found, 0.0)
        (blob, ratio), before_ms = _timed(lambda: prepare(image))
        infer = detector.infer  # type: ignore[attr-defined]
        decode = detector.decode  # type: ignore[attr-defined]
        height, width = image.shape[:2]
        return InFlight(self._pool.submit(_timed, lambda: infer(blob)),
                        lambda raw: decode(raw, ratio, width, height), before_ms)

    def close(self) -> None:
        """Stops the thread once its frame is done (a later ``submit`` starts a new one)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
