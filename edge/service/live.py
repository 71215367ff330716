"""The live service: capture thread -> one processing thread -> publisher (paho's thread).

- The capture thread pulls frames from the source into a one-slot :class:`FrameBox`: a live
  camera overwrites (the newest frame wins, older ones are dropped and counted), a file blocks
  until the frame was taken (a file is never dropped). It also reopens a camera that could not
  be opened at start, with backoff, so a sensor booted before its camera still comes up.
- The processing thread owns everything stateful (perception, pipeline, counters: no locks).
  It wakes at least twice a second even without frames, so acks, SIGHUP reloads, status
  ("camera lost") and the systemd watchdog keep going while the camera is down. Feeding the
  watchdog from this loop is deliberate: a stuck loop stops the pings and systemd restarts us.
- One stop Event. SIGTERM/SIGINT set it; SIGHUP asks the processing thread to reload the
  thresholds and zones (a bad new config is refused, the running one kept). On stop the open
  visits end, queued pings get a moment to go out, and a clean ``offline`` status is retained.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import deque
from pathlib import Path
from types import FrameType
from typing import Any

from edge.config.settings import ConfigError, Settings, load_settings
from edge.delivery.status import StatsTicker
from edge.service.core import Core, PublisherFactory, mqtt_publisher
from edge.service.lock import CameraLock
from edge.service.systemd import Notifier
from edge.vocabulary.types import Frame

log = logging.getLogger("dwell.service")

WAKE_S = 0.5  # longest the processing loop sleeps without frames (watchdog, acks, reload)
STATUS_EVERY_S = 10.0  # the publisher gets a fresh reading this often (and on every change);
# it re-publishes the retained status only when the state changed, counts go out with stats
STALL_S = 5.0  # no frame for this long from a live camera counts as "camera not ok"
FLUSH_S = 3.0  # on stop, how long queued pings may take to reach the broker
RESTART_KEYS = ("store", "camera", "state_dir", "models_dir", "source", "detector", "mqtt")


class FrameBox:
    """One slot between the capture and processing threads.

    ``drop=True`` (live camera): a new frame replaces one not yet taken (counted in
    ``dropped``). ``drop=False`` (file): ``put`` waits until the slot is free.
    """

    def __init__(self, drop: bool) -> None:
        self.drop = drop
        self.dropped = 0
        self._slot: Frame | None = None
        self._ended = False
        self._cond = threading.Condition()

    def put(self, frame: Frame, stop: threading.Event) -> None:
        with self._cond:
            if self._slot is not None:
                if self.drop:
                    self.dropped += 1
                else:
                    while self._slot is not None and not stop.is_set() and not self._ended:
                        self._cond.wait(WAKE_S)
            self._slot = frame
            self._cond.notify_all()

    def get(self, timeout: float) -> Frame | None:
        with self._cond:
            if self._slot is None and not self._ended:
                self._cond.wait(timeout)
            frame, self._slot = self._slot, None
            self._cond.notify_all()
            return frame

    def end(self) -> None:
        """No more frames will come (the file ended, or stopping)."""
        with self._cond:
            self._ended = True
            self._cond.notify_all()

    @property
    def ended(self) -> bool:
        with self._cond:
            return self._ended and self._slot is None


class Service:
    """`dwell run`: one camera, until stopped (or until a file ends when not looping)."""

    def __init__(self, settings: Settings, uri: str, *, config_path: str | Path | None = None,
                 realtime: bool = True, loop: bool = False,
                 notifier: Notifier | None = None,
                 publisher_factory: PublisherFactory = mqtt_publisher,
                 detector: Any = None) -> None:
        self.settings = settings
        # first: a second `dwell run` for this camera must not connect (it would kick us off)
        self.lock = CameraLock(settings.state_dir, settings.store, settings.camera).acquire()
        self.uri = uri
        self.config_path = config_path
        self.realtime, self.loop = realtime, loop
        self.notifier = notifier or Notifier()
        self.stop = threading.Event()
        self.reload_requested = threading.Event()
        self.failed: BaseException | None = None
        self.source: Any = None
        self.box: FrameBox | None = None
        self.perception: Any = None
        self._size: tuple[int, int] | None = None
        self._processed = 0
        self.detector = detector if detector is not None else _load_detector(settings)
        self.core = Core(settings, publisher_factory)
        self._frames_at: deque[float] = deque(maxlen=64)  # processing times, for fps
        self._last_frame = time.monotonic()
        self._status_sent: tuple[Any, ...] | None = None
        self._status_at = -1e9
        self._stats_ticker = StatsTicker(settings.mqtt.stats_interval_s)

    # -- main thread ------------------------------------------------------------------------

    def run(self, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or the file ends); 0 on a clean stop, 1 on a crash."""
        if install_signals:  # first: a stop while a stream is still opening is clean too
            self._install_signals()
        self.source = self._open_first()
        self.box = FrameBox(drop=not self._is_file())
        capture = threading.Thread(target=self._capture, name="capture", daemon=True)
        processing = threading.Thread(target=self._processing, name="processing", daemon=True)
        capture.start()
        processing.start()
        self.notifier.ready(f"watching {self.uri}")
        log.info("dwell running: source %s, broker %s:%s", self.uri, self.settings.mqtt.host,
                 self.settings.mqtt.port)
        while not self.stop.wait(WAKE_S):
            pass
        self.notifier.stopping("stopping: ending visits, flushing pings")
        log.info("stopping")
        self._close_live_source()
        self.box.end()
        processing.join(timeout=15)
        capture.join(timeout=10)
        self._flush_and_close()
        self.lock.release()
        self.notifier.close()
        if self.failed is not None:
            return 1
        return 0

    def request_stop(self) -> None:
        self.stop.set()

    def request_reload(self) -> None:
        self.reload_requested.set()

    def _install_signals(self) -> None:
        def on_stop(signum: int, frame: FrameType | None) -> None:
            log.info("got %s", signal.Signals(signum).name)
            self.stop.set()

        def on_hup(signum: int, frame: FrameType | None) -> None:
            self.reload_requested.set()

        signal.signal(signal.SIGTERM, on_stop)
        signal.signal(signal.SIGINT, on_stop)
        signal.signal(signal.SIGHUP, on_hup)

    def _is_file(self) -> bool:
        from edge.perception.sources import STREAM_SCHEMES

        text = self.uri.strip().lower()
        return not (text.isdigit() or text.startswith("/dev/video") or text == "picamera2"
                    or text.startswith(STREAM_SCHEMES))

    def _open(self) -> Any:
        from edge.perception.sources import open_source

        return open_source(self.uri, self.settings.source, realtime=self.realtime,
                           loop=self.loop)

    def _open_first(self) -> Any:
        """A file that cannot be opened is an error; a camera not there yet is retried."""
        from edge.vocabulary.errors import InputError

        try:
            return self._open()
        except InputError as exc:
            if self._is_file():
                raise
            log.warning("%s; retrying in the background", exc)
            return None

    def _close_live_source(self) -> None:
        # A live source's close is thread-safe and wakes its frames(); a file is closed by the
        # capture thread itself (releasing a capture mid-read from another thread is unsafe).
        if self.source is not None and not self._is_file():
            self.source.close()

    def _flush_and_close(self) -> None:
        """Final stats and queued pings out (briefly), then the clean ``offline`` status."""
        if self.failed is None:
            self.core.publish_stats()  # the processing thread has ended: safe from here
        # drain() waits for confirmations even across a reconnect during shutdown; a publisher
        # without an outbox (a test fake) has nothing to wait for.
        drain = getattr(self.core.publisher, "drain", None)
        left = drain(FLUSH_S) if drain is not None else 0
        if left:
            log.warning("%d ping(s) not confirmed by the broker; kept in the outbox for the "
                        "next start", left)
        self.core.publisher.close()

    # -- capture thread ---------------------------------------------------------------------

    def _capture(self) -> None:
        assert self.box is not None
        backoff = 1.0
        try:
            while not self.stop.is_set():
                if self.source is None:
                    self.source = self._reopen(backoff)
                    backoff = min(backoff * 2, self.settings.source.reconnect_max_s)
                    continue
                for frame in self.source.frames():
                    self.box.put(frame, self.stop)
                    if self.stop.is_set():
                        break
                if self._is_file():
                    break  # the end of the file (or stopping)
        except Exception as exc:  # a decoder crash: stop cleanly, exit 1
            log.exception("capture failed")
            self.failed = exc
            self.stop.set()
        finally:
            if self._is_file() and self.source is not None:
                self.source.close()
            self.box.end()

    def _reopen(self, backoff: float) -> Any:
        from edge.vocabulary.errors import InputError

        try:
            source = self._open()
        except InputError as exc:
            log.warning("%s; next try in %.0f s", exc, backoff)
            self.stop.wait(backoff)
            return None
        log.info("camera %s is delivering", self.uri)
        return source

    # -- processing thread ------------------------------------------------------------------

    def _processing(self) -> None:
        assert self.box is not None
        try:
            while not self.stop.is_set():
                frame = self.box.get(WAKE_S)
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self._reload()
                if frame is not None:
                    self._process(frame)
                elif self.box.ended:
                    break  # the file ended
                else:
                    self.core.drain_acks()
                self.notifier.watchdog()
                self._tick()
            self.core.drain_acks()
            self.core.finish()
            dropped = self.box.dropped + int(getattr(getattr(self.source, "stats", None),
                                                     "dropped", 0) or 0)
            log.info("processing ended after %.1f s of input; %d frames processed, %d dropped "
                     "(live frames it had no time for)", self.core.last_t,
                     self._processed, dropped)
        except Exception as exc:
            log.exception("processing failed")
            self.failed = exc
        finally:
            self.stop.set()

    def _process(self, frame: Frame) -> None:
        size = (int(frame.image.shape[1]), int(frame.image.shape[0]))
        if self.perception is None or self._size != size:
            self._start_perception(size)
        detections = self.perception.observe(frame, self.core.tracking)
        self.core.step(frame.t, detections)
        now = time.monotonic()
        self._last_frame = now
        self._frames_at.append(now)
        self._processed += 1

    def _start_perception(self, size: tuple[int, int]) -> None:
        from edge.perception.perceiver import Perception

        self._size = size
        self.perception = Perception(self.settings, size, detector=self.detector)
        self.core.start_pipeline(size)

    def _reload(self) -> None:
        try:
            new = load_settings(self.config_path)
        except ConfigError as exc:
            log.error("reload refused, the running configuration is kept:\n%s", exc)
            return
        later = [key for key in RESTART_KEYS if getattr(new, key) != getattr(self.settings, key)]
        if later:
            log.warning("reload: changes to %s take effect only after a restart",
                        ", ".join(later))
        old = self.settings
        self.settings = new
        self.core.reload(new)
        if self._size is not None and (new.motion != old.motion or new.yaw != old.yaw):
            self._start_perception(self._size)
        log.info("reloaded thresholds and zones (%d zones); current visits kept", len(new.zones))
        self.notifier.status("configuration reloaded")

    def _camera_ok(self, now: float) -> bool:
        if self.source is None:
            return False
        stats_ok = bool(getattr(getattr(self.source, "stats", None), "ok", True))
        return stats_ok and (self._is_file() or now - self._last_frame < STALL_S)

    def _fps(self, now: float) -> float | None:
        recent = [t for t in self._frames_at if now - t < 5.0]
        if len(recent) < 2:
            return 0.0 if self.source is not None else None
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def _tick(self) -> None:
        now = time.monotonic()
        camera_ok = self._camera_ok(now)
        snapshot = self.core.status(camera_ok, self._fps(now))
        key = (snapshot.camera_ok, snapshot.visitors_now)
        if key != self._status_sent or now - self._status_at >= STATUS_EVERY_S:
            if self._status_sent is not None and key[0] != self._status_sent[0]:
                log.warning("camera %s", "ok again" if camera_ok else "lost: retrying")
            self._status_sent, self._status_at = key, now
            self.core.publisher.set_status(snapshot)
            self.notifier.status(f"camera {'ok' if camera_ok else 'LOST'}, "
                                 f"{snapshot.visitors_now} visitor(s)")
        if self._stats_ticker.due(now):
            self.core.publish_stats()


def _load_detector(settings: Settings) -> Any:
    """Load the person detector before READY=1, so a missing model fails at start, clearly."""
    from edge.perception.detector import load_detector

    return load_detector(settings)
