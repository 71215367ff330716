"""What a sensor reports about itself: the retained ``status`` and the day's ``stats``.

Plain data handed by the service to any ``Publisher``; ``edge.delivery.status`` turns them into
payloads.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class StatusSnapshot:
    """How the sensor is doing right now (None: not known yet)."""

    camera_ok: bool | None = None
    fps: float | None = None
    visitors_now: int | None = None


@dataclass(frozen=True, slots=True)
class StatsSnapshot:
    """Today's numbers about visitors and pings, as the service counted them."""

    visitors_today: int = 0
    entered_today: int = 0  # crossed an entrance zone inward (beside visits, to compare)
    exited_today: int = 0
    dwell_median_s: float | None = None
    pings_today: int = 0
    pings_by_reason: dict[str, int] = field(default_factory=dict)
    acks: int = 0
    ack_median_s: float | None = None
