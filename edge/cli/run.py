"""`dwell run`: the live service (camera -> perception -> behaviour -> policy -> MQTT).

    dwell run                               the configured [source] uri, until stopped
    dwell run --source clip.mp4 --loop      a video played like a camera (staging, demos)
    dwell run --source clip.mp4 --no-realtime --loop     as fast as it goes (soak tests)

SIGTERM/SIGINT stop cleanly (exit 0, retained ``offline`` status); SIGHUP (``systemctl reload
dwell``) re-reads thresholds and zones keeping current visits. Under systemd (Type=notify) it
says READY=1 and feeds the watchdog from the processing loop.
"""

from __future__ import annotations

import argparse

from edge.cli.common import EXIT_USAGE, CommandError, load


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "run", help="the live service: camera -> perception -> behaviour -> policy -> MQTT",
        description="Runs until SIGTERM/SIGINT; SIGHUP reloads thresholds and zones.")
    parser.add_argument("--source", metavar="URI",
                        help="override [source] uri: a video file, camera index, /dev/videoN, "
                        "rtsp:// URL or picamera2")
    parser.add_argument("--loop", action="store_true",
                        help="repeat a video file forever (staging, demos, soak tests)")
    parser.add_argument("--no-realtime", dest="realtime", action="store_false",
                        help="play a video file as fast as it can be processed instead of at "
                        "its own frame rate")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edge.console.server import ConsoleError
    from edge.delivery.mqtt import MqttError
    from edge.perception.models import ModelError
    from edge.service.live import Service
    from edge.service.lock import AlreadyRunning

    settings = load(args)
    uri = args.source or settings.source.uri
    try:
        service = Service(settings, uri, config_path=args.config, realtime=args.realtime,
                          loop=args.loop)
        return service.run()
    except (ModelError, MqttError, AlreadyRunning, ConsoleError) as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    except OSError as exc:  # e.g. the state directory is not writable
        raise CommandError(f"{exc} (is state_dir {settings.state_dir} writable?)") from None
