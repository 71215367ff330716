"""The one composition root: source -> perception -> pipeline -> sinks, for every mode.

`dwell run`, `replay`, `record`, `bench` and `demo` all drive a ``Sensor``; they differ only in
what they feed it (video frames, or detections already made: a trace, MOT rows, the synthetic
shop) and which sinks they attach (the MQTT link, an events file, a trace file, a narrator).
That is what makes "replay decides exactly what run decided" hold by construction.

The sensor hands each stage what it needs: perception is built at the first frame's size (and
only when frames with pictures arrive, so a trace replay never imports OpenCV), the pipeline
once the frame size is known (zones are placed in pixels). Everything runs on the caller's one
processing thread, except the detector under ``feed``, which works on the next frame in a
thread of its own meanwhile (edge/service/overlap.py); only ``on_ack`` may be called from
another (the publisher's) thread.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from edge.behaviour.pipeline import Pipeline
from edge.config.settings import Settings
from edge.service.overlap import DetectorThread
from edge.vocabulary.acks import Ack
from edge.vocabulary.events import Event
from edge.vocabulary.interfaces import Detector, Tracker
from edge.vocabulary.tally import Tally
from edge.vocabulary.types import T_DECIMALS, Detections, Frame

if TYPE_CHECKING:
    from edge.behaviour.policy import PingIdFactory
    from edge.perception.perceiver import Perception
    from edge.service.overlap import InFlight

T = TypeVar("T")
Observation = tuple[float, "Detections | None"]  # (t, what the detector saw; None: not looked)
EventSink = Callable[[Event], None]
LookedSink = Callable[[float, Detections], None]
StepWatcher = Callable[[float, Pipeline], None]
# a frame whose detection runs in the background: (frame, its perception, the detection;
# None: the detector does not look at it)
Pending = tuple[Frame, "Perception", "InFlight | None"]


class Sensor:
    """One camera's stages, wired once. ``sinks`` see every event in time order; ``looked``
    sinks see every frame the detector looked at (what `dwell record` writes); ``watchers``
    read the pipeline after each such frame (the console's live floor; they must not change it).

    ``detector``, ``tracker`` and ``ping_id`` replace the configured ones (tests, bench,
    replay's deterministic ids); ``start_wall`` is the local time of t=0 (opening hours).
    """

    def __init__(self, settings: Settings, *, frame_size: tuple[int, int] | None = None,
                 sinks: Iterable[EventSink] = (), looked: Iterable[LookedSink] = (),
                 watchers: Iterable[StepWatcher] = (),
                 detector: Detector | None = None, tracker: Tracker | None = None,
                 ping_id: PingIdFactory | None = None,
                 start_wall: datetime | None = None) -> None:
        self.settings = settings
        self.sinks = list(sinks)
        self.looked = list(looked)
        self.watchers = list(watchers)
        self.detector = detector
        self._tracker, self._ping_id, self._start_wall = tracker, ping_id, start_wall
        self.pipeline: Pipeline | None = None
        self.perception: Perception | None = None
        self.frame_size: tuple[int, int] | None = None
        self._perceived: tuple[int, int] | None = None  # the frame size perception is built for
        self.acks: queue.SimpleQueue[Ack] = queue.SimpleQueue()
        self.last_t = 0.0
        self._detector_thread = DetectorThread()
        self._pending: Pending | None = None  # the frame ``feed`` left with the detector
        if frame_size is not None:
            self.start(frame_size)

    # -- wiring -----------------------------------------------------------------------------

    def start(self, frame_size: tuple[int, int] | None) -> Pipeline:
        """Builds the pipeline for ``frame_size`` (once; a later call returns it)."""
        if self.pipeline is None:
            self.frame_size = frame_size
            self.pipeline = Pipeline(self.settings, frame_size, tracker=self._tracker,
                                     ping_id=self._ping_id, start_wall=self._start_wall)
        return self.pipeline

    def _perception_for(self, size: tuple[int, int]) -> Perception:
        if self.perception is None or self._perceived != size:
            # only for inputs with pictures
            from edge.perception.perceiver import Perception, load_yaw

            s = self.settings
            self.perception = Perception(s.motion, size, detector=self.load_detector(),
                                         yaw=load_yaw(s.yaw, s.models_dir, s.detector.runtime),
                                         yaw_interval_s=s.yaw.interval_s,
                                         looks=s.tracker.appearance_cue)
            self._perceived = size
        return self.perception

    def load_detector(self) -> Detector:
        """Loads the configured detector now (a missing model fails at start, clearly)."""
        if self.detector is None:
            from edge.perception.detector import load_detector

            s = self.settings
            self.detector = load_detector(s.detector, s.models_dir, s.state_dir)
        return self.detector

    # -- the processing thread --------------------------------------------------------------

    @property
    def tracking(self) -> bool:
        """Anyone followed: perception re-detects them even when nothing moves."""
        return self.pipeline is not None and self.pipeline.tracking

    @property
    def counts(self) -> Tally:
        return self.pipeline.counts if self.pipeline is not None else Tally()

    @property
    def visitors_now(self) -> int:
        return self.pipeline.visitors_now if self.pipeline is not None else 0

    def look(self, frame: Frame) -> Detections | None:
        """Perception on one frame (None: the detector did not look at it)."""
        size = _size_of(frame)
        hints = self.pipeline.head_hints if self.pipeline is not None else None
        detections = self._perception_for(size).observe(frame, self.tracking, hints)
        self.start(size)
        return detections

    def process(self, frame: Frame) -> list[Event]:
        """One video frame through perception and the pipeline."""
        return self.step(frame.t, self.look(frame))

    def feed(self, frame: Frame) -> list[Event]:
        """``process``, overlapped (edge/service/overlap.py): the detector starts on this
        frame in the background while the previous frame gets yaw, looks and its pipeline
        step here; the events returned are the previous frame's. ``flush`` (or ``finish``)
        completes the last frame."""
        size = _size_of(frame)
        perception = self._perception_for(size)
        self.start(size)
        looked = perception.gate(frame, self.tracking)
        previous, self._pending = self._pending, (  # queued behind the previous frame's
            frame, perception, self._detector_thread.submit(perception.detector, frame) if looked
            else None)
        return self._complete(previous)

    def detector_idle(self) -> None:
        """Waits until the detector has finished the frame it is working on (bench)."""
        if self._pending is not None and self._pending[2] is not None:
            self._pending[2].wait()

    def flush(self) -> list[Event]:
        """The frame ``feed`` left in flight, completed; its events."""
        pending, self._pending = self._pending, None
        return self._complete(pending)

    def _complete(self, pending: Pending | None) -> list[Event]:
        if pending is None:
            return []
        frame, perception, detected = pending
        hints = self.pipeline.head_hints if self.pipeline is not None else None
        detections = (None if detected is None
                      else perception.annotate(frame, *detected.result(), hints))
        return self.step(frame.t, detections)

    def step(self, t: float, detections: Detections | None) -> list[Event]:
        """One observation through the pipeline (acks that arrived meanwhile first). Time and
        detections are put on the trace's grid first (``Detections.on_record_grid``): run
        decides on exactly the numbers a replay of its trace reads."""
        t = round(t, T_DECIMALS)
        self.last_t = max(self.last_t, t)
        events = self.drain_acks()
        if detections is not None:
            detections = detections.on_record_grid()
            for sink in self.looked:
                sink(t, detections)
        if self.pipeline is not None:
            events += self._emit(self.pipeline.step(t, detections))
            if detections is not None:
                for watch in self.watchers:
                    watch(t, self.pipeline)
        return events

    def on_ack(self, ack: Ack) -> None:
        """Any thread (the publisher's): queued for the processing thread."""
        self.acks.put(ack)

    def drain_acks(self) -> list[Event]:
        events: list[Event] = []
        while True:
            try:
                ack = self.acks.get_nowait()
            except queue.Empty:
                return events
            if self.pipeline is not None:
                events += self._emit(self.pipeline.acknowledge(ack, self.last_t))

    def finish(self, t: float | None = None) -> list[Event]:
        """The input ended (or the sensor stops): open visits end."""
        events = self.flush()
        self._detector_thread.close()
        if self.pipeline is None:
            return events
        return events + self._emit(self.pipeline.finish(self.last_t if t is None else t))

    def run(self, observations: Iterable[Observation]) -> list[Event]:
        """Every observation, then ``finish`` at the last one's time; all events returned."""
        events: list[Event] = []
        for t, detections in observations:
            events += self.step(t, detections)
        return events + self.finish()

    def run_frames(self, frames: Iterable[Frame]) -> list[Event]:
        """Every video frame, then ``finish``; all events returned."""
        events: list[Event] = []
        for frame in frames:
            events += self.process(frame)
        return events + self.finish()

    def reload(self, settings: Settings) -> None:
        """New thresholds and zones; visits and their clocks are kept. New motion, yaw or
        appearance-cue settings rebuild perception at the next frame (the loaded detector is
        kept)."""
        old, self.settings = self.settings, settings
        if self.pipeline is not None:
            self.pipeline.reload(settings)
        if (settings.motion != old.motion or settings.yaw != old.yaw
                or settings.tracker.appearance_cue != old.tracker.appearance_cue):
            self.perception = None

    def _emit(self, events: list[Event]) -> list[Event]:
        for ev in events:
            for sink in self.sinks:
                sink(ev)
        return events


def paced(items: Iterable[T], t_of: Callable[[T], float], speed: float | None) -> Iterator[T]:
    """Holds each item back until its time at ``speed`` x real time (None: no pacing).

    For drivers that play recorded input like a camera would (replay --speed, the demo):
    the pacing is the source's clock, never a stage's."""
    if not speed:
        yield from items
        return
    wall0 = time.monotonic()
    for item in items:
        wait = t_of(item) / speed - (time.monotonic() - wall0)
        if wait > 0:
            time.sleep(wait)
        yield item


def _size_of(frame: Frame) -> tuple[int, int]:
    """(width, height) of a frame's picture."""
    return int(frame.image.shape[1]), int(frame.image.shape[0])
