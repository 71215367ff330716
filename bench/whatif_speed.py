"""What-if on a busy day: a full replay (what `dwell replay` and the console did before)
against the console's cached path (tracker and visits recorded once per day, behaviour and
policy re-run per question) and the stored path (a new console loading the day recorded in
state_dir/seen), on the same day in one run; checks that all give the same what-if numbers.

    .venv/bin/python bench/whatif_speed.py            # 12 h: the golden scene x 576
    .venv/bin/python bench/whatif_speed.py --hours 1
    .venv/bin/python bench/whatif_speed.py --growing   # today's file, asked again an hour on

The day is tests/data/golden_trace.jsonl (75 s, ~6 people in view) repeated, gzipped like the
rolling trace. On a shared machine absolute numbers are noisy: compare the ratios of one run.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from edge.config.settings import Settings, load_settings
from edge.console.api import changed
from edge.console.report import outcome
from edge.offline.rolling import TRACE_DIR
from edge.offline.seen import SeenDays
from edge.offline.seen_store import SeenStore
from edge.offline.trace import read_trace

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests/data/golden_trace.jsonl"


def busy_lines(reps: int, first: int = 0) -> Iterator[str]:
    """The busy day's lines: the header (when ``first`` is 0), then repetitions
    ``first``..``reps - 1`` of the golden scene."""
    lines = GOLDEN.read_text().splitlines()
    if first == 0:
        head = json.loads(lines[0])
        head["start"] = "2026-05-02T08:00:00"
        yield json.dumps(head) + "\n"
    frames = [json.loads(line) for line in lines[1:]]
    for r in range(first, reps):
        for frame in frames:
            yield json.dumps({**frame, "t": round(frame["t"] + r * 75.1, 4)},
                             separators=(",", ":")) + "\n"


def busy_day(out: Path, reps: int) -> Path:
    with gzip.open(out, "wt", encoding="utf-8") as fh:
        fh.writelines(busy_lines(reps))
    return out


def growing(settings: Settings, reps: int, tmp: Path) -> None:
    """Today's file, still written by the sensor: a question once ``reps - 48`` scenes (an
    hour less) are in it, another when the last hour has come in, against a full replay."""
    today = tmp / "2026-05-03_080000.jsonl.gz"
    earlier = max(1, reps - 48)
    a = changed(settings, {"policy": {"linger_s": 60.0}})
    with gzip.open(today, "wt", encoding="utf-8") as fh:
        fh.writelines(busy_lines(earlier))
        fh.flush()
        days = SeenDays()
        timed(f"today, {earlier * 75.1 / 3600:.1f} h in: first question records it",
              lambda: outcome([today], a, days))
        fh.writelines(busy_lines(reps, earlier))
        fh.flush()
        later, t_ext = timed(f"today, {reps * 75.1 / 3600:.1f} h in: tracks the last "
                             f"{(reps - earlier) * 75.1 / 60:.0f} min on",
                             lambda: outcome([today], a, days))
        full, t_full = timed("today, the same question as a full replay",
                             lambda: outcome([today], a))
    assert days.extended == 1 and same(later, full), "extended what-if differs from full"
    print(f"today's file: same numbers as the full replay: yes; a question after it grew: "
          f"full {t_full:.1f} s -> {t_ext:.1f} s ({t_full / t_ext:.1f}x faster)")


def timed(label: str, make: object) -> tuple[dict, float]:
    began = time.perf_counter()
    result = make()  # type: ignore[operator]
    took = time.perf_counter() - began
    print(f"{label:52s} {took:7.1f} s  ({result['pings']} pings)", flush=True)
    return result, took


def same(a: dict, b: dict) -> bool:
    return {k: v for k, v in a.items() if k != "seconds"} == \
        {k: v for k, v in b.items() if k != "seconds"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--hours", type=float, default=12.0)
    parser.add_argument("--growing", action="store_true",
                        help="only today's growing file: a question, an hour more, another")
    args = parser.parse_args()
    settings = load_settings(ROOT / "tests/data/golden.toml")
    reps = max(1, round(args.hours * 3600 / 75.1))
    if args.growing:
        with tempfile.TemporaryDirectory() as tmp:
            growing(settings, reps, Path(tmp))
        return
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        (state / TRACE_DIR).mkdir()
        day = busy_day(state / TRACE_DIR / "2026-05-02_080000.jsonl.gz", reps)
        closed = time.time() - 3600  # a day the sensor closed an hour ago: the store keeps it
        os.utime(day, (closed, closed))
        frames = sum(1 for _ in read_trace(day)[1])
        print(f"busy day: {reps * 75.1 / 3600:.1f} h, {frames} frames, "
              f"{day.stat().st_size / 1e6:.1f} MB gzipped")
        a = changed(settings, {"policy": {"linger_s": 60.0}})
        b = changed(settings, {"policy": {"space_window_s": 120.0, "visitor_cooldown_s": 30}})
        full, t_full = timed("full replay, linger_s 60 (before)", lambda: outcome([day], a))
        days = SeenDays(store=SeenStore.of(state))
        _, t_rec = timed("cached: first question records and stores the day",
                         lambda: outcome([day], settings, days))
        stored = SeenStore.of(state).path_for(day)
        fast, t_fast = timed("cached: linger_s 60", lambda: outcome([day], a, days))
        fast_b, _ = timed("cached: space_window_s 120, cooldown 30",
                          lambda: outcome([day], b, days))
        full_b, _ = timed("full replay, space_window_s 120, cooldown 30",
                          lambda: outcome([day], b))
        restarted = SeenDays(store=SeenStore.of(state))  # a new console, or after idle
        stored_a, t_load = timed("stored: linger_s 60, first question of a new console",
                                 lambda: outcome([day], a, restarted))
        assert restarted.loaded == 1 and restarted.full == 0, "the stored day was not used"
        assert same(full, fast) and same(full_b, fast_b), "cached what-if differs from full"
        assert same(full, stored_a), "stored what-if differs from full"
        print(f"same numbers as the full replay: yes; recorded day {days.nbytes / 1e6:.1f} "
              f"MB in memory")
        print(f"what-if answer: full {t_full:.1f} s -> cached {t_fast:.1f} s "
              f"({t_full / t_fast:.1f}x faster; {reps * 75.1 / t_fast:.0f}x real time); "
              f"recording pass {t_rec:.1f} s ({t_rec / t_full:.2f}x a full replay)")
        print(f"stored day: {stored.stat().st_size / 1e6:.1f} MB on disk "
              f"({stored.stat().st_size / 1e6 / (reps * 75.1 / 3600):.2f} MB per busy hour; "
              f"the trace {day.stat().st_size / 1e6:.1f} MB); "
              f"first question of a new console: full {t_full:.1f} s -> stored "
              f"{t_load:.1f} s ({t_full / t_load:.1f}x faster)")


if __name__ == "__main__":
    main()
