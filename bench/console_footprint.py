"""What the owner's console costs a sensor: RSS added by starting it, frames/s of a Sensor with
its floor watcher attached (nobody viewing, and viewed), and the time of a what-if replay of
a busy hour.

    .venv/bin/python bench/console_footprint.py

The busy hour is tests/data/golden_trace.jsonl (75 s, ~6 people in view) repeated 48 times.
On a shared machine absolute numbers are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import cv2  # noqa: F401  (dwell run has OpenCV loaded: measure on top of it)

from edge.config.console import ConsoleConfig
from edge.config.settings import Settings, load_settings
from edge.console.api import changed
from edge.console.floor import Floor
from edge.console.report import outcome
from edge.console.shelf import Shelf
from edge.demo.mosquitto import free_port
from edge.offline.trace import read_trace
from edge.service.console_host import serve
from edge.service.sensor import Sensor

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests/data/golden_trace.jsonl"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def busy_hour(out: Path, reps: int = 48) -> Path:
    lines = GOLDEN.read_text().splitlines()
    head = json.loads(lines[0])
    head["start"] = "2026-05-02T09:00:00"
    with out.open("w") as fh:
        fh.write(json.dumps(head) + "\n")
        for r in range(reps):
            for line in lines[1:]:
                frame = json.loads(line)
                frame["t"] = round(frame["t"] + r * 75.1, 4)
                fh.write(json.dumps(frame, separators=(",", ":")) + "\n")
    return out


def frames_per_s(settings: Settings, floor: Floor, frames: list, size: tuple[int, int],
                 watch: bool, viewed: bool) -> float:
    sensor = Sensor(settings, frame_size=size, sinks=[floor.on_event] if watch else [],
                    watchers=[floor.watch] if watch else [])
    began, last_view = time.perf_counter(), 0.0
    for t, det in frames:
        if viewed and time.perf_counter() - last_view > 0.4:  # a viewer's 2.5 updates a second
            floor.state()
            last_view = time.perf_counter()
        sensor.step(t, det)
    return len(frames) / (time.perf_counter() - began)


def main() -> None:
    settings = load_settings(ROOT / "tests/data/golden.toml")
    with tempfile.TemporaryDirectory() as tmp:
        hour = busy_hour(Path(tmp) / "hour.trace.jsonl")
        header, stream = read_trace(hour)
        frames = list(stream)[:12000]
        before = rss_mb()
        floor = Floor(lambda: {})
        server = serve(settings.model_copy(update={"console": ConsoleConfig(
            password="measure-it")}), ("127.0.0.1", free_port()), floor=floor,
            shelf=Shelf(Path(tmp)), config_path=None, reload=lambda _: None, mode="live")
        print(f"RSS {before:.1f} MB before the console, {rss_mb():.1f} MB with it running: "
              f"+{rss_mb() - before:.1f} MB")
        best: dict[str, float] = {}
        for _ in range(4):
            for label, watch, viewed in (("no console", False, False),
                                         ("console, nobody viewing", True, False),
                                         ("console, viewed", True, True)):
                floor._viewed = -1e9
                fps = frames_per_s(settings, floor, frames, header.size, watch, viewed)
                best[label] = max(best.get(label, 0.0), fps)
        for label, fps in best.items():
            print(f"{label:24s} best of 4: {fps:6.0f} frames/s "
                  f"({fps / best['no console']:.2f}x)")
        server.stop()
        began = time.perf_counter()
        result = outcome([hour], changed(settings, {"policy": {"linger_s": 60.0}}))
        took = time.perf_counter() - began
        print(f"what-if replay of a busy hour ({len(list(read_trace(hour)[1]))} frames, "
              f"{result['pings']} pings with linger_s 60): {took:.1f} s "
              f"({3600 / took:.0f}x real time)")


if __name__ == "__main__":
    main()
