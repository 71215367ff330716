"""`dwell run`: the live service (camera -> perception -> behaviour -> policy -> MQTT)."""

from __future__ import annotations

import argparse

from edge.commands.common import not_built

WHAT = "the live service (camera -> perception -> behaviour -> policy -> MQTT)"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("run", help=WHAT + " (not built yet)")
    parser.set_defaults(func=not_built(WHAT, "issue 6"))
