"""`dwell models`: model listing and installation."""

from __future__ import annotations

import argparse

from edge.commands.common import not_built

WHAT = "model listing and installation"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("models", help=WHAT + " (not built yet)")
    parser.set_defaults(func=not_built(WHAT, "issue 3"))
