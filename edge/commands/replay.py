"""`dwell replay`: replaying a video, MOT detections or a trace."""

from __future__ import annotations

import argparse

from edge.commands.common import not_built

WHAT = "replaying a video, MOT detections or a trace"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("replay", help=WHAT + " (not built yet)")
    parser.set_defaults(func=not_built(WHAT, "issues 3 and 4"))
