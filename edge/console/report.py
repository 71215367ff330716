"""The day's report and the what-if comparison, from a replay through the same pipeline
(``edge.offline.replay.replay``) and counted with the same ``Tally`` as `dwell replay`.

Events are bucketed by the local hour they happened in (the trace's ``start`` + ``t``; a
trace without a start is bucketed by hours since its beginning, "+0h", "+1h", ...). The
totals are the pipeline's own Tally, and the hourly rows add up to them (a test checks it).
Response times: ping -> ack pairs each ping with the ack of its id (a trace records no acks,
so on a trace every ping counts as unanswered); ping -> staff is the time from a ping to the
first moment after it that staff were with that visitor (or a member of their party), which a
trace does show.
"""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from edge.config.settings import Settings
from edge.delivery.status import median_or_none
from edge.offline.replay import replay
from edge.offline.seen import SeenDays
from edge.offline.trace import read_trace
from edge.vocabulary.errors import InputError
from edge.vocabulary.events import Acknowledged, Attended, Event, Lingering, Ping
from edge.vocabulary.tally import Tally

DWELL_BINS_S = (0, 30, 60, 120, 300, 600, 1200)  # lower edges of the dwell distribution


def _percentile(values: list[float], q: float) -> float | None:
    """As `dwell replay` prints it (numpy's linear interpolation)."""
    return round(float(np.percentile(values, q * 100)), 1) if values else None


def dwell_bins(dwells: list[float]) -> dict[str, int]:
    out: dict[str, int] = {}
    highs: list[int | None] = [*DWELL_BINS_S[1:], None]
    for lo, hi in zip(DWELL_BINS_S, highs, strict=True):
        label = f"{lo}-{hi}s" if hi is not None else f"{lo}s+"
        out[label] = sum(1 for d in dwells if d >= lo and (hi is None or d < hi))
    return out


Who = int | str
"""A visitor in a day's report: their number in the day's first run; in a later run (the
sensor restarted, so numbers start again at 1) "HH:MM:SS/N", the run's start and number."""


@dataclass
class Collected:
    """Every event of one day's replays (one per trace file, in order), bucketed by hour."""

    start: datetime | None
    hours: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    total: Tally = field(default_factory=Tally)  # every event, as the pipelines counted them
    pings: list[tuple[str, Ping]] = field(default_factory=list)
    acks: dict[str, float] = field(default_factory=dict)
    attended: dict[Who, list[float]] = field(default_factory=lambda: defaultdict(list))
    lingered: set[Who] = field(default_factory=set)
    pinged: set[Who] = field(default_factory=set)
    runs: int = 1
    _run_start: datetime | None = None
    _run_of: dict[str, str] = field(default_factory=dict)  # ping id -> run prefix

    def __post_init__(self) -> None:
        self._run_start = self.start

    def next_run(self, start: datetime | None) -> None:
        """The events that follow come from the day's next trace file (started ``start``)."""
        if self.start is None:
            self.start = start
        self._run_start = start
        self.runs += 1

    def _prefix(self) -> str:
        if self.runs == 1:
            return ""
        return f"{self._run_start:%H:%M:%S}/" if self._run_start else f"run{self.runs}/"

    def who(self, vid: int, prefix: str | None = None) -> Who:
        prefix = self._prefix() if prefix is None else prefix
        return f"{prefix}{vid}" if prefix else vid

    def hour_of(self, t: float) -> str:
        if self._run_start is None:
            return f"+{int(t // 3600)}h"
        return (self._run_start + timedelta(seconds=t)).strftime("%Y-%m-%d %H:00")

    def add(self, ev: Event) -> None:
        hour = self.hour_of(ev.t)
        self.hours[hour].add(ev)
        self.total.add(ev)
        if isinstance(ev, Ping):
            self.pings.append((hour, ev))
            self._run_of[ev.id] = self._prefix()
            self.pinged.update(self.who(v) for v in (ev.visitor, *ev.party))
        elif isinstance(ev, Acknowledged):
            self.acks.setdefault(ev.ping_id, ev.t)
        elif isinstance(ev, Lingering):
            self.lingered.add(self.who(ev.visitor))
        elif isinstance(ev, Attended):
            self.attended[self.who(ev.visitor)].append(ev.t)

    def staff_after(self, ping: Ping) -> float | None:
        """Seconds from ``ping`` until staff were first with its visitor or party after it."""
        prefix = self._run_of.get(ping.id, "")
        times = [t for vid in (ping.visitor, *ping.party)
                 for t in self.attended.get(self.who(vid, prefix), []) if t >= ping.t]
        return min(times) - ping.t if times else None

    def never_pinged(self) -> list[Who]:
        """Visitors who lingered but were never pinged, the first run's numbers first."""
        return sorted(self.lingered - self.pinged,
                      key=lambda w: (isinstance(w, str), w if isinstance(w, int) else 0, str(w)))


def collect(paths: Sequence[Path], settings: Settings,
            days: SeenDays | None = None) -> tuple[Collected, float]:
    """Replays a day's trace files in order, each through a fresh pipeline as each run of the
    sensor was; (the bucketed events, seconds it took). With ``days``, a file already
    tracked with the same tracker/behaviour/zone settings re-runs only behaviour and policy
    (``edge.offline.seen``: the same events as a full replay)."""
    collected: Collected | None = None
    began = time.perf_counter()
    for path in paths:
        header, _ = read_trace(path)
        if collected is None:
            collected = Collected(header.start)
        else:
            collected.next_run(header.start)
        if days is not None:
            days.replay(path, settings, collected.add)
        else:
            replay(path, settings, on_event=collected.add)
    if collected is None:
        raise InputError("no trace file for this day")
    return collected, time.perf_counter() - began


def _row(hour: str, tally: Tally, response: list[float], unanswered: int,
         staff: list[float]) -> dict[str, Any]:
    dwells = list(tally.dwells)
    return {
        "hour": hour, "visits": tally.visits, "entered": tally.entered, "exited": tally.exited,
        "dwell_median_s": median_or_none(dwells, 1),
        "dwell_p90_s": _percentile(dwells, 0.9), "dwell_bins": dwell_bins(dwells),
        "pings": tally.pings_sent, "pings_by_reason": dict(sorted(tally.pings.items())),
        "held": tally.held.total(), "held_by_rule": dict(sorted(tally.held.items())),
        "acks": tally.acks,
        "response_median_s": median_or_none(response, 1), "unanswered": unanswered,
        "staff_response_median_s": median_or_none(staff, 1), "staff_came": len(staff),
    }


def report(paths: Sequence[Path], settings: Settings, days: SeenDays | None = None,
           name: str | None = None) -> dict[str, Any]:
    """Per hour and in total: visits, in/out, dwell, pings by reason, held by rule, ping ->
    ack response times, pings never answered; of one day's trace files (or one file)."""
    collected, seconds = collect(paths, settings, days)
    total = collected.total
    response: dict[str, list[float]] = defaultdict(list)
    staff: dict[str, list[float]] = defaultdict(list)
    unanswered: dict[str, int] = defaultdict(int)
    for hour, ping in collected.pings:
        if ping.id in collected.acks:
            response[hour].append(collected.acks[ping.id] - ping.t)
        else:
            unanswered[hour] += 1
        came = collected.staff_after(ping)
        if came is not None:
            staff[hour].append(came)
    rows = [_row(h, collected.hours[h], response[h], unanswered[h], staff[h])
            for h in sorted(collected.hours)]
    total_row = _row("total", total, [r for rs in response.values() for r in rs],
                     sum(unanswered.values()), [r for rs in staff.values() for r in rs])
    return {"trace": name or paths[0].name,
            "start": collected.start.isoformat() if collected.start else None,
            "files": [p.name for p in paths], "hours": rows, "total": total_row,
            "seconds": round(seconds, 3)}


CSV_COLUMNS = ("hour", "visits", "entered", "exited", "dwell_median_s", "dwell_p90_s", "pings",
               "held", "acks", "response_median_s", "unanswered", "staff_came",
               "staff_response_median_s", "live_pings", "live_acked", "live_response_median_s")


def report_csv(data: dict[str, Any]) -> str:
    """The report as CSV: one row per hour and a total row; reasons and rules as columns."""
    reasons = sorted({k for r in [*data["hours"], data["total"]] for k in r["pings_by_reason"]})
    rules = sorted({k for r in [*data["hours"], data["total"]] for k in r["held_by_rule"]})
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([*CSV_COLUMNS, *(f"pings_{k}" for k in reasons),
                     *(f"held_{k}" for k in rules)])
    for row in [*data["hours"], data["total"]]:
        writer.writerow([*("" if row.get(c) is None else row[c] for c in CSV_COLUMNS),
                         *(row["pings_by_reason"].get(k, 0) for k in reasons),
                         *(row["held_by_rule"].get(k, 0) for k in rules)])
    return out.getvalue()


def outcome(paths: Sequence[Path], settings: Settings,
            days: SeenDays | None = None) -> dict[str, Any]:
    """What-if's view of one day's replay: pings per hour and by reason, dwell when pinged,
    held by rule, and visitors who lingered but were never pinged."""
    collected, seconds = collect(paths, settings, days)
    total = collected.total
    per_hour = {h: collected.hours[h].pings_sent for h in sorted(collected.hours)}
    dwell_pinged = [round(p.dwell_s, 1) for _, p in collected.pings]
    never = collected.never_pinged()
    return {"pings": total.pings_sent, "pings_per_hour": per_hour,
            "pings_by_reason": dict(sorted(total.pings.items())),
            "dwell_when_pinged_s": dwell_pinged,
            "dwell_when_pinged_median_s": median_or_none(dwell_pinged, 1),
            "held_by_rule": dict(sorted(total.held.items())),
            "lingered_never_pinged": never, "visits": total.visits,
            "seconds": round(seconds, 3)}

