"""The retained ``status`` and ``stats`` payloads, and the counters of delivery.

``status`` says what state the sensor is in (online/offline, camera ok or lost, problems such
as a quarantined outbox or a session taken over) and is published only when that state
changes: it is what a watch or Home Assistant alerts on, so it must not chatter. Numbers that
move all day (visitors now, fps) go to ``stats``, published on its own schedule.

The service owns what is counted about visitors (the pipeline's state lives on the processing
thread); it hands plain snapshots to the publisher through a ``StatsSource``. The publisher adds
what only it knows (delivery counters). Nothing here reads a clock: callers pass ``now``.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from edge import __version__
from edge.delivery.messages import iso_utc
from edge.vocabulary.status import StatsSnapshot, StatusSnapshot

State = Literal["online", "offline"]


class StatsSource(Protocol):
    """What the service implements (on its processing thread) for status and stats."""

    def status_snapshot(self) -> StatusSnapshot: ...

    def stats_snapshot(self) -> StatsSnapshot: ...


@dataclass
class DeliveryCounters:
    """What happened to pings on their way out; reported inside stats."""

    queued: int = 0
    sent: int = 0
    confirmed: int = 0
    no_subscribers: int = 0
    not_authorized: int = 0
    failed: int = 0
    expired: int = 0
    resent: int = 0
    acks_accepted: int = 0
    acks_refused: Counter[str] = field(default_factory=Counter)
    records_queued: int = 0  # finished records for the centre (edge/delivery/records.py)
    records_confirmed: int = 0
    records_dropped: int = 0  # the outbox was full (held records go first)

    def as_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in vars(self).items() if k != "acks_refused"}
        data["acks_refused"] = dict(self.acks_refused)
        return data


def status_payload(state: State, snapshot: StatusSnapshot | None, now: float | None,
                   reason: str | None = None, problems: tuple[str, ...] = ()
                   ) -> dict[str, Any]:
    """JSON of the retained status topic. The last will has ``now`` None (sent by the broker).
    ``problems``: what is degraded while online (empty when all is well)."""
    snap = snapshot or StatusSnapshot()
    data: dict[str, Any] = {
        "state": state,
        "camera_ok": snap.camera_ok,
        "problems": list(problems),
        "version": __version__,
    }
    if now is not None:
        data["ts"] = iso_utc(now)
    if reason:
        data["reason"] = reason
    return data


def status_key(snapshot: StatusSnapshot | None, problems: tuple[str, ...]) -> tuple[Any, ...]:
    """What a status message says apart from its time: a new key is a change of state."""
    return (None if snapshot is None else snapshot.camera_ok, problems)


def stats_payload(snapshot: StatsSnapshot, delivery: DeliveryCounters | None,
                  now: float, live: StatusSnapshot | None = None) -> dict[str, Any]:
    """JSON of the retained stats topic; ``live`` adds the latest visitors now and fps."""
    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "ts": iso_utc(now),
        "visitors_now": None if live is None else live.visitors_now,
        "fps": None if live is None else rounded(live.fps),
        "visitors_today": snapshot.visitors_today,
        "entered_today": snapshot.entered_today,
        "exited_today": snapshot.exited_today,
        "dwell_median_s": rounded(snapshot.dwell_median_s),
        "pings_today": snapshot.pings_today,
        "pings_by_reason": dict(snapshot.pings_by_reason),
        "acks": snapshot.acks,
        "ack_median_s": rounded(snapshot.ack_median_s),
        "delivery": delivery.as_dict() if delivery else None,
    }


def median_or_none(values: Iterable[float], ndigits: int | None = None) -> float | None:
    """The median (rounded to ``ndigits`` when given), None for no values."""
    values = list(values)
    if not values:
        return None
    median = statistics.median(values)
    return median if ndigits is None else round(median, ndigits)


class StatsTicker:
    """Says when stats are due: every ``interval_s`` of the caller's clock, first at once."""

    def __init__(self, interval_s: float) -> None:
        self.interval_s = interval_s
        self._next: float | None = None

    def due(self, now: float) -> bool:
        if self._next is not None and now < self._next:
            return False
        self._next = now + self.interval_s
        return True
