"""How much faster than real time does `dwell replay` run a trace? (floor: >= 200x)

Generates a seeded 1-hour trace at 10 fps with 5 people present at all times (each browses,
stands, sometimes looks around, leaves, and someone else comes in), then times the replay
(tracker + behaviour + policy + events JSONL) in this process on one thread.

    .venv/bin/python bench/replay_speed.py [--minutes 60] [--fps 10] [--people 5]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as on a busy Pi

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edge.config.settings import Settings  # noqa: E402
from edge.offline.replay import replay  # noqa: E402
from edge.offline.scenes import Person, looking_around, make_trace, write_trace  # noqa: E402


def shop_hour(minutes: float, people: int, seed: int) -> list[Person]:
    """``people`` lanes; in each, visitors follow one another without a gap."""
    rng = np.random.default_rng(seed)
    out = []
    end = minutes * 60
    for lane in range(people):
        y = 250 + 200 * lane / max(people - 1, 1)
        height = 120 + 60 * lane / max(people - 1, 1)
        t = 0.0
        while t < end:
            stay = float(rng.uniform(60, 480))
            path = [(t, -30.0, y)]
            tt = t + 3
            while tt < t + stay - 6:
                x = float(rng.uniform(60, 580))
                path.append((tt, x, y + float(rng.normal(0, 10))))
                tt += float(rng.uniform(5, 45))  # stand or browse at this spot
                path.append((tt, path[-1][1], path[-1][2]))
                tt += 3
            path.append((t + stay, 680.0, y))
            yaw = looking_around(t + stay / 2, t + stay / 2 + 12) if rng.random() < 0.3 \
                else (lambda _t: 0.0)
            hidden = [(t + stay / 3, t + stay / 3 + 1.5)] if rng.random() < 0.3 else []
            out.append(Person(path, height=height, yaw=yaw, hidden=hidden))
            t += stay
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=10.0)
    parser.add_argument("--people", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the top functions")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "hour.trace.jsonl"
        t0 = time.perf_counter()
        frames = make_trace(shop_hour(args.minutes, args.people, seed=1), args.minutes * 60,
                            fps=args.fps, seed=1)
        write_trace(trace, frames, fps=args.fps)
        n_people = sum(len(d) for _, d in frames)
        del frames
        gen_s = time.perf_counter() - t0
        settings = Settings()
        t0, c0 = time.perf_counter(), time.process_time()
        if args.profile:
            prof = cProfile.Profile()
            summary = prof.runcall(replay, trace, settings, out=Path(tmp) / "events.jsonl")
        else:
            summary = replay(trace, settings, out=Path(tmp) / "events.jsonl")
        replay_s = time.perf_counter() - t0
        cpu_s = time.process_time() - c0
        size_mb = trace.stat().st_size / 1e6
    duration = args.minutes * 60
    print(f"trace: {args.minutes:g} min at {args.fps:g} fps, {summary.frames} frames, "
          f"{n_people / summary.frames:.2f} people per frame, {size_mb:.1f} MB "
          f"(generated in {gen_s:.1f} s)")
    print(f"replay: {replay_s:.2f} s for {duration:.0f} s of input = "
          f"{duration / replay_s:.0f}x real time, {1e6 * replay_s / summary.frames:.0f} us/frame "
          f"(floor: >= 200x, i.e. < {duration / 200:.0f} s)")
    print(f"replay CPU time: {cpu_s:.2f} s = {duration / cpu_s:.0f}x real time (wall time "
          "includes waiting for a core on a shared machine)")
    print(summary.format())
    if args.profile:
        pstats.Stats(prof).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
