"""The live service: the source's capture thread -> one processing thread -> paho's thread.

- Capture is the source's own business (``edge.perception.sources``): a live camera's thread
  fills a one-slot latest-frame box (older frames are dropped and counted) and reopens a camera
  that was lost, or not there yet at start, with backoff; a file is read on the processing
  thread itself and never dropped.
- The processing thread owns everything stateful (the ``Sensor``: perception, pipeline; the
  MQTT link's counters: no locks). It wakes at least twice a second even without frames, so
  acks, SIGHUP reloads, status ("camera lost") and the systemd watchdog keep going while the
  camera is down. Feeding the watchdog from this loop is deliberate: a stuck loop stops the
  pings and systemd restarts us.
- One stop Event. SIGTERM/SIGINT set it; SIGHUP asks the processing thread to reload the
  thresholds and zones (a bad new config is refused, the running one kept). On stop the open
  visits end, queued pings get a moment to go out, and a clean ``offline`` status is retained.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
import time
from collections import deque
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from edge.config.settings import ConfigError, Settings, load_settings, resolve_config_path
from edge.delivery.status import StatsTicker
from edge.service.core import MqttLink, PublisherFactory, log_event, mqtt_publisher
from edge.service.lock import CameraLock
from edge.service.sensor import Sensor
from edge.service.systemd import Notifier
from edge.vocabulary.interfaces import Detector, FrameSource
from edge.vocabulary.status import StatusSnapshot
from edge.vocabulary.types import Frame

if TYPE_CHECKING:
    from edge.console.server import ConsoleServer
    from edge.offline.rolling import RollingTrace

log = logging.getLogger("dwell.service")

WAKE_S = 0.5  # longest the processing loop sleeps without frames (watchdog, acks, reload)
STATUS_EVERY_S = 10.0  # the publisher gets a fresh reading this often (and on every change);
# it re-publishes the retained status only when the state changed, counts go out with stats
STALL_S = 5.0  # no frame for this long from a live camera counts as "camera not ok"
FLUSH_S = 3.0  # on stop, how long queued pings may take to reach the broker
RESTART_KEYS = ("store", "camera", "state_dir", "models_dir", "source", "detector", "mqtt",
                "console", "record")


def open_live_source(uri: str, settings: Settings, realtime: bool, loop: bool) -> FrameSource:
    """A file that cannot be opened is an error; a camera not there yet is waited for."""
    from edge.perception.sources import open_source

    return open_source(uri, settings.source, realtime=realtime, loop=loop,
                       wait_for_camera=True)


class Service:
    """`dwell run`: one camera, until stopped (or until a file ends when not looping)."""

    def __init__(self, settings: Settings, uri: str, *, config_path: str | Path | None = None,
                 realtime: bool = True, loop: bool = False,
                 notifier: Notifier | None = None,
                 publisher_factory: PublisherFactory = mqtt_publisher,
                 detector: Detector | None = None) -> None:
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
        self.source: FrameSource | None = None
        self.sensor = Sensor(settings, detector=detector)
        self.sensor.load_detector()  # before READY=1, so a missing model fails at start
        self.rolling = self._rolling_trace(settings)
        self.link = MqttLink(settings, self.sensor.on_ack, publisher_factory)
        self.sensor.sinks += [log_event, self.link.on_event]  # said (logged), then sent
        self._processed = 0
        self._frames_at: deque[float] = deque(maxlen=64)  # processing times, for fps
        self._last_frame = time.monotonic()
        self._status_sent: tuple[bool | None, int | None] | None = None
        self._status_at = -1e9
        self._stats_ticker = StatsTicker(settings.mqtt.stats_interval_s)
        self._health: dict[str, Any] = {}
        self._snap_wanted = threading.Event()
        self._snap: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        try:
            self.console = self._attach_console() if settings.console.listen else None
        except Exception:  # the console cannot listen: nothing of this start stays behind
            self.link.publisher.close()
            self.lock.release()
            raise

    def _rolling_trace(self, settings: Settings) -> RollingTrace | None:
        """[record] keep_days: every frame the detector saw, anonymous, in state_dir/trace."""
        if not settings.record.keep_days:
            return None
        from edge.offline.rolling import RollingTrace

        rolling = RollingTrace(settings.state_dir, settings.record.keep_days,
                               lambda: self.sensor.frame_size, settings.source.fps or 10.0)
        self.sensor.looked.append(rolling.write)
        return rolling

    def _attach_console(self) -> ConsoleServer:
        """[console] listen is set: the owner's console watches this sensor; its saves reload
        it exactly as SIGHUP does (the file is read again on the processing thread)."""
        from edge.service.console_host import attach_live

        return attach_live(self.sensor, self.settings, config_path=(
            Path(self.config_path) if self.config_path else resolve_config_path(None)),
            reload=lambda _: self.request_reload(), health=lambda: self._health,
            snapshot=self.snapshot)

    def snapshot(self, timeout: float = 3.0) -> bytes | None:
        """One JPEG of the next frame, in memory only (the console's zone drawing; never
        written to disk). Any thread; None when no frame came within ``timeout``."""
        self._snap_wanted.set()
        try:
            return self._snap.get(timeout=timeout)
        except queue.Empty:
            return None

    # -- main thread ------------------------------------------------------------------------

    def run(self, install_signals: bool = True) -> int:
        """Run until SIGTERM/SIGINT (or the file ends); 0 on a clean stop, 1 on a crash."""
        if install_signals:  # first: a stop while a stream is still opening is clean too
            self._install_signals()
        source = self.source = open_live_source(self.uri, self.settings, self.realtime,
                                                self.loop)
        processing = threading.Thread(target=self._processing, args=(source,),
                                      name="processing", daemon=True)
        processing.start()
        self.notifier.ready(f"watching {self.uri}")
        log.info("dwell running: source %s, broker %s:%s", self.uri, self.settings.mqtt.host,
                 self.settings.mqtt.port)
        while not self.stop.wait(WAKE_S):
            pass
        self.notifier.stopping("stopping: ending visits, flushing pings")
        log.info("stopping")
        if source.live:  # thread-safe, and wakes the processing thread's next_frame
            source.close()
        processing.join(timeout=15)
        self._flush_and_close()
        self.lock.release()
        self.notifier.close()
        return 1 if self.failed is not None else 0

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

    def _flush_and_close(self) -> None:
        """Final stats and queued pings out (briefly), then the clean ``offline`` status."""
        if self.failed is None:
            self.link.publish_stats()  # the processing thread has ended: safe from here
        # drain() waits for confirmations even across a reconnect during shutdown
        left = self.link.publisher.drain(FLUSH_S)
        if left:
            log.warning("%d ping(s) not confirmed by the broker; kept in the outbox for the "
                        "next start", left)
        self.link.publisher.close()
        if self.console is not None:
            self.console.stop()

    # -- processing thread ------------------------------------------------------------------

    def _processing(self, source: FrameSource) -> None:
        try:
            while not self.stop.is_set():
                frame = source.next_frame(WAKE_S)
                if self.reload_requested.is_set():
                    self.reload_requested.clear()
                    self.sensor.flush()  # the frame with the detector, on the old settings
                    self._reload()
                if frame is not None:
                    self._process(frame)
                elif source.ended:
                    break  # the file ended
                else:  # no frame for WAKE_S: the last one's step does not wait for the camera
                    self.sensor.flush()
                    self.sensor.drain_acks()
                self.notifier.watchdog()
                self._tick(source)
            self.sensor.drain_acks()
            self.sensor.finish()
            if self.rolling is not None:
                self.rolling.close()
            log.info("processing ended after %.1f s of input; %d frames processed, %d dropped "
                     "(live frames it had no time for)", self.sensor.last_t,
                     self._processed, source.stats.dropped)
        except Exception as exc:  # a decoder or stage crash: stop cleanly, exit 1
            log.exception("processing failed")
            self.failed = exc
        finally:
            self.stop.set()
            if not source.live:  # a file is read (and so closed) on this thread
                source.close()

    def _process(self, frame: Frame) -> None:
        if self._snap_wanted.is_set():
            import cv2

            self._snap_wanted.clear()
            ok, jpeg = cv2.imencode(".jpg", frame.image)
            self._snap.put(jpeg.tobytes() if ok else None)
        self.sensor.feed(frame)
        now = time.monotonic()
        self._last_frame = now
        self._frames_at.append(now)
        self._processed += 1

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
        self.settings = new
        self.sensor.reload(new)
        log.info("reloaded thresholds and zones (%d zones); current visits kept", len(new.zones))
        self.notifier.status("configuration reloaded")

    def _health_of(self, snapshot: StatusSnapshot, source: FrameSource) -> dict[str, Any]:
        """What the console shows about the sensor (built here, on the processing thread)."""
        publisher = self.link.publisher
        delivery = getattr(publisher, "delivery", None)
        counters = delivery() if delivery is not None else None
        outbox = getattr(publisher, "outbox", None)
        return {"mode": "live", "source": self.uri, "camera_ok": snapshot.camera_ok,
                "fps": None if snapshot.fps is None else round(snapshot.fps, 1),
                "dropped": source.stats.dropped, "visitors_now": snapshot.visitors_now,
                "broker_connected": getattr(publisher, "connected", None),
                "outbox": len(outbox) if outbox is not None else None,
                "pings_confirmed": counters.confirmed if counters is not None else None}

    def _camera_ok(self, source: FrameSource, now: float) -> bool:
        return source.stats.ok and (not source.live or now - self._last_frame < STALL_S)

    def _fps(self, source: FrameSource, now: float) -> float | None:
        recent = [t for t in self._frames_at if now - t < 5.0]
        if len(recent) < 2:
            return 0.0 if source.stats.frames else None
        return (len(recent) - 1) / max(recent[-1] - recent[0], 1e-6)

    def _tick(self, source: FrameSource) -> None:
        now = time.monotonic()
        camera_ok = self._camera_ok(source, now)
        snapshot = StatusSnapshot(camera_ok, self._fps(source, now), self.sensor.visitors_now)
        if self.console is not None:
            self._health = self._health_of(snapshot, source)
        key = (snapshot.camera_ok, snapshot.visitors_now)
        if key != self._status_sent or now - self._status_at >= STATUS_EVERY_S:
            if self._status_sent is not None and key[0] != self._status_sent[0]:
                log.warning("camera %s", "ok again" if camera_ok else "lost: retrying")
            self._status_sent, self._status_at = key, now
            self.link.publisher.set_status(snapshot)
            self.notifier.status(f"camera {'ok' if camera_ok else 'LOST'}, "
                                 f"{snapshot.visitors_now} visitor(s)")
        if self._stats_ticker.due(now):
            self.link.publish_stats()
