"""Frame sources: a video file, a V4L2 camera, an RTSP/HTTP stream, a Pi CSI camera.

A file is read frame by frame and never dropped, ``t`` = frame index / fps, so a replay gives
exactly the same frames every time. A live source captures in its own thread into a one-slot
latest-frame box (older frames the processing thread had no time for are dropped and counted),
stamps ``t`` from a monotonic clock relative to its start, and reopens a lost camera or stream
with exponential backoff without ending the process. This module is the only one that reads a
clock; every stage below takes ``t`` from the frame.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import cv2
import numpy as np

from edge.config.sections import SourceConfig
from edge.vocabulary.errors import InputError
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


@dataclass
class SourceStats:
    """Counters a source keeps; ``ok`` is False while a live camera is not delivering."""

    frames: int = 0
    dropped: int = 0
    corrupt: int = 0
    reconnects: int = 0
    ok: bool = True


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


class FileSource:
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
        self.stats = SourceStats()
        self._closed = False
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


class LiveSource:
    """A camera or stream read in its own thread into a one-slot latest-frame box.

    ``opener`` returns a fresh capture each time it is called (at start and on every
    reconnect). Waits between failed attempts double from ``backoff_start_s`` up to
    ``reconnect_max_s``; ``stats.ok`` is False while the camera is down.
    """

    def __init__(self, name: str, opener: Callable[[], Capture], cfg: SourceConfig, *,
                 clock: Callable[[], float] = time.monotonic,
                 backoff_start_s: float = 0.5) -> None:
        self.name = name
        self._opener = opener
        self._reconnect_max_s = cfg.reconnect_max_s
        self._backoff_start_s = backoff_start_s
        self._clock = clock
        self.stats = SourceStats()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._slot: Frame | None = None
        cap = opener()
        if not cap.isOpened():
            cap.release()
            raise InputError(f"cannot open camera/stream {name!r} (unplugged, wrong device "
                             "or URL, or no permission?)")
        ok, first = cap.read()
        if not ok or not _valid(first):
            cap.release()
            raise InputError(f"camera/stream {name!r} opened but delivered no picture")
        self.size = (int(first.shape[1]), int(first.shape[0]))
        fps = cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and np.isfinite(fps) and 0 < fps <= 240 else (
            cfg.fps or 30.0)
        self._start = clock()
        self._index = 0
        self._put(first)
        self._thread = threading.Thread(target=self._run, args=(cap,), name=f"capture-{name}",
                                        daemon=True)
        self._thread.start()

    def _put(self, image: np.ndarray) -> None:
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
                cap = self._reopen()
                if cap is None:
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, self._reconnect_max_s)
                    continue
            ok, image = cap.read()
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

    def _reopen(self) -> Capture | None:
        self.stats.reconnects += 1
        try:
            cap = self._opener()
        except Exception as exc:  # a driver or picamera2 error: retry later, never crash
            log.warning("%s: reopen failed: %s", self.name, exc)
            return None
        if cap.isOpened():
            log.info("%s: reopened", self.name)
            return cap
        cap.release()
        return None

    def frames(self) -> Iterator[Frame]:
        while not self._stop.is_set():
            with self._cond:
                if self._slot is None:
                    self._cond.wait(timeout=0.5)  # wake up now and then to notice close()
                frame, self._slot = self._slot, None
            if frame is not None:
                yield frame

    def close(self) -> None:
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


def open_source(uri: str, cfg: SourceConfig, *, realtime: bool = False,
                loop: bool = False) -> FileSource | LiveSource:
    """A source for ``uri``: a file path, a V4L2 index or /dev/videoN, a stream URL, or
    ``picamera2``. ``realtime`` and ``loop`` apply to files (a live camera is real time)."""
    text = uri.strip()
    if text.isdigit() or text.startswith("/dev/video"):
        target: str | int = int(text) if text.isdigit() else text
        if isinstance(target, str) and not Path(target).exists():
            raise InputError(f"no such camera device {text!r}")
        return LiveSource(text, _cv2_opener(target, cv2.CAP_V4L2, cfg), cfg)
    if text.lower().startswith(STREAM_SCHEMES):
        return LiveSource(text, _cv2_opener(text, cv2.CAP_FFMPEG, cfg), cfg)
    if text.lower() == "picamera2":
        return LiveSource("picamera2", lambda: Picamera2Capture(cfg), cfg)
    if "://" in text:
        raise InputError(f"unsupported source URL {text!r}: use rtsp://, http(s)://, a file "
                         "path, a camera index, /dev/videoN or picamera2")
    return FileSource(text, realtime=realtime, loop=loop)
