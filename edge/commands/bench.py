"""`dwell bench`: the perception benchmark."""

from __future__ import annotations

import argparse

from edge.commands.common import not_built

WHAT = "the perception benchmark"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("bench", help=WHAT + " (not built yet)")
    parser.set_defaults(func=not_built(WHAT, "issue 3"))
