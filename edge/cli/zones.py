"""`dwell zones --snapshot out.png`: one frame with the zones and a 0..1 grid, for drawing zones.

This is the only place dwell ever writes a picture, and only when the owner asks for it: take
the snapshot, read the corners of the help desk or counter off the grid, write them into
``[[zones]]`` (normalised x right, y down), check with `dwell config check`, and take another
snapshot to see them drawn. Delete the picture afterwards: it may show people.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import tempfile
from pathlib import Path
from typing import Any

from edge.cli.common import EXIT_OK, EXIT_USAGE, CommandError, load
from edge.config.sections import SourceConfig

# BGR colours per zone kind
KIND_COLOURS = {
    "help_point": (0, 200, 255),
    "staff": (255, 160, 0),
    "ignore": (128, 128, 128),
    "entrance": (0, 220, 0),
}
GRID_STEP = 0.1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "zones", help="save one camera frame with the zones and a 0..1 grid (to draw zones)",
        description="Writes ONE frame to the file you name, with the configured zones and a "
        "coordinate grid drawn on it. Nothing else in dwell writes pictures.")
    parser.add_argument("--snapshot", type=Path, required=True, metavar="OUT.png",
                        help="where to write the picture (.png or .jpg)")
    parser.add_argument("--source", metavar="URI", help="override [source] uri")
    parser.add_argument("--at", type=float, default=0.0, metavar="SECONDS",
                        help="for a video file: take the frame at this time (default 0)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.snapshot.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise CommandError(f"{args.snapshot}: use a .png or .jpg name", EXIT_USAGE)
    if not args.snapshot.parent.is_dir():
        raise CommandError(f"{args.snapshot.parent}: no such directory", EXIT_USAGE)
    settings = load(args)
    uri = args.source or settings.source.uri
    image = grab_frame(uri, settings.source, args.at)  # InputError: exit 2, naming the source
    draw_grid(image)
    for zone in settings.zones:
        draw_zone(image, zone)
    write_private(args.snapshot, image)
    h, w = image.shape[:2]
    print(f"wrote {args.snapshot} ({w}x{h}) from {uri} with {len(settings.zones)} zone(s) and "
          f"a grid every {GRID_STEP:g}")
    for zone in settings.zones:
        corners = ", ".join(f"[{x:g}, {y:g}]" for x, y in zone.polygon)
        print(f"  {zone.kind:<10s} {zone.name!r}: {corners}")
    print("Read corners off the grid into [[zones]] (x right, y down, 0..1), then "
          "`dwell config check`.\nThe picture may show people: delete it when you are done.")
    return EXIT_OK


def write_private(path: Path, image: Any) -> None:
    """The picture (it may show people) readable by its owner only: encoded in memory, written
    to a file created 0600 (mkstemp: no umask can widen it, no window with other modes) beside
    ``path``, then renamed over it, so a file that was there with wider modes is replaced too."""
    import cv2

    ok, encoded = cv2.imencode(path.suffix.lower(), image)
    if not ok:
        raise CommandError(f"could not encode {path}")
    tmp: str | None = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as out:
            out.write(encoded.tobytes())
        os.replace(tmp, path)
    except OSError as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        raise CommandError(f"could not write {path}: {exc.strerror}") from None


def grab_frame(uri: str, cfg: SourceConfig, at_s: float) -> Any:
    """One frame (a copy) from the source; for a file the one at ``at_s`` seconds."""
    from edge.perception.sources import open_source
    from edge.vocabulary.errors import InputError

    source = open_source(uri, cfg)
    try:
        for frame in source.frames():
            if frame.t + 1e-6 >= at_s:
                return frame.image.copy()
    finally:
        source.close()
    raise InputError(f"{uri}: no frame at {at_s:g} s (the video is shorter)")


def draw_grid(image: Any) -> None:
    import cv2

    h, w = image.shape[:2]
    steps = round(1 / GRID_STEP)
    for k in range(1, steps):
        x, y = round(k * GRID_STEP * (w - 1)), round(k * GRID_STEP * (h - 1))
        strong = k % 5 == 0
        colour = (255, 255, 255) if strong else (200, 200, 200)
        cv2.line(image, (x, 0), (x, h - 1), colour, 1, cv2.LINE_AA)
        cv2.line(image, (0, y), (w - 1, y), colour, 1, cv2.LINE_AA)
        label = f"{k * GRID_STEP:.1f}"
        _text(image, label, (x + 2, 12))
        _text(image, label, (2, y - 3))


def draw_zone(image: Any, zone: Any) -> None:
    import cv2
    import numpy as np

    h, w = image.shape[:2]
    points = np.array([[round(x * (w - 1)), round(y * (h - 1))] for x, y in zone.polygon],
                      np.int32)
    colour = KIND_COLOURS.get(zone.kind, (255, 0, 255))
    overlay = image.copy()
    cv2.fillPoly(overlay, [points], colour)
    cv2.addWeighted(overlay, 0.25, image, 0.75, 0, dst=image)
    cv2.polylines(image, [points], True, colour, 2, cv2.LINE_AA)
    x, y = points.min(axis=0)
    _text(image, f"{zone.name} ({zone.kind})", (int(x) + 4, int(y) + 16), colour)


def _text(image: Any, text: str, origin: tuple[int, int],
          colour: tuple[int, int, int] = (255, 255, 255)) -> None:
    import cv2

    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)
