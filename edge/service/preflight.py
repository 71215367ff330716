"""What `dwell config check` checks of the world beyond the file: will `dwell run` start here?

A valid file can still name a model that is not installed, a ``state_dir`` the service cannot
write, or a camera that is not plugged in; each would otherwise surface only when the service
starts (under systemd, as a restart loop in the journal). Every check says what it looked at
and, when it fails, what to do.

The source probe (``--probe``) opens the source and reads one frame, so it is opt-in: it
takes a camera for a moment and can wait on a stream's network timeouts. It first takes the
camera's lock (``edge.service.lock``): while a `dwell run` holds it, the probe says so instead
of competing with the running sensor for the device. (Taking it creates ``state_dir`` and the
lock file, as a start of the service would; the checks without ``--probe`` create nothing.)
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edge.config.settings import Settings
from edge.service.lock import AlreadyRunning, CameraLock


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def check_model(settings: Settings) -> Check:
    """The configured detector model is installed (verified by sha256)."""
    from edge.perception.models import ModelError, find_model, search_dirs, spec

    name = settings.detector.model
    try:
        path = find_model(name, settings.models_dir)
    except ModelError:
        looked = ", ".join(str(d / spec(name).file) for d in search_dirs(settings.models_dir))
        return Check("model", False, f"detector model {name!r} is not installed (looked at "
                     f"{looked}; a file whose sha256 does not match the manifest does not "
                     f"count); install it with `dwell models install {name}`")
    return Check("model", True, f"detector model {name!r}: {path}")


def _nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_state_dir(settings: Settings) -> Check:
    """``state_dir`` is a directory a file can be written in, or one that can be created."""
    state = settings.state_dir
    if state.is_dir():
        try:
            fd, name = tempfile.mkstemp(prefix=".dwell-check-", dir=state)
        except OSError as exc:
            return Check("state_dir", False, f"state_dir {state} is not writable ({exc.strerror}"
                         "): the ping outbox, day counts and camera lock live there; make it "
                         "writable by the service's user")
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(name)
        return Check("state_dir", True, f"state_dir {state}: writable")
    if state.exists():
        return Check("state_dir", False, f"state_dir {state} exists but is not a directory")
    parent = _nearest_existing(state)
    if not parent.is_dir():
        return Check("state_dir", False, f"state_dir {state} cannot be created: {parent} is "
                     "not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        return Check("state_dir", False, f"state_dir {state} does not exist and cannot be "
                     f"created ({parent} is not writable); create it for the service's user")
    return Check("state_dir", True, f"state_dir {state}: absent, will be created (in {parent})")


def probe_source(settings: Settings, uri: str | None = None) -> Check:
    """Opens the source and reads one frame (taking the camera's lock meanwhile)."""
    uri = settings.source.uri if uri is None else uri
    try:
        lock = CameraLock(settings.state_dir, settings.store, settings.camera).acquire()
    except AlreadyRunning as exc:
        return Check("source", False, f"source {uri!r} not probed: the camera is locked, {exc}")
    except OSError:
        lock = None  # state_dir's own check says why; the probe can still open the source
    try:
        return _read_one_frame(settings, uri)
    finally:
        if lock is not None:
            lock.release()


def _read_one_frame(settings: Settings, uri: str) -> Check:
    from edge.perception.sources import open_source
    from edge.vocabulary.errors import InputError

    try:
        source = open_source(uri, settings.source)
    except (InputError, OSError, RuntimeError) as exc:
        return Check("source", False, f"source {uri!r} does not open: {exc}")
    try:
        frame = source.next_frame(5.0)
    finally:
        source.close()
    if frame is None:
        return Check("source", False, f"source {uri!r} opened but delivered no frame")
    height, width = frame.image.shape[:2]
    return Check("source", True, f"source {uri!r}: a {width}x{height} frame read")


def check_world(settings: Settings, probe: bool = False) -> list[Check]:
    checks = [check_model(settings), check_state_dir(settings)]
    if probe:
        checks.append(probe_source(settings))
    return checks
