"""`dwell bench VIDEO [--json]`: how fast perception runs here, in one run, on one thread.

Over the video at its own resolution: (a) the person detector alone on every frame and (b) the
whole perception pipeline (motion gate, detector, head yaw, tracker), interleaved frame by
frame; then (c) the pipeline on a still scene (the first frame repeated, at the video's frame
rate). Decoding is not timed. Ratios between passes are what to compare across machines;
absolute numbers move with whatever else the CPU is doing.
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from edge.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load
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
    from edge.vocabulary.errors import InputError

    detector_overrides = {k: v for k, v in (("model", args.model),
                                            ("input_size", args.input_size)) if v}
    settings = load(args)
    if detector_overrides:
        settings = settings.model_copy(update={
            "detector": settings.detector.model_copy(update=detector_overrides)})
    try:
        result = bench(settings, args.video)
    except InputError as exc:
        print(f"dwell bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except ModelError as exc:
        print(f"dwell bench: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    result["opencv"] = cv2.__version__
    _print_human(result)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    return EXIT_OK


def _file_frames(settings: Any, video: str) -> Iterator[Frame]:
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


def _new_tracker(settings: Any, size: tuple[int, int]) -> Any:
    try:
        from edge.behaviour.tracker import IouTracker
    except ImportError:
        return None
    return IouTracker(settings.tracker, size)


def bench(settings: Any, video: str) -> dict[str, Any]:
    """Run the three passes; every number in the result comes from this one run."""
    import cv2

    from edge.perception.detector import load_detector
    from edge.perception.perceiver import Perception
    from edge.perception.sources import open_source

    probe = open_source(video, settings.source)
    fps, size = probe.fps, probe.size
    first = next(iter(probe.frames()), None)
    probe.close()
    if first is None:
        from edge.vocabulary.errors import InputError

        raise InputError("no readable frame", video)
    detector = load_detector(settings)
    cv2.setNumThreads(1)  # one thread, whatever [detector] threads says: comparable runs
    detector.detect(first.image)  # first inference allocates; keep it out of the timing

    track_ms: list[float] = []

    def pipeline(perception: Perception, tracker: Any) -> Callable[[Frame], None]:
        state = {"tracking": False}

        def step(frame: Frame) -> None:
            detections = perception.observe(frame, state["tracking"])
            if tracker is not None:
                t0 = time.perf_counter()
                tracker.update(detections, frame.t)
                track_ms.append((time.perf_counter() - t0) * 1000)
                # anyone followed, confirmed or not: an unconfirmed person standing still
                # needs the redetect to be confirmed at all
                state["tracking"] = len(tracker) > 0
            else:
                state["tracking"] = bool(detections is not None and len(detections))

        return step

    perception = Perception(settings, size, detector=detector)
    tracker = _new_tracker(settings, size)
    n_det, (s_det, s_pipe) = _timed(_file_frames(settings, video),
                                    lambda f: detector.detect(f.image),
                                    pipeline(perception, tracker))
    stage_ms = perception.median_stage_ms()
    stage_ms["track"] = float(np.median(track_ms)) if track_ms else math.nan
    runs = perception.detector_runs

    idle = Perception(settings, size, detector=detector, yaw=perception.yaw)
    still = (Frame(first.image, i / fps, i) for i in range(max(n_det, 1)))
    n_idle, (s_idle,) = _timed(still, pipeline(idle, _new_tracker(settings, size)))

    return {
        "video": video, "size": list(size), "video_fps": fps, "frames": n_det,
        "model": settings.detector.model, "input_size": settings.detector.input_size,
        "tracker": tracker is not None, "yaw": perception.yaw is not None,
        "detector_only_fps": _rate(n_det, s_det),
        "fps": _rate(n_det, s_pipe),
        "idle_fps": _rate(n_idle, s_idle),
        "detector_runs": runs, "idle_detector_runs": idle.detector_runs,
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
