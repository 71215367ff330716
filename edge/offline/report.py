"""The owner's view of a replay: a summary on stdout and an optional plot.

The plot (a timeline of visits as bars with ping markers, and a dwell histogram) needs
matplotlib, an optional extra: ``pip install 'dwell-sensor[plot]'``.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edge.vocabulary.events import Event, Ping, VisitEnded
from edge.vocabulary.tally import Tally


class PlotUnavailable(RuntimeError):
    pass


def check_plot_available() -> None:
    """Raise PlotUnavailable with the install hint before any work is done."""
    if importlib.util.find_spec("matplotlib") is None:
        raise PlotUnavailable("--plot needs matplotlib, which is not installed: "
                              "pip install 'dwell-sensor[plot]' (or pip install matplotlib)")


@dataclass
class ReplaySummary:
    """What a replay found: the counts (the pipeline's ``Tally``), and the visits' spans and
    the pings themselves for the plot."""

    source: str
    kind: str
    hours_applied: bool = True
    hours_configured: bool = False
    frames: int = 0
    duration_s: float = 0.0
    counts: Tally = field(default_factory=Tally)
    visits: list[tuple[int, float, float]] = field(default_factory=list)  # id, start, end
    pings: list[Ping] = field(default_factory=list)

    def add(self, ev: Event) -> None:
        """A sink: keeps what the plot draws (counting is the Tally's job)."""
        if isinstance(ev, VisitEnded) and not ev.staff:
            self.visits.append((ev.visitor, ev.t - ev.dwell_s, ev.t))
        elif isinstance(ev, Ping):
            self.pings.append(ev)

    @property
    def dwells(self) -> list[float]:
        return [end - start for _, start, end in self.visits]

    def format(self) -> str:
        dwells = self.dwells
        lines = [f"replayed {self.source} ({self.kind}): {self.frames} frames, "
                 f"{self.duration_s:.1f} s",
                 f"visits: {len(dwells)} (+{self.counts.staff_visits} staff)"]
        if dwells:
            lines.append(f"dwell: median {np.median(dwells):.1f} s, "
                         f"p90 {np.percentile(dwells, 90):.1f} s, max {max(dwells):.1f} s")
        pings, held = self.counts.pings, self.counts.held
        lines.append(f"pings: {pings.total()}"
                     + "".join(f", {k} {v}" for k, v in sorted(pings.items())))
        lines.append(f"held back: {held.total()}"
                     + "".join(f", {k} {v}" for k, v in sorted(held.items())))
        if self.hours_configured and not self.hours_applied:
            lines.append("opening hours: NOT applied (the input has no start time; "
                         "give --start YYYY-MM-DDTHH:MM)")
        return "\n".join(lines)

    def plot(self, path: Path) -> None:
        check_plot_available()
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, (timeline, hist) = plt.subplots(
            2, 1, figsize=(10, 7), gridspec_kw={"height_ratios": [3, 1]})
        rows = {vid: i for i, (vid, _, _) in enumerate(sorted(self.visits, key=lambda v: v[1]))}
        for vid, start, end in self.visits:
            timeline.barh(rows[vid], end - start, left=start, height=0.6, color="#9ab")
        colours = {"linger": "tab:orange", "looking_around": "tab:purple",
                   "help_point": "tab:red"}
        for reason, colour in colours.items():
            pts = [(p.t, rows[p.visitor]) for p in self.pings
                   if p.reason == reason and p.visitor in rows]
            if pts:
                timeline.scatter(*zip(*pts, strict=True), marker="v", s=60, color=colour,
                                 label=f"ping: {reason}", zorder=3)
        timeline.set_yticks(list(rows.values()), [str(vid) for vid in rows])
        timeline.set_xlabel("time since start of input (s)")
        timeline.set_ylabel("visitor")
        timeline.set_title(f"Visits and pings — {Path(self.source).name}")
        if self.pings:
            timeline.legend(loc="upper right")
        hist.hist(self.dwells or [0.0], bins=20, color="#678")
        hist.set_xlabel("dwell (s)")
        hist.set_ylabel("visits")
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
