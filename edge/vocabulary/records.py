"""A finished record for a chain's central database (made by edge/delivery/records.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Record:
    """One finished record: ``id`` is stable across resends; ``payload`` is its JSON object.
    ``held`` records (a candidate ping held back) are the first dropped when the outbox is
    full: they explain, the others count."""

    id: str
    kind: str
    payload: dict[str, Any]

    @property
    def held(self) -> bool:
        return self.kind == "held"
