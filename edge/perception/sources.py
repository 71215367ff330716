"""Frame sources: a video file, a V4L2 camera, an RTSP/HTTP stream, a Pi CSI camera.

A file is read frame by frame on the reader's thread and never dropped, ``t`` = frame index /
fps, so a replay gives exactly the same frames every time. A live source is the one capture
path of a live sensor: its own thread reads into a one-slot latest-frame box (older frames the
processing thread had no time for are dropped and counted), stamps ``t`` from a monotonic clock
relative to its start, and reopens a lost camera or stream with exponential backoff without
ending the process. Asked to (``wait_for_camera``), it also waits for a camera that is not
there yet, so a sensor booted before its camera still comes up. This module is the only one
that reads a clock; every stage below takes ``t`` from the frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, Protocol

import cv2
import numpy as np

from edge.config.sections import SourceConfig
from edge.vocabulary.errors import InputError
from edge.vocabulary.interfaces import FrameSource, SourceStats
from edge.vocabulary.types import Frame

log = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
PICAMERA2_HELP = (
    "picamera2 is not importable. On Raspberry Pi OS: `sudo apt install python3-picamera2`, "
    "then a venv made with `python3 -m venv --system-site-packages`, and in it "
    "`pip install 'opencv-python-headless==4.11.0.86' 'numpy<2'` (Debian's picamera2 is built "
    "against numpy 1.x and fails to import with numpy 2)."
)
# After this many failed reads in a row a file is truncated for good, not just one bad frame.
MAX_CORRUPT_RUN = 25


class Capture(Protocol):
    """The part of cv2.VideoCapture a source uses (a fake in unit tests)."""

    def isOpened(self) -> bool: ...

    def read(self) -> tuple[bool, Any]: ...

    def get(self, prop: int) -> float: ...

    def release(self) -> None: ...


def _valid(image: Any) -> bool:
    """A frame worth processing: a non-empty HxWx3 uint8 image."""
    return (isinstance(image, np.ndarray) and image.ndim == 3 and image.shape[2] == 3
            and image.size > 0 and image.dtype == np.uint8)


class FileSource(FrameSource):
    """A video file: every frame in order, ``t`` = index / fps.

    ``realtime`` paces delivery at the file's fps, like a camera would (for demos and for
    testing the live path); ``loop`` starts again at the end with ``t`` still increasing.
    """

    def __init__(self, path: str | Path, *, realtime: bool = False, loop: bool = False,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise InputError("no such video file", self.path)
        self.realtime, self.loop = realtime, loop
        self._clock, self._sleep = clock, sleep
        self.live = False
        self.stats = SourceStats()
        self._closed = False
        self._ended = False
        self._reading: Iterator[Frame] | None = None
        self._cap = self._open()
        fps = self._cap.get(cv2.CAP_PROP_FPS)
        if not fps or not np.isfinite(fps) or fps <= 0 or fps > 1000:
            raise InputError("cannot tell the video's frame rate", self.path)
        self.fps = float(fps)
        self.size = (int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                     int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        if self.size[0] <= 0 or self.size[1] <= 0:
            raise InputError("the video has no picture size (not a video?)", self.path)
        self._length = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))

    def _open(self) -> cv2.VideoCapture:
        cap = cv2.VideoCapture(str(self.path))
        if not cap.isOpened():
            raise InputError("cannot open as a video (unreadable, or not a video format "
                             "OpenCV's FFmpeg can decode)", self.path)
        return cap

    def frames(self) -> Iterator[Frame]:
        index = 0  # frame position in the input (across loops): t = index / fps
        start = self._clock()
        while not self._closed:
            delivered = False
            for image in self._read_pass():
                if image is not None:
                    if self.realtime:
                        self._pace(start, index)
                    self.stats.frames += 1
                    delivered = True
                    yield Frame(image, index / self.fps, index)
                index += 1
                if self._closed:
                    return
            if not (self.loop and delivered):
                return
            self._cap.release()
            self._cap = self._open()

    def next_frame(self, timeout: float = 0.0) -> Frame | None:
        """The next frame (``timeout`` is not needed: a file never waits for a camera)."""
        if self._reading is None:
            self._reading = self.frames()
        frame = next(self._reading, None)
        self._ended = frame is None
        return frame

    @property
    def ended(self) -> bool:
        return self._ended or self._closed

    def _read_pass(self) -> Iterator[np.ndarray | None]:
        """Each frame position once: the image, or None for a corrupt/empty frame (counted)."""
        bad_run = 0
        position = 0
        while bad_run < MAX_CORRUPT_RUN:
            ok, image = self._cap.read()
            if ok and _valid(image):
                bad_run = 0
                position += 1
                yield image
                continue
            if not ok and (self._length <= 0 or position >= self._length):
                return  # the end, not a bad frame
            # A frame FFmpeg could not decode (or decoded to nothing): skip it, keep time right.
            bad_run += 1
            position += 1
            self.stats.corrupt += 1
            log.debug("%s: skipped corrupt frame %d", self.path, position)
            yield None
        log.warning("%s: %d unreadable frames in a row; treating the rest as lost",
                    self.path, MAX_CORRUPT_RUN)

    def _pace(self, start: float, index: int) -> None:
        wait = start + index / self.fps - self._clock()
        if wait > 0:
            self._sleep(wait)

    def close(self) -> None:
        self._closed = True
        self._cap.release()


class LiveSource(FrameSource):
    """A camera or stream read in its own thread into a one-slot latest-frame box.

    ``opener`` returns a fresh capture each time it is called (at start and on every
    reconnect; it may raise InputError, e.g. for a device that is not plugged in). Waits
    between failed attempts double from ``backoff_start_s`` up to ``reconnect_max_s``;
    ``stats.ok`` is False while the camera is down. A camera that cannot be opened at start is
    an InputError, unless ``wait_for_camera``: then it is retried in the background like a
    lost one (``size`` stays None until it delivers).
    """

    def __init__(self, name: str, opener: Callable[[], Capture], cfg: SourceConfig, *,
                 clock: Callable[[], float] = time.monotonic,
                 backoff_start_s: float = 0.5, wait_for_camera: bool = False) -> None:
        self.name = name
        self.live = True
        self._opener = opener
        self._reconnect_max_s = cfg.reconnect_max_s
        self._backoff_start_s = backoff_start_s
        self._clock = clock
        self.stats = SourceStats()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        self._index = 0
        self.size: tuple[int, int] | None = None
        self.fps = cfg.fps or 30.0
        try:
            cap, first = self._open_first()
        except InputError as exc:
            if not wait_for_camera:
                raise
            log.warning("%s; retrying in the background", exc)
            self.stats.ok = False
            cap, first = None, None
        self._start = clock()
        if first is not None:
            self._put(first)
        self._thread = threading.Thread(target=self._run, args=(cap,), name=f"capture-{name}",
                                        daemon=True)
        self._thread.start()

    def _open_first(self) -> tuple[Capture, np.ndarray]:
        cap = self._opener()
        if not cap.isOpened():
            cap.release()
            raise InputError(f"cannot open camera/stream {self.name!r} (unplugged, wrong "
                             "device or URL, or no permission?)")
        ok, first = cap.read()
        if not ok or not _valid(first):
            cap.release()
            raise InputError(f"camera/stream {self.name!r} opened but delivered no picture")
        self._opened(cap)
        return cap, first

    def _opened(self, cap: Capture) -> None:
        fps = cap.get(cv2.CAP_PROP_FPS)
        if fps and np.isfinite(fps) and 0 < fps <= 240:
            self.fps = float(fps)

    def _put(self, image: np.ndarray) -> None:
        if self.size is None:
            self.size = (int(image.shape[1]), int(image.shape[0]))
        frame = Frame(image, self._clock() - self._start, self._index)
        self._index += 1
        with self._cond:
            if self._slot is not None:
                self.stats.dropped += 1  # the processing thread fell behind: keep the newest
            self._slot = frame
            self.stats.frames += 1
            self._cond.notify()

    def _run(self, cap: Capture | None) -> None:
        backoff = self._backoff_start_s
        while not self._stop.is_set():
            if cap is None:
                cap = self._reopen(backoff)
                if cap is None:
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self._reconnect_max_s)
                    continue
            ok, image = self._read(cap)
            if ok and _valid(image):
                self.stats.ok = True
                backoff = self._backoff_start_s
                self._put(image)
            elif ok:
                self.stats.corrupt += 1
            else:
                log.warning("%s: lost (read failed); reconnecting", self.name)
                self.stats.ok = False
                cap.release()
                cap = None
                self._stop.wait(backoff)
                backoff = min(backoff * 2, self._reconnect_max_s)
        if cap is not None:
            cap.release()

    def _read(self, cap: Capture) -> tuple[bool, Any]:
        try:
            return cap.read()
        except Exception as exc:  # a driver or decoder error: treated as a lost camera
            log.warning("%s: read failed: %s", self.name, exc)
            return False, None

    def _reopen(self, backoff: float) -> Capture | None:
        self.stats.reconnects += 1
        try:
            cap = self._opener()
        except Exception as exc:  # a driver or picamera2 error: retry later, never crash
            log.warning("%s: not delivering (%s); next try in %.1f s", self.name, exc, backoff)
            return None
        if cap.isOpened():
            log.info("%s: opened, delivering", self.name)
            self._opened(cap)
            return cap
        cap.release()
        log.warning("%s: cannot open yet; next try in %.1f s", self.name, backoff)
        return None

    def next_frame(self, timeout: float) -> Frame | None:
        """The newest frame not yet taken, waiting up to ``timeout`` s for one."""
        with self._cond:
            if self._slot is None and not self._stop.is_set():
                self._cond.wait(timeout)
            frame, self._slot = self._slot, None
        return frame

    def frames(self) -> Iterator[Frame]:
        while not self._stop.is_set():
            frame = self.next_frame(0.5)  # wake up now and then to notice close()
            if frame is not None:
                yield frame

    @property
    def ended(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        """Thread-safe: wakes a reader waiting in ``next_frame``/``frames``."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)


class Picamera2Capture:
    """A Raspberry Pi CSI camera through picamera2, shaped like cv2.VideoCapture."""

    def __init__(self, cfg: SourceConfig) -> None:
        try:
            from picamera2 import Picamera2  # only on a Pi, only when asked for
        except ImportError as exc:
            raise InputError(f"{PICAMERA2_HELP} ({exc})") from None
        size = (cfg.width or 640, cfg.height or 480)
        self._cam = Picamera2()
        # "RGB888" in libcamera's naming is B,G,R byte order: exactly what OpenCV expects.
        config = self._cam.create_video_configuration(main={"size": size, "format": "RGB888"})
        self._cam.configure(config)
        self._cam.start()
        self._fps = cfg.fps or 30.0
        self._open = True

    def isOpened(self) -> bool:
        return self._open

    def read(self) -> tuple[bool, Any]:
        try:
            return True, self._cam.capture_array("main")
        except Exception as exc:  # camera gone: the live source reconnects
            log.warning("picamera2 capture failed: %s", exc)
            return False, None

    def get(self, prop: int) -> float:
        return float(self._fps) if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        if self._open:
            self._open = False
            self._cam.stop()
            self._cam.close()


def _cv2_opener(target: str | int, api: int, cfg: SourceConfig) -> Callable[[], Capture]:
    def open_capture() -> Capture:
        cap = cv2.VideoCapture(target, api)
        if cap.isOpened():
            if cfg.width:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, cfg.width)
            if cfg.height:
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, cfg.height)
            if cfg.fps:
                cap.set(cv2.CAP_PROP_FPS, cfg.fps)
            # Keep the driver's own queue short: the latest-frame box drops, not the driver.
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return cap

    return open_capture


SourceKind = Literal["file", "camera", "stream", "picamera2"]


def source_kind(uri: str) -> SourceKind:
    """What ``uri`` names: a V4L2 index or /dev/videoN (camera), an rtsp/http(s) URL (stream),
    ``picamera2``, or else a file path. Any other URL is an InputError naming it."""
    text = uri.strip()
    if text.isdigit() or text.startswith("/dev/video"):
        return "camera"
    if text.lower().startswith(STREAM_SCHEMES):
        return "stream"
    if text.lower() == "picamera2":
        return "picamera2"
    if "://" in text:
        raise InputError(f"unsupported source URL {text!r}: use rtsp://, http(s)://, a file "
                         "path, a camera index, /dev/videoN or picamera2")
    return "file"


def open_source(uri: str, cfg: SourceConfig, *, realtime: bool = False, loop: bool = False,
                wait_for_camera: bool = False) -> FileSource | LiveSource:
    """A source for ``uri`` (see ``source_kind``). ``realtime`` and ``loop`` apply to files (a
    live camera is real time); ``wait_for_camera`` makes a live source that is not there yet
    retry in the background instead of failing (a file that is not there always fails)."""
    text = uri.strip()
    kind = source_kind(text)
    if kind == "file":
        return FileSource(text, realtime=realtime, loop=loop)
    if kind == "picamera2":
        opener: Callable[[], Capture] = lambda: Picamera2Capture(cfg)  # noqa: E731
    elif kind == "stream":
        opener = _cv2_opener(text, cv2.CAP_FFMPEG, cfg)
    else:
        opener = _v4l2_opener(text, cfg)
    return LiveSource(text, opener, cfg, wait_for_camera=wait_for_camera)


def _v4l2_opener(text: str, cfg: SourceConfig) -> Callable[[], Capture]:
    target: str | int = int(text) if text.isdigit() else text
    open_capture = _cv2_opener(target, cv2.CAP_V4L2, cfg)

    def open_device() -> Capture:
        if isinstance(target, str) and not Path(target).exists():
            raise InputError(f"no such camera device {text!r}")
        return open_capture()

    return open_device
