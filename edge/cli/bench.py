"""`dwell bench VIDEO [--json] [--runtimes] [--threads N]`: how fast perception runs here.

Over the video at its own resolution: (a) the person detector alone on every frame, (b) the
whole sensor as `dwell run` drives it (motion gate, detector, head yaw, looks, then tracker,
behaviour and policy, with the detector on each frame overlapping the rest on the one before:
edge/service/overlap.py) and (b') the same with every stage one after the other ("serial";
its tracker-behaviour-policy share is "track" in the per-stage times), interleaved frame by
frame; then (c) the sensor on a still scene (the first frame repeated, at the video's frame
rate). Decoding is not timed. Each pass uses the detector on one thread at a time
(``--threads``: its inference threads); (b) adds the caller's thread beside it.
With ``--runtimes`` (a), (b) and (b') run for every installed detector runtime on the same frames,
all interleaved, and each runtime's boxes are compared with the reference's (cv2.dnn): equal
when every frame has as many boxes and each overlaps one of the reference's by IoU >= 0.9.
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
from edge.perception.runtimes import REFERENCE, RUNTIMES
from edge.service.sensor import Sensor
from edge.vocabulary.errors import InputError
from edge.vocabulary.interfaces import Detector
from edge.vocabulary.types import FloatArray, Frame


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bench", help="measure perception speed on a video")
    parser.add_argument("video", help="video file, read at its own resolution")
    parser.add_argument("--json", action="store_true",
                        help="also print one JSON object with the results on the last line")
    parser.add_argument("--model", choices=["ssdlite-pedestrian", "yolox-nano"],
                        help="detector (default: [detector] model of the config)")
    parser.add_argument("--input-size", type=int, choices=[320, 416],
                        help="YOLOX input size (default: [detector] input_size)")
    parser.add_argument("--runtime", choices=["auto", *RUNTIMES],
                        help="detector runtime (default: [detector] runtime; auto measures "
                        "and picks, without caching)")
    parser.add_argument("--runtimes", action="store_true",
                        help="measure every installed detector runtime on the same frames")
    parser.add_argument("--threads", type=int, default=1,
                        help="inference threads (default 1: comparable across machines)")
    parser.set_defaults(func=run_bench)


def run_bench(args: argparse.Namespace) -> int:
    import cv2

    from edge.perception.models import ModelError

    if args.threads < 1:
        raise CommandError(f"--threads {args.threads}: must be at least 1")
    detector_overrides = {k: v for k, v in (("model", args.model), ("runtime", args.runtime),
                                            ("input_size", args.input_size)) if v}
    settings = load(args)
    if detector_overrides:
        settings = settings.model_copy(update={
            "detector": settings.detector.model_copy(update=detector_overrides)})
    try:
        # a bad video is an InputError: exit 2
        result = bench(settings, args.video, threads=args.threads, every_runtime=args.runtimes)
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


def _sensor_step(sensor: Sensor) -> Step:
    """The sensor on one frame, as `dwell run` drives it (``Sensor.feed``: the detector on
    this frame overlaps the rest on the previous one). The step ends when the detector is
    done with this frame, so that nothing of it overlaps the next pass's step."""

    def step(frame: Frame) -> None:
        sensor.feed(frame)
        sensor.detector_idle()

    return step


def _serial_step(sensor: Sensor, decide_ms: list[float]) -> Step:
    """The sensor on one frame with every stage one after the other; the pipeline's share
    (tracker, behaviour, policy) timed."""

    def step(frame: Frame) -> None:
        detections = sensor.look(frame)
        t0 = time.perf_counter()
        sensor.step(frame.t, detections)
        decide_ms.append((time.perf_counter() - t0) * 1000)

    return step


def bench(settings: Settings, video: str, *, threads: int = 1,
          every_runtime: bool = False) -> dict[str, Any]:
    """Run the passes; every number in the result comes from this one run."""
    fps, size, first = _first_frame(video)
    main, detectors = _detectors(settings, threads, every_runtime)
    runs = {name: _RuntimeRun(settings, size, det, first) for name, det in detectors.items()}
    steps: list[Step] = [s for run in runs.values()
                         for s in (run.detect, run.sensor_step, run.serial_step)]
    n_det, spent = _timed(_file_frames(settings, video), *steps)
    for k, run in enumerate(runs.values()):
        run.s_det, run.s_pipe, run.s_serial = spent[3 * k:3 * k + 3]
        run.sensor.flush()
    ref = runs.get(REFERENCE)
    lead = runs[main]
    perception = lead.sensor.perception
    assert perception is not None  # built at the first frame
    stage_ms = perception.median_stage_ms()
    schedule = perception.yaw_schedule
    stage_ms["track"] = float(np.median(lead.decide_ms)) if lead.decide_ms else math.nan

    idle = Sensor(settings, frame_size=size, detector=lead.detector)
    still = (Frame(first.image, i / fps, i) for i in range(max(n_det, 1)))
    n_idle, (s_idle,) = _timed(still, _sensor_step(idle))
    idle.flush()
    idle_runs = idle.perception.detector_runs if idle.perception is not None else 0

    return {
        "video": video, "size": list(size), "video_fps": fps, "frames": n_det,
        "model": settings.detector.model, "input_size": settings.detector.input_size,
        "runtime": main, "threads": threads,
        "tracker": True, "yaw": perception.yaw is not None,
        "detector_only_fps": _rate(n_det, lead.s_det),
        "fps": _rate(n_det, lead.s_pipe), "fps_serial": _rate(n_det, lead.s_serial),
        "idle_fps": _rate(n_idle, s_idle),
        "detector_runs": perception.detector_runs, "idle_detector_runs": idle_runs,
        "yaw_runs": schedule.read, "yaw_skipped_cannot_count": schedule.skipped_cannot_count,
        "yaw_skipped_not_due": schedule.skipped_not_due, "yaw_interval_s": schedule.interval_s,
        "stage_ms": {k: None if math.isnan(v) else round(v, 3) for k, v in stage_ms.items()},
        "runtimes": {name: run.summary(n_det, ref) for name, run in runs.items()},
        "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def _detectors(settings: Settings, threads: int,
               every_runtime: bool) -> tuple[str, dict[str, Detector]]:
    """(the configured runtime's name, a detector per runtime measured)."""
    from edge.perception import runtimes
    from edge.perception.detector import YoloxDetector, load_detector
    from edge.perception.models import find_model

    cfg = settings.detector.model_copy(update={"threads": threads})
    if cfg.model != "yolox-nano":  # SSDLite runs on cv2.dnn only
        return REFERENCE, {REFERENCE: load_detector(cfg, settings.models_dir)}
    path = find_model(cfg.model, settings.models_dir)
    main = cfg.runtime if cfg.runtime != "auto" else runtimes.choose(
        path, cfg.input_size, threads, None)
    names = runtimes.available(path, cfg.input_size) if every_runtime else [main]
    if main not in names:
        names.append(main)
    return main, {n: YoloxDetector(path, cfg.input_size, cfg.score_threshold, cfg.nms_iou,
                                   runtime=n, threads=threads) for n in names}


class _RuntimeRun:
    """One runtime's detector-only and whole-sensor passes, and what they saw."""

    def __init__(self, settings: Settings, size: tuple[int, int], detector: Detector,
                 first: Frame) -> None:
        self.detector = detector
        detector.detect(first.image)  # first inference allocates; keep it out of the timing
        self.sensor = Sensor(settings, frame_size=size, detector=detector)
        self.sensor_step = _sensor_step(self.sensor)
        self.decide_ms: list[float] = []
        self.serial_step = _serial_step(Sensor(settings, frame_size=size, detector=detector),
                                        self.decide_ms)
        self.ms: list[float] = []
        self.boxes: list[FloatArray] = []
        self.s_det = self.s_pipe = self.s_serial = 0.0

    def detect(self, frame: Frame) -> None:
        t0 = time.perf_counter()
        found = self.detector.detect(frame.image)
        self.ms.append((time.perf_counter() - t0) * 1000)
        self.boxes.append(found.xyxy)

    def summary(self, n: int, ref: _RuntimeRun | None) -> dict[str, Any]:
        equal = None if ref is None else all(
            same_boxes(a, b) for a, b in zip(self.boxes, ref.boxes, strict=True))
        return {"ms_median": round(float(np.median(self.ms)), 3),
                "ms_p90": round(float(np.percentile(self.ms, 90)), 3),
                "boxes_equal": equal, "detector_only_fps": _rate(n, self.s_det),
                "fps": _rate(n, self.s_pipe), "fps_serial": _rate(n, self.s_serial)}


def same_boxes(a: FloatArray, b: FloatArray, min_iou: float = 0.9) -> bool:
    """As many boxes, and each of ``a`` overlapping one of ``b`` by at least ``min_iou``."""
    if len(a) != len(b):
        return False
    if len(a) == 0:
        return True
    tl = np.maximum(a[:, None, :2], b[None, :, :2])
    br = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(br - tl, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    iou = inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)
    return bool(np.all(iou.max(axis=1) >= min_iou) and np.all(iou.max(axis=0) >= min_iou))


def _rate(n: int, seconds: float) -> float:
    return round(n / seconds, 2) if seconds > 0 else math.inf


def _print_human(r: dict[str, Any]) -> None:
    model = r["model"] + (f"@{r['input_size']}" if r["model"] == "yolox-nano" else "")
    print(f"{r['video']}: {r['frames']} frames {r['size'][0]}x{r['size'][1]}, {model}, "
          f"OpenCV {r['opencv']}, runtime {r['runtime']}, {r['threads']} thread(s)")
    print(f"  detector only      {r['detector_only_fps']:8.1f} fps")
    print(f"  pipeline           {r['fps']:8.1f} fps  ({r['fps'] / r['detector_only_fps']:.2f}"
          f" x detector; detector ran on {r['detector_runs']} frames; "
          f"yaw {'on' if r['yaw'] else 'off'}, tracker {'on' if r['tracker'] else 'off'})")
    print(f"  pipeline, serial   {r['fps_serial']:8.1f} fps  "
          f"({r['fps_serial'] / r['detector_only_fps']:.2f} x detector; every stage one "
          "after the other, the detector not overlapped)")
    print(f"  head yaw           {r['yaw_runs']} people read, skipped "
          f"{r['yaw_skipped_cannot_count']} walking or staff and {r['yaw_skipped_not_due']} "
          f"read < {r['yaw_interval_s']} s ago")
    print(f"  still scene        {r['idle_fps']:8.1f} fps  ({r['idle_fps'] / r['fps']:.1f} x "
          f"pipeline; detector ran on {r['idle_detector_runs']} frames)")
    stages = ", ".join(f"{k} {'-' if v is None else f'{v:.2f}'}"
                       for k, v in r["stage_ms"].items())
    print(f"  median ms/stage    {stages}")
    for name, m in r["runtimes"].items():
        same = {True: "boxes equal", False: "BOXES DIFFER",
                None: "no reference run"}[m["boxes_equal"]]
        print(f"  {name:<18} detector {m['ms_median']:6.1f} ms median, {m['ms_p90']:6.1f} p90; "
              f"pipeline {m['fps']:6.1f} fps ({m['fps_serial']:.1f} serial); {same}")
    print(f"  peak RSS           {r['rss_mb']:8.1f} MB")
