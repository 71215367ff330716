"""Typed, frozen events out of behaviour and the pings out of policy.

Every event carries ``t`` (seconds since the start of the input) and ``visitor`` (an anonymous
id, valid for one visit). ``to_json`` gives the line written to the events JSONL (contract:
type, t, visitor, then the event's own fields).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal

PingReason = Literal["linger", "looking_around", "help_point"]
HeldRule = Literal["staff", "closed", "acknowledged", "attended", "party", "space_window",
                   "cooldown", "rate_limit", "stale", "departed"]
"""The policy rule that held a candidate ping (``held`` events' ``reason``)."""


@dataclass(frozen=True, slots=True)
class Event:
    type: ClassVar[str] = "event"
    t: float
    visitor: int

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"type": self.type}
        for key, value in asdict(self).items():
            data[key] = round(value, 3) if isinstance(value, float) else value
        return data


@dataclass(frozen=True, slots=True)
class VisitStarted(Event):
    type: ClassVar[str] = "visit_start"
    staff: bool = False
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class VisitEnded(Event):
    type: ClassVar[str] = "visit_end"
    dwell_s: float = 0.0
    staff: bool = False


@dataclass(frozen=True, slots=True)
class Entered(Event):
    """The visitor crossed an ``entrance`` zone inward (the owner's "in" count)."""

    type: ClassVar[str] = "entered"


@dataclass(frozen=True, slots=True)
class Exited(Event):
    """The visitor left through an ``entrance`` zone (the "out" count); their visit ends at
    once, at ``t``, their last sighting."""

    type: ClassVar[str] = "exited"


@dataclass(frozen=True, slots=True)
class Lingering(Event):
    type: ClassVar[str] = "lingering"
    dwell_s: float = 0.0
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class LookingAround(Event):
    type: ClassVar[str] = "looking_around"
    dwell_s: float = 0.0
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class AtHelpPoint(Event):
    type: ClassVar[str] = "at_help_point"
    dwell_s: float = 0.0
    zone: str | None = None


@dataclass(frozen=True, slots=True)
class Ping(Event):
    """A decision to tap the assistant's wrist. ``id`` is the one the MQTT message carries."""

    type: ClassVar[str] = "ping"
    id: str
    reason: PingReason = "linger"
    dwell_s: float = 0.0
    zone: str | None = None
    escalation: bool = False
    party: tuple[int, ...] = ()  # the other members of the visitor's party, pinged together


@dataclass(frozen=True, slots=True)
class Held(Event):
    """A candidate ping that policy did not send, and why (``replay --explain`` prints these).

    ``reason`` is the rule that held it: space_window, cooldown, attended, rate_limit,
    acknowledged, closed, party, staff, stale, departed. ``candidate`` is the ping reason that
    was held (linger, looking_around, help_point).
    """

    type: ClassVar[str] = "held"
    candidate: PingReason = "linger"
    reason: HeldRule = "space_window"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Attended(Event):
    """A member of staff has been with the visitor for ``attended_s`` (no pings meanwhile)."""

    type: ClassVar[str] = "attended"
    staff_id: int = 0


@dataclass(frozen=True, slots=True)
class AttendedEnded(Event):
    """Staff left the visitor; the linger clock starts again from here."""

    type: ClassVar[str] = "attended_end"


@dataclass(frozen=True, slots=True)
class PartyJoined(Event):
    """The visitor arrived with ``others`` and stays close to them: one ping for all."""

    type: ClassVar[str] = "party"
    others: tuple[int, ...] = ()


@dataclass(frozen=True, slots=True)
class Acknowledged(Event):
    """The watch answered ping ``ping_id``: no further pings for this visitor (and party)."""

    type: ClassVar[str] = "ack"
    ping_id: str = ""
    action: str = ""
    by: str | None = None
