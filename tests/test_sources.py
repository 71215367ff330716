"""Frame sources: files (synthetic, corrupted, real footage) and the live capture thread."""

from __future__ import annotations

import queue
import threading
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.config.sections import SourceConfig
from edge.perception.sources import FileSource, LiveSource, open_source
from edge.vocabulary.errors import InputError
from tests.conftest import shared_file

CFG = SourceConfig()  # type: ignore[call-arg]


def write_video(path: Path, n: int = 20, fps: float = 10.0) -> Path:
    """An MJPG .avi whose frame i has mean grey level ~ 10*i (so frames can be told apart)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (64, 48))
    assert writer.isOpened()
    for i in range(n):
        writer.write(np.full((48, 64, 3), 10 * i, np.uint8))
    writer.release()
    return path


def corrupt_frames(path: Path, which: list[int]) -> Path:
    """Zero the start of the given frames' JPEG data, so FFmpeg cannot decode them."""
    data = bytearray(path.read_bytes())
    starts = [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xD8]
    for k in which:
        data[starts[k]:starts[k] + 200] = bytes(200)
    out = path.with_name("corrupt.avi")
    out.write_bytes(bytes(data))
    return out


def test_file_yields_every_frame_with_t_from_index(tmp_path: Path) -> None:
    source = open_source(str(write_video(tmp_path / "v.avi")), CFG)
    assert (source.fps, source.size) == (10.0, (64, 48))
    frames = list(source.frames())
    assert [f.index for f in frames] == list(range(20))
    assert [f.t for f in frames] == pytest.approx([i / 10 for i in range(20)])
    levels = [float(f.image.mean()) for f in frames]
    assert levels == sorted(levels)  # in order, none skipped or repeated
    assert (source.stats.frames, source.stats.dropped, source.stats.corrupt) == (20, 0, 0)


def test_corrupt_frames_are_skipped_counted_and_time_stays_right(tmp_path: Path) -> None:
    path = corrupt_frames(write_video(tmp_path / "v.avi"), [5, 6, 7])
    source = open_source(str(path), CFG)
    frames = list(source.frames())
    assert [f.index for f in frames] == [i for i in range(20) if i not in (5, 6, 7)]
    assert frames[5].t == pytest.approx(0.8)
    assert source.stats.corrupt == 3
    assert source.stats.frames == 17


def test_loop_repeats_with_t_increasing(tmp_path: Path) -> None:
    source = open_source(str(write_video(tmp_path / "v.avi", n=5)), CFG, loop=True)
    frames = []
    for frame in source.frames():
        frames.append(frame)
        if len(frames) == 12:
            source.close()
    assert [f.index for f in frames] == list(range(12))
    assert np.all(np.diff([f.t for f in frames]) > 0)
    assert frames[5].image.mean() == pytest.approx(frames[0].image.mean(), abs=2)


def test_realtime_paces_at_the_file_fps(tmp_path: Path) -> None:
    now = [100.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        now[0] += s

    source = FileSource(write_video(tmp_path / "v.avi", n=5), realtime=True,
                        clock=lambda: now[0], sleep=sleep)
    ts = [f.t for f in source.frames()]
    assert ts == pytest.approx([0, 0.1, 0.2, 0.3, 0.4])
    assert now[0] == pytest.approx(100.4)  # frame i handed out no earlier than start + i/fps
    assert slept == pytest.approx([0.1] * 4)


@pytest.mark.parametrize(("uri", "words"), [
    ("missing.mp4", "no such video file"),
    ("ftp://example.org/cam", "unsupported source URL"),
    ("/dev/video97", "no such camera device"),
])
def test_bad_uri_names_it(uri: str, words: str) -> None:
    with pytest.raises(InputError, match=words) as err:
        open_source(uri, CFG)
    assert uri in str(err.value)


def test_unreadable_file_names_it(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.mp4"
    bogus.write_text("not a video\n")
    with pytest.raises(InputError, match="cannot open as a video") as err:
        open_source(str(bogus), CFG)
    assert str(bogus) in str(err.value)


def test_picamera2_missing_says_how_to_install() -> None:
    pytest.importorskip("cv2")
    try:
        import picamera2  # noqa: F401
    except ImportError:
        pass
    else:  # pragma: no cover - only on a Pi
        pytest.skip("picamera2 is installed here")
    with pytest.raises(InputError, match="python3-picamera2") as err:
        open_source("picamera2", CFG)
    assert "numpy<2" in str(err.value) and "--system-site-packages" in str(err.value)


@pytest.mark.perception
def test_real_footage_file() -> None:
    video = shared_file("footage/TUD-Stadtmitte/TUD-Stadtmitte.mp4")
    source = open_source(str(video), CFG)
    assert (source.fps, source.size) == (25.0, (640, 480))
    frames = list(source.frames())
    assert len(frames) == 179 and frames[-1].t == pytest.approx(178 / 25)
    assert source.stats.corrupt == 0


# ---- live sources, with a fake capture (the thread, box, drops and reconnects are real) ----

IMG = np.zeros((48, 64, 3), np.uint8)


class FakeCapture:
    """Plays a script: an image -> a frame, "bad" -> ok but empty, "fail" -> read error.

    When the script runs out it reports a read error, like an unplugged camera.
    """

    def __init__(self, script: list[Any], opened: bool = True) -> None:
        self.items: queue.Queue[Any] = queue.Queue()
        for item in script:
            self.items.put(item)
        self.opened = opened
        self.released = threading.Event()

    def isOpened(self) -> bool:
        return self.opened

    def read(self) -> tuple[bool, Any]:
        try:
            item = self.items.get(timeout=0.01)
        except queue.Empty:
            return False, None
        if isinstance(item, str):
            return (item == "bad"), None
        return True, item

    def get(self, prop: int) -> float:
        return 15.0 if prop == cv2.CAP_PROP_FPS else 0.0

    def release(self) -> None:
        self.released.set()


class Opener:
    """Hands out the given captures in order, then unopened ones (the camera stays gone)."""

    def __init__(self, *caps: FakeCapture) -> None:
        self.caps = list(caps)
        self.calls = 0

    def __call__(self) -> FakeCapture:
        self.calls += 1
        return self.caps.pop(0) if self.caps else FakeCapture([], opened=False)


def wait_for(cond: Any, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, "condition not reached"
        time.sleep(0.005)


def frame_image(i: int) -> np.ndarray:
    return np.full((48, 64, 3), i, np.uint8)


def test_live_keeps_only_the_latest_frame_and_counts_drops() -> None:
    opener = Opener(FakeCapture([frame_image(i) for i in range(7)]))
    source = LiveSource("fake", opener, CFG, backoff_start_s=0.01)
    try:
        assert (source.size, source.fps) == ((64, 48), 15.0)
        wait_for(lambda: source.stats.reconnects >= 1)  # script done: all 7 frames read
        frame = next(source.frames())
        assert frame.index == 6 and int(frame.image[0, 0, 0]) == 6
        assert (source.stats.frames, source.stats.dropped) == (7, 6)
    finally:
        source.close()


def test_live_reconnects_with_backoff_and_reports_ok() -> None:
    second = FakeCapture([frame_image(i) for i in range(50, 60)])
    opener = Opener(FakeCapture([IMG, "bad", IMG, "fail"]),
                    FakeCapture([], opened=False), FakeCapture([], opened=False), second)
    ticks = iter(range(10_000))
    source = LiveSource("cam", opener, CFG, clock=lambda: next(ticks) * 0.1,
                        backoff_start_s=0.01)
    try:
        got = []
        for frame in source.frames():
            got.append(frame)
            if int(frame.image[0, 0, 0]) >= 50:
                break
        assert source.stats.ok
        assert source.stats.reconnects >= 3 and opener.calls >= 4
        assert source.stats.corrupt == 1
        assert np.all(np.diff([f.t for f in got]) > 0)  # from the source's clock, increasing
        wait_for(lambda: source.stats.reconnects >= 4)  # second capture exhausted: down again
        wait_for(lambda: not source.stats.ok)
    finally:
        source.close()
    assert second.released.is_set()


def test_live_that_cannot_open_names_the_camera() -> None:
    with pytest.raises(InputError, match="cannot open camera/stream '3'"):
        LiveSource("3", Opener(FakeCapture([], opened=False)), CFG)


def test_a_camera_not_there_at_start_is_waited_for_when_asked(
        caplog: pytest.LogCaptureFixture) -> None:
    """A sensor booted before its camera: down (stats.ok False) while it retries, then it
    delivers, with one clock and one frame count from the start."""
    late = FakeCapture([frame_image(i) for i in range(1, 4)])

    def missing() -> FakeCapture:
        raise InputError("no such camera device '/dev/video9'")

    attempts = iter([missing, missing, lambda: late])
    source = LiveSource("/dev/video9", lambda: next(attempts)(), CFG, backoff_start_s=0.01,
                        wait_for_camera=True)
    try:
        assert source.size is None or source.stats.frames  # nothing known before it delivers
        first = source.next_frame(5.0)
        assert first is not None and int(first.image[0, 0, 0]) >= 1
        assert source.size == (64, 48) and source.stats.reconnects >= 2
    finally:
        source.close()
    assert sum("no such camera device" in r.getMessage() for r in caplog.records) >= 2


def test_a_camera_not_there_is_an_error_unless_waited_for() -> None:
    with pytest.raises(InputError, match="no such camera device '/dev/video97'"):
        open_source("/dev/video97", CFG)
    source = open_source("/dev/video97", CFG, wait_for_camera=True)
    try:
        assert source.live and not source.stats.ok and source.next_frame(0.05) is None
    finally:
        source.close()


def test_live_close_ends_frames() -> None:
    source = LiveSource("fake", Opener(FakeCapture([IMG] * 3)), CFG, backoff_start_s=0.01)
    threading.Timer(0.1, source.close).start()
    list(source.frames())  # returns once closed, does not hang
    wait_for(lambda: not source._thread.is_alive())  # and the capture thread ends too


# ---- a real cv2 capture over HTTP: the stream ends, the server goes away and comes back ----

def _serve(folder: Path, port: int = 0) -> Any:
    import functools
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port),
                                 functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_http_stream_reconnects_after_the_server_comes_back(tmp_path: Path) -> None:
    from edge.perception.sources import _cv2_opener

    write_video(tmp_path / "cam.avi")
    server = _serve(tmp_path)
    port = server.server_address[1]
    uri = f"http://127.0.0.1:{port}/cam.avi"
    routed = open_source(uri, CFG)
    routed.close()
    assert isinstance(routed, LiveSource)  # the URL is routed to a live source
    source = LiveSource(uri, _cv2_opener(uri, cv2.CAP_FFMPEG, CFG), CFG, backoff_start_s=0.05)
    try:
        frames = source.frames()
        for _ in range(25):  # more than the 20 frames the stream has: it ends, is reopened
            next(frames)
        assert source.stats.reconnects >= 1
        server.shutdown()
        server.server_close()
        wait_for(lambda: not source.stats.ok)
        down_attempts = source.stats.reconnects
        wait_for(lambda: source.stats.reconnects >= down_attempts + 2)  # keeps trying
        server = _serve(tmp_path, port)
        wait_for(lambda: source.stats.ok, timeout=10)
        before = source.stats.frames
        wait_for(lambda: source.stats.frames > before)  # delivering again
        assert next(frames).image.shape == (48, 64, 3)
    finally:
        source.close()
        server.shutdown()
        server.server_close()
