"""One count of the events a sensor emitted, read by everything that reports numbers.

The pipeline keeps one for its whole run, the live service one per day (the retained stats
topic), and a replay's summary reads the pipeline's. A new number is one more field and one
more branch in ``add``; every reader gets it from the same place.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from edge.vocabulary.events import (
    Acknowledged,
    Entered,
    Event,
    Exited,
    Held,
    Ping,
    VisitEnded,
    VisitStarted,
)

DWELLS_KEPT = 100_000  # far more than a day's visits; bounds memory on a sensor that never stops


def ping_key(ping: Ping) -> str:
    """How a ping is counted: by its reason, escalations on their own."""
    return "escalation" if ping.escalation else ping.reason


@dataclass
class Tally:
    """Visits, dwell, pings by reason, held candidates by rule and acks, from events alone."""

    visits: int = 0  # visitors' (not staff) visits started
    visits_ended: int = 0  # visitors' visits ended
    staff_visits: int = 0  # staff visits ended
    dwells: deque[float] = field(default_factory=lambda: deque(maxlen=DWELLS_KEPT))
    pings: Counter[str] = field(default_factory=Counter)
    held: Counter[str] = field(default_factory=Counter)
    acks: int = 0
    entered: int = 0  # people who crossed an entrance zone inward
    exited: int = 0  # people who left through an entrance zone

    def add(self, ev: Event) -> None:
        if isinstance(ev, VisitStarted):
            self.visits += not ev.staff
        elif isinstance(ev, VisitEnded):
            if ev.staff:
                self.staff_visits += 1
            else:
                self.visits_ended += 1
                self.dwells.append(ev.dwell_s)
        elif isinstance(ev, Ping):
            self.pings[ping_key(ev)] += 1
        elif isinstance(ev, Held):
            self.held[ev.reason] += 1
        elif isinstance(ev, Acknowledged):
            self.acks += 1
        elif isinstance(ev, Entered):
            self.entered += 1
        elif isinstance(ev, Exited):
            self.exited += 1

    def observe(self, events: list[Event]) -> list[Event]:
        """Counts ``events`` and returns them (so a producer can count on its way out)."""
        for ev in events:
            self.add(ev)
        return events

    @property
    def pings_sent(self) -> int:
        return self.pings.total()
