"""`dwell record SOURCE --out TRACE`: an anonymous trace of what the detector saw — no pixels.

Runs the live perception and pipeline (so the detector looks exactly when `dwell run` would:
on motion, and every motion.redetect_interval_s while anyone is tracked) and writes every frame
the detector looked at. Frames it did not look at are not written; the pipeline ignores them
live too, so `dwell replay TRACE` decides exactly what the live run decided. Nothing is
published. Stops at the end of a file, after --duration, or on Ctrl-C (the trace is kept).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from edge.cli.common import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, load
from edge.perception.models import ModelError
from edge.vocabulary.errors import InputError
from edge.vocabulary.events import Ping, VisitStarted


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


def _is_file(uri: str) -> bool:
    return Path(uri).is_file()


def run(args: argparse.Namespace) -> int:
    from edge.behaviour.pipeline import Pipeline
    from edge.offline.trace import TraceHeader, TraceWriter
    from edge.perception.perceiver import Perception
    from edge.perception.sources import open_source

    settings = load(args)
    start = None
    try:
        if args.start:
            start = datetime.fromisoformat(args.start)
        elif not _is_file(args.source):
            start = datetime.now().astimezone()
    except ValueError:
        print(f"dwell record: --start {args.start!r} is not an ISO time", file=sys.stderr)
        return EXIT_USAGE
    try:
        source = open_source(args.source, settings.source)
    except InputError as exc:
        print(f"dwell record: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        perception = Perception(settings, source.size)
        pipeline = Pipeline(settings, source.size, start_wall=start)
        fps = source.fps or 10.0
        writer = TraceWriter.open(args.out, TraceHeader(float(fps), source.size, start))
    except (ModelError, OSError, ValueError, RuntimeError) as exc:
        source.close()
        print(f"dwell record: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    visits = pings = 0
    try:
        for frame in source.frames():
            if args.duration is not None and frame.t > args.duration:
                break
            dets = perception.observe(frame, pipeline.tracking)
            if dets is None:
                continue
            writer.write(frame.t, dets)
            for ev in pipeline.step(frame.t, dets):
                visits += isinstance(ev, VisitStarted) and not ev.staff
                pings += isinstance(ev, Ping)
            if writer.frames % 100 == 0:
                writer.flush()
    except KeyboardInterrupt:
        pass
    finally:
        writer.close()
        source.close()
    print(f"recorded {writer.frames} frames to {args.out} "
          f"({visits} visits, {pings} pings would have been sent)")
    return EXIT_OK
