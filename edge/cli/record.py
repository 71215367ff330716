"""`dwell record SOURCE --out TRACE`: an anonymous trace of what the detector saw — no pixels.

Runs the sensor as `dwell run` does (so the detector looks exactly when `dwell run` would:
on motion, and every motion.redetect_interval_s while anyone is tracked) and writes every frame
the detector looked at. Frames it did not look at are not written; the pipeline ignores them
live too, so `dwell replay TRACE` decides exactly what the live run decided. Nothing is
published. Stops at the end of a file, after --duration, or on Ctrl-C (the trace is kept).
"""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from edge.cli.common import EXIT_OK, EXIT_USAGE, CommandError, load
from edge.perception.models import ModelError
from edge.vocabulary.types import Detections


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "record", help="record an anonymous trace (boxes, scores, yaw; never pixels)",
        description="Writes a dwell trace from a camera or a video, for replay with other "
        "thresholds.")
    parser.add_argument("source", help="camera index, /dev/videoN, rtsp/http URL, picamera2 "
                        "or a video file")
    parser.add_argument("--out", type=Path, required=True, help="trace file to write (JSONL)")
    parser.add_argument("--duration", type=float, metavar="S",
                        help="stop after S seconds of input")
    parser.add_argument("--start", metavar="ISO",
                        help="wall-clock time of the first frame for a video file (a live "
                        "camera records the current time itself)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.offline.trace import TraceHeader, TraceWriter
    from edge.perception.sources import open_source
    from edge.service.sensor import Sensor

    settings = load(args)
    start = _start(args.start)
    source = open_source(args.source, settings.source)  # InputError: exit 2, naming it
    size = source.size
    assert size is not None  # opened without waiting: it has delivered a frame
    if start is None and source.live:
        start = datetime.now().astimezone()
    try:
        sensor = Sensor(settings, frame_size=size, start_wall=start)
        sensor.load_detector()
        writer = TraceWriter.open(args.out, TraceHeader(float(source.fps or 10.0), size, start))
    except (ModelError, OSError, ValueError, RuntimeError) as exc:
        source.close()
        raise CommandError(str(exc)) from None

    def write(t: float, detections: Detections) -> None:
        writer.write(t, detections)
        if writer.frames % 100 == 0:
            writer.flush()

    sensor.looked.append(write)
    try:
        for frame in source.frames():
            if args.duration is not None and frame.t > args.duration:
                break
            sensor.feed(frame)
    except KeyboardInterrupt:
        pass
    finally:
        try:
            sensor.flush()  # the frame still with the detector
        finally:
            writer.close()
            source.close()
    print(f"recorded {writer.frames} frames to {args.out} ({sensor.counts.visits} visits, "
          f"{sensor.counts.pings_sent} pings would have been sent)")
    return EXIT_OK


def _start(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--start {text!r} is not an ISO time", EXIT_USAGE) from None
