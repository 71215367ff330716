"""The overlapped sensor (Sensor.feed): the network on another thread, the same decisions."""

from __future__ import annotations

import threading

import numpy as np
import numpy.typing as npt
import pytest

from edge.config.settings import load_settings
from edge.perception.sources import open_source
from edge.service.sensor import Sensor
from edge.vocabulary.types import Detections, Frame
from tests.conftest import model_file, shared_file

W, H = 320, 240
BOX = np.array([[10, 20, 60, 200]], np.float32)


def moving(n: int, fps: float = 10.0) -> list[Frame]:
    frames = []
    for i in range(n):
        image = np.full((H, W, 3), 90, np.uint8)
        image[60:200, 10 + 8 * i:50 + 8 * i] = 230
        frames.append(Frame(image, i / fps, i))
    return frames


class SplitDetector:
    """A person where the bright block is; notes which thread ran each part."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.threads: dict[str, set[str]] = {"prepare": set(), "infer": set(), "decode": set()}
        self.fail_at, self.inferred = fail_at, 0

    def _note(self, part: str) -> None:
        self.threads[part].add(threading.current_thread().name)

    def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
        blob, ratio = self.prepare(image)
        return self.decode(self.infer(blob), ratio, W, H)

    def prepare(self, image: npt.NDArray[np.uint8]) -> tuple[npt.NDArray[np.float32], float]:
        self._note("prepare")
        cols = np.nonzero(image[100] > 200)[0]
        return np.array([cols[0], cols[-1]], np.float32), 1.0

    def infer(self, blob: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        self._note("infer")
        self.inferred += 1
        if self.inferred == self.fail_at:
            raise RuntimeError("inference failed")
        return blob

    def decode(self, raw: npt.NDArray[np.float32], ratio: float, width: int,
               height: int) -> Detections:
        self._note("decode")
        return Detections(np.array([[raw[0], 60, raw[1] + 1, 200]], np.float32),
                          np.array([0.9], np.float32))


def _looked(sensor: Sensor) -> list[tuple[float, list[list[float]]]]:
    seen: list[tuple[float, list[list[float]]]] = []
    sensor.looked.append(lambda t, d: seen.append((t, d.xyxy.tolist())))
    return seen


def test_feed_runs_only_the_network_on_the_detector_thread_one_frame_behind() -> None:
    detector = SplitDetector()
    sensor = Sensor(load_settings(None), frame_size=(W, H), detector=detector)
    seen = _looked(sensor)
    frames = moving(20)
    sensor.feed(frames[0])
    assert seen == []  # frame 0 is with the detector
    sensor.feed(frames[1])
    assert [t for t, _ in seen] == [0.0]
    for frame in frames[2:]:
        sensor.feed(frame)
    assert len(seen) == 19
    sensor.finish()  # completes the last frame
    assert len(seen) == 20 and seen[-1][1][0][0] == 10 + 8 * 19
    main = threading.current_thread().name
    assert detector.threads["prepare"] == {main} and detector.threads["decode"] == {main}
    (worker,) = detector.threads["infer"]
    assert worker != main and worker.startswith("detector")


def test_feed_decides_what_process_decides() -> None:
    """Same detections in the same order, same events (synthetic walker)."""
    fed, processed = (Sensor(load_settings(None), frame_size=(W, H), detector=SplitDetector())
                      for _ in range(2))
    seen_fed, seen_processed = _looked(fed), _looked(processed)
    events_fed = [e for f in moving(30) for e in fed.feed(f)] + fed.finish()
    events_processed = [e for f in moving(30) for e in processed.process(f)]
    events_processed += processed.finish()
    assert seen_fed == seen_processed and len(seen_fed) == 30
    assert events_fed == events_processed and events_fed


def test_a_detector_failure_reaches_the_caller() -> None:
    sensor = Sensor(load_settings(None), frame_size=(W, H), detector=SplitDetector(fail_at=3))
    frames = moving(5)
    for frame in frames[:3]:
        sensor.feed(frame)
    with pytest.raises(RuntimeError, match="inference failed"):
        sensor.feed(frames[3])  # completes frame 2, whose inference failed


def test_a_detector_without_the_split_runs_whole_on_the_thread() -> None:
    class Whole:
        thread = ""

        def detect(self, image: npt.NDArray[np.uint8]) -> Detections:
            Whole.thread = threading.current_thread().name
            return Detections(BOX, np.array([0.9], np.float32))

    sensor = Sensor(load_settings(None), frame_size=(W, H), detector=Whole())
    seen = _looked(sensor)
    for frame in moving(3):
        sensor.feed(frame)
    sensor.flush()
    assert len(seen) == 3 and Whole.thread.startswith("detector")


@pytest.mark.perception
def test_on_real_footage_feed_sees_and_decides_what_process_does() -> None:
    """TUD-Stadtmitte, yolox-nano on onnxruntime, head yaw on: the overlapped sensor gives
    the same detections (boxes and yaw) on the same frames, and the same events."""
    seq = shared_file("footage/TUD-Stadtmitte")
    settings = load_settings(None, models_dir=model_file("yolox_nano.onnx").parent,
                             detector={"model": "yolox-nano", "input_size": 416,
                                       "runtime": "onnxruntime", "threads": 1},
                             yaw={"model": "yunet"})
    sensors = [Sensor(settings, frame_size=(640, 480)) for _ in range(2)]
    sensors[1].detector = sensors[0].load_detector()  # one model load for both
    seen: list[list[tuple[float, list[list[float]], list[float]]]] = [[], []]
    for sensor, out in zip(sensors, seen, strict=True):
        sensor.looked.append(lambda t, d, out=out: out.append(
            (t, d.xyxy.tolist(), np.nan_to_num(d.yaw, nan=999).tolist())))
    source = open_source(str(seq / "TUD-Stadtmitte.mp4"), settings.source)
    events: list[list[object]] = [[], []]
    for frame in source.frames():
        events[0] += sensors[0].feed(frame)
        events[1] += sensors[1].process(frame)
    source.close()
    for sensor, out in zip(sensors, events, strict=True):
        out += sensor.finish()
    assert len(seen[0]) >= 170
    assert seen[0] == seen[1]
    assert any(y != 999 for _, _, yaws in seen[0] for y in yaws)  # yaw was read
    assert events[0] == events[1] and events[0]
