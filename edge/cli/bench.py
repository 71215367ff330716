"""`dwell bench VIDEO [--json]`: how fast perception runs here, in one run, on one thread.

Over the video at its own resolution: (a) the person detector alone on every frame and (b) the
whole sensor as `dwell run` drives it (motion gate, detector, head yaw, then tracker, behaviour
and policy: "track" in the per-stage times), interleaved frame by frame; then (c) the sensor on
a still scene (the first frame repeated, at the video's frame rate). Decoding is not timed.
Ratios between passes are what to compare across machines; absolute numbers move with
whatever else the CPU is doing.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from edge.cli.common import EXIT_OK, CommandError, load
from edge.config.settings import Settings
from edge.service.sensor import Sensor
from edge.vocabulary.errors import InputError
from edge.vocabulary.types import Frame


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bench", help="measure perception speed on a video")
    parser.add_argument("video", help="video file, read at its own resolution")
    parser.add_argument("--json", action="store_true",
                        help="also print one JSON object with the results on the last line")
    parser.add_argument("--model", choices=["ssdlite-pedestrian", "yolox-nano"],
                        help="detector (default: [detector] model of the config)")
    parser.add_argument("--input-size", type=int, choices=[320, 416],
                        help="YOLOX input size (default: [detector] input_size)")
    parser.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    import cv2

    from edge.perception.models import ModelError

    detector_overrides = {k: v for k, v in (("model", args.model),
                                            ("input_size", args.input_size)) if v}
    settings = load(args)
    if detector_overrides:
        settings = settings.model_copy(update={
            "detector": settings.detector.model_copy(update=detector_overrides)})
    try:
        result = bench(settings, args.video)  # a bad video is an InputError: exit 2
    except ModelError as exc:
        raise CommandError(str(exc)) from None
    result["opencv"] = cv2.__version__
    _print_human(result)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return EXIT_OK


def _file_frames(settings: Settings, video: str) -> Iterator[Frame]:
    from edge.perception.sources import open_source

    source = open_source(video, settings.source)
    try:
        yield from source.frames()
    finally:
        source.close()


Step = Callable[[Frame], object]


def _timed(frames: Iterator[Frame], *steps: Step) -> tuple[int, list[float]]:
    """(frames, seconds spent in each step), decoding excluded.

    Several steps run interleaved on each frame, in alternating order, so that a load burst
    from elsewhere on the machine hits all of them alike and their ratio stays meaningful.
    """
    n, spent = 0, [0.0] * len(steps)
    for frame in frames:
        order = range(len(steps)) if n % 2 == 0 else reversed(range(len(steps)))
        for k in order:
            t0 = time.perf_counter()
            steps[k](frame)
            spent[k] += time.perf_counter() - t0
        n += 1
    return n, spent


def _first_frame(video: str) -> tuple[float, tuple[int, int], Frame]:
    from edge.perception.sources import FileSource

    probe = FileSource(video)
    first = next(iter(probe.frames()), None)
    probe.close()
    if first is None:
        raise InputError("no readable frame", video)
    return probe.fps, probe.size, first


def _sensor_step(sensor: Sensor, decide_ms: list[float]) -> Step:
    """The sensor on one frame, as `dwell run` drives it; the pipeline's share timed."""

    def step(frame: Frame) -> None:
        detections = sensor.look(frame)
        t0 = time.perf_counter()
        sensor.step(frame.t, detections)
        decide_ms.append((time.perf_counter() - t0) * 1000)

    return step


def bench(settings: Settings, video: str) -> dict[str, Any]:
    """Run the three passes; every number in the result comes from this one run."""
    import cv2

    fps, size, first = _first_frame(video)
    sensor = Sensor(settings, frame_size=size)
    detector = sensor.load_detector()
    cv2.setNumThreads(1)  # one thread, whatever [detector] threads says: comparable runs
    detector.detect(first.image)  # first inference allocates; keep it out of the timing

    decide_ms: list[float] = []
    n_det, (s_det, s_pipe) = _timed(_file_frames(settings, video),
                                    lambda f: detector.detect(f.image),
                                    _sensor_step(sensor, decide_ms))
    perception = sensor.perception
    assert perception is not None  # built at the first frame
    stage_ms = perception.median_stage_ms()
    stage_ms["track"] = float(np.median(decide_ms)) if decide_ms else math.nan

    idle = Sensor(settings, frame_size=size, detector=detector)
    still = (Frame(first.image, i / fps, i) for i in range(max(n_det, 1)))
    n_idle, (s_idle,) = _timed(still, _sensor_step(idle, []))
    idle_runs = idle.perception.detector_runs if idle.perception is not None else 0

    return {
        "video": video, "size": list(size), "video_fps": fps, "frames": n_det,
        "model": settings.detector.model, "input_size": settings.detector.input_size,
        "tracker": True, "yaw": perception.yaw is not None,
        "detector_only_fps": _rate(n_det, s_det),
        "fps": _rate(n_det, s_pipe),
        "idle_fps": _rate(n_idle, s_idle),
        "detector_runs": perception.detector_runs, "idle_detector_runs": idle_runs,
        "stage_ms": {k: None if math.isnan(v) else round(v, 3) for k, v in stage_ms.items()},
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else math.inf


def _print_human(r: dict[str, Any]) -> None:
    model = r["model"] + (f"@{r['input_size']}" if r["model"] == "yolox-nano" else "")
    print(f"{r['video']}: {r['frames']} frames {r['size'][0]}x{r['size'][1]}, {model}, "
          f"OpenCV {r['opencv']}, 1 thread")
    print(f"  detector only      {r['detector_only_fps']:8.1f} fps")
    print(f"  pipeline           {r['fps']:8.1f} fps  ({r['fps'] / r['detector_only_fps']:.2f}"
          f" x detector; detector ran on {r['detector_runs']} frames; "
          f"yaw {'on' if r['yaw'] else 'off'}, tracker {'on' if r['tracker'] else 'off'})")
    print(f"  still scene        {r['idle_fps']:8.1f} fps  ({r['idle_fps'] / r['fps']:.1f} x "
          f"pipeline; detector ran on {r['idle_detector_runs']} frames)")
    stages = ", ".join(f"{k} {'-' if v is None else f'{v:.2f}'}"
                       for k, v in r["stage_ms"].items())
    print(f"  median ms/stage    {stages}")
    print(f"  peak RSS           {r['rss_mb']:8.1f} MB")
