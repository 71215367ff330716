"""Soak: `dwell run --source CLIP --loop --no-realtime` for N minutes with a real broker.

Samples the service's RSS, threads and open file descriptors from /proc every few seconds
and prints whether anything grows after warm-up (floors: RSS < 5 %, no thread or fd growth).
A stand-in watch acknowledges every ping, so the outbox, PUBACK and ack paths all turn over
the whole time; the policy is set to ping often (space window 0, short linger, short cooldown).

    .venv/bin/python bench/soak.py                       # 10 minutes, TUD-Stadtmitte
    .venv/bin/python bench/soak.py --minutes 2 --clip other.mp4

Exit 0 when the floors hold, 1 when not. Needs mosquitto and ../shared (or --clip).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("DWELL_SHARED", REPO.parent / "shared"))
DEFAULT_CLIP = SHARED / "footage" / "TUD-Stadtmitte" / "TUD-Stadtmitte.mp4"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=None, metavar="MINUTES",
                   help="excluded from the growth check (default: 20%% of --minutes, <= 2)")
    p.add_argument("--every", type=float, default=5.0, metavar="SECONDS", help="sample period")
    p.add_argument("--model", choices=["auto", "yolox-nano", "ssdlite-pedestrian"],
                   default="auto", help="auto: yolox-nano when $DWELL_MODELS_DIR has it")
    return p.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_broker(workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = workdir / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nuser root\n")
    proc = subprocess.Popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.02)
    proc.kill()
    raise SystemExit("soak: mosquitto did not start")


class AckingWatch:
    """Subscribes to pings and answers each with 'on_my_way', like a busy assistant."""

    def __init__(self, port: int) -> None:
        import paho.mqtt.client as mqtt

        sys.path.insert(0, str(REPO))
        from edge.delivery.acks import ack_payload

        self.pings = 0
        self.stats: dict[str, Any] = {}
        self.fps: list[float] = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)

        def on_message(client: Any, userdata: Any, msg: Any) -> None:
            data = json.loads(msg.payload)
            if msg.topic.endswith("/ping"):
                self.pings += 1
                client.publish(msg.topic[: -len("ping")] + "ack",
                               ack_payload(data["id"], "on_my_way", "soak"), qos=1)
            elif msg.topic.endswith("/stats"):
                self.stats = data
            elif msg.topic.endswith("/status") and data.get("fps") is not None:
                self.fps.append(float(data["fps"]))

        self.client.on_message = on_message
        self.client.connect("127.0.0.1", port)
        self.client.subscribe("dwell/#", qos=1)
        self.client.loop_start()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def sample(pid: int) -> tuple[float, int, int]:
    """(RSS MiB, threads, open fds) of a process, from /proc."""
    rss_kb, threads = 0, 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
            elif line.startswith("Threads:"):
                threads = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    return rss_kb / 1024, threads, fds


def pick_model(choice: str) -> tuple[str, str | None]:
    models_dir = os.environ.get("DWELL_MODELS_DIR") or (
        str(SHARED / "models") if (SHARED / "models").is_dir() else None)
    if choice == "auto":
        has_yolox = models_dir and (Path(models_dir) / "yolox_nano.onnx").exists()
        choice = "yolox-nano" if has_yolox else "ssdlite-pedestrian"
    return choice, models_dir


def main() -> int:
    args = parse_args()
    if not args.clip.is_file():
        raise SystemExit(f"soak: {args.clip}: no such clip (../shared absent? use --clip)")
    warmup_min = args.warmup if args.warmup is not None else min(2.0, 0.2 * args.minutes)
    model, models_dir = pick_model(args.model)
    tmp = Path(tempfile.mkdtemp(prefix="dwell-soak-"))
    broker, port = start_broker(tmp)
    config = tmp / "dwell.toml"
    config.write_text(
        f'store = "soak"\nstate_dir = "{tmp / "state"}"\n'
        + (f'models_dir = "{models_dir}"\n' if models_dir else "")
        + f'[detector]\nmodel = "{model}"\n'
        "[policy]\nspace_window_s = 0\nlinger_s = 2\nvisitor_cooldown_s = 5\n"
        "max_pings_per_minute = 60\n"
        f"[mqtt]\nport = {port}\nstats_interval_s = 10\n")
    watch = AckingWatch(port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    log = (tmp / "dwell.log").open("wb")
    cmd = [sys.executable, "-m", "edge.cli", "--config", str(config), "--log-level", "WARNING",
           "run", "--source", str(args.clip), "--loop", "--no-realtime"]
    print("soak:", " ".join(cmd))
    print(f"soak: model {model}, {args.minutes:g} min, warm-up {warmup_min:g} min, "
          f"sample every {args.every:g} s, broker port {port}")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=log)
    samples: list[tuple[float, float, int, int]] = []
    start = time.monotonic()
    stop = threading.Event()
    try:
        while time.monotonic() - start < args.minutes * 60:
            if proc.poll() is not None:
                raise SystemExit(f"soak: dwell run exited early ({proc.returncode}); "
                                 f"log: {tmp / 'dwell.log'}")
            elapsed = time.monotonic() - start
            rss, threads, fds = sample(proc.pid)
            samples.append((elapsed, rss, threads, fds))
            if len(samples) % max(1, round(60 / args.every)) == 1:
                print(f"  {elapsed / 60:5.1f} min  RSS {rss:6.1f} MiB  threads {threads:3d}  "
                      f"fds {fds:3d}  pings {watch.pings}", flush=True)
            stop.wait(args.every)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
        watch.close()
        broker.terminate()
        broker.wait(5)
        log.close()
    return report(samples, warmup_min * 60, code, watch, tmp)


def report(samples: list[tuple[float, float, int, int]], warmup_s: float, code: int,
           watch: AckingWatch, tmp: Path) -> int:
    after = [s for s in samples if s[0] >= warmup_s]
    if len(after) < 4:
        raise SystemExit("soak: too few samples after warm-up; run longer")
    window = max(2, len(after) // 5)  # compare the first and last fifth after warm-up
    rss_start = statistics.median(s[1] for s in after[:window])
    rss_end = statistics.median(s[1] for s in after[-window:])
    growth = 100 * (rss_end - rss_start) / rss_start
    threads = [s[2] for s in after]
    fds = [s[3] for s in after]
    visitors = watch.stats.get("visitors_today")
    fps = statistics.median(watch.fps) if watch.fps else float("nan")
    print(f"\nsoak result ({len(samples)} samples, {samples[-1][0] / 60:.1f} min):")
    print(f"  RSS after warm-up {rss_start:.1f} MiB -> end {rss_end:.1f} MiB: "
          f"growth {growth:+.2f} % (floor < 5 %); max {max(s[1] for s in samples):.1f} MiB")
    print(f"  threads after warm-up: min {min(threads)} max {max(threads)} "
          f"(first {threads[0]}, last {threads[-1]})")
    print(f"  fds after warm-up: min {min(fds)} max {max(fds)} (first {fds[0]}, last {fds[-1]})")
    print(f"  pings received and acked by the watch: {watch.pings}; visitors counted: "
          f"{visitors}; processing fps (median of status): {fps:.1f}")
    print(f"  dwell run exit code after SIGTERM: {code}")
    ok = growth < 5 and threads[-1] <= threads[0] and fds[-1] <= fds[0] and code == 0
    print(f"  {'PASS' if ok else 'FAIL'}  (log: {tmp / 'dwell.log'})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
