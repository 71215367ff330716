"""Reconnect delay: seconds from a restarted broker accepting connections to each ping queued
during the outage reaching a persistent watch (real mosquitto, real publisher).

    .venv/bin/python bench/reconnect_delay.py [--rounds 1] [--pings 5]

Outages of 5, 15 and 40 s run side by side on their own brokers, with today's default
backoff and the old one (1 s doubling to 30 s) in the same run. Prints p50/p99/max per
outage and overall; the floor is every ping within 2 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.broker import Mosquitto
from tests.delivery_helpers import outage_delays

DOWNS = (5.0, 15.0, 40.0)
BACKOFFS = {"default": {}, "old (1-30 s)": {"reconnect_min_s": 1.0, "reconnect_max_s": 30.0}}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pings", type=int, default=5)
    args = parser.parse_args()
    results: dict[tuple[str, float], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            jobs = {}
            with ThreadPoolExecutor(len(DOWNS) * len(BACKOFFS)) as pool:
                for name, overrides in BACKOFFS.items():
                    for down in DOWNS:
                        work = Path(tmp) / f"{r}-{name[:3]}-{down:g}"
                        (work / "broker").mkdir(parents=True)
                        broker = Mosquitto(work / "broker")
                        jobs[name, down] = pool.submit(outage_delays, broker, work / "state",
                                                       down, args.pings, **overrides)
                for key, job in jobs.items():
                    results.setdefault(key, []).extend(job.result())
    for name in BACKOFFS:
        every: list[float] = []
        for down in DOWNS:
            d = results[name, down]
            every += d
            print(f"{name:>13} down {down:>4.0f} s: n={len(d):3d} p50 {percentile(d, .5):6.2f} s"
                  f"  p99 {percentile(d, .99):6.2f} s  max {max(d):6.2f} s")
        print(f"{name:>13} all        : n={len(every):3d} p50 {percentile(every, .5):6.2f} s"
              f"  p99 {percentile(every, .99):6.2f} s  max {max(every):6.2f} s"
              f"  within 2 s: {sum(x < 2 for x in every)}/{len(every)}")


if __name__ == "__main__":
    main()
