"""`dwell record`: recording an anonymous trace."""

from __future__ import annotations

import argparse

from edge.commands.common import not_built

WHAT = "recording an anonymous trace"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("record", help=WHAT + " (not built yet)")
    parser.set_defaults(func=not_built(WHAT, "issue 4"))
