"""The demo's voice: what happens in the synthetic shop, in shop time, one line an event.

A sink of the sensor (the processing thread) that the stand-in watch (paho's thread) also
speaks through, hence the lock.
"""

from __future__ import annotations

import threading

from edge.vocabulary.events import (
    Acknowledged,
    AtHelpPoint,
    Attended,
    Event,
    Held,
    Lingering,
    LookingAround,
    Ping,
    VisitEnded,
    VisitStarted,
)

HELD_WHY = {
    "space_window": "give them space: the visit is younger than the space window",
    "acknowledged": "the watch already answered for this visitor: no more pings",
    "cooldown": "pinged recently: not nagging the assistant",
    "attended": "a member of staff is already with them",
    "rate_limit": "too many pings this minute: queued",
    "party": "their companion was pinged already",
}


class Narrator:
    """Prints what happens, in shop time, from the processing loop and the watch's thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.t = 0.0
        self.pinged: set[int] = set()
        self.staff: set[int] = set()
        self.given_space: set[int] = set()

    def say(self, text: str, t: float | None = None) -> None:
        stamp = self.t if t is None else t
        with self.lock:
            print(f"[{int(stamp) // 60:02d}:{stamp % 60:04.1f}] {text}", flush=True)

    def event(self, ev: Event) -> None:
        """The sink."""
        self.t = max(self.t, ev.t)
        line = self._line(ev)
        if line:
            self.say(line, ev.t)

    def _line(self, ev: Event) -> str | None:
        who = f"visitor {ev.visitor}"
        if isinstance(ev, VisitStarted | VisitEnded):
            return self._visit(ev, who)
        if isinstance(ev, Lingering) and ev.visitor not in self.staff:
            return f"{who} lingers in one spot ({ev.dwell_s:.0f} s inside)"
        if isinstance(ev, LookingAround):
            return f"{who} looks around, head turning left and right"
        if isinstance(ev, AtHelpPoint):
            return f"{who} waits at the {ev.zone or 'help point'}"
        if isinstance(ev, Attended):
            return f"staff is with {who}: no pings about them meanwhile"
        if isinstance(ev, Held) and ev.reason != "staff":
            if ev.reason == "space_window":
                self.given_space.add(ev.visitor)
            why = HELD_WHY.get(ev.reason, ev.reason)
            return f"  held back ({ev.candidate} of {who}): {why} [{ev.detail}]"
        if isinstance(ev, Ping):
            return self._ping(ev, who)
        if isinstance(ev, Acknowledged):
            return (f"<< ack arrived over MQTT ({ev.action} by {ev.by}): the policy sends no "
                    f"more pings about {who}")
        return None

    def _visit(self, ev: VisitStarted | VisitEnded, who: str) -> str | None:
        if isinstance(ev, VisitStarted):
            if ev.staff:
                self.staff.add(ev.visitor)
                return f"member of staff (#{ev.visitor}) at the {ev.zone or 'counter'}"
            return f"{who} comes in"
        if ev.staff:
            return None
        tail = "" if ev.visitor in self.pinged else " (never pinged)"
        return f"{who} leaves after {ev.dwell_s:.0f} s{tail}"

    def _ping(self, ev: Ping, who: str) -> str:
        self.pinged.add(ev.visitor)
        why = {"help_point": " (the help point needs no space window)",
               "linger": "", "looking_around": ""}.get(ev.reason, "")
        if ev.visitor in self.given_space:
            why = " (the give-them-space window has passed)"
        return f">> PING sent over MQTT: {ev.reason} for {who} after {ev.dwell_s:.0f} s{why}"
