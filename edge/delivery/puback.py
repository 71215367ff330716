"""Which of our QoS 1 messages the broker confirmed (PUBACK), by message id.

paho 2 tells about a PUBACK only through ``on_publish(mid, reason)``: ``is_published`` and
``wait_for_publish`` raise while disconnected. Two traps every sender of QoS 1 messages meets
(the publisher's pings and `dwell watch`'s acks):

- the PUBACK can beat the sender: ``on_publish`` may run on paho's thread before
  ``client.publish`` has returned the mid to the caller, so an unknown mid is kept as "early"
  and settled when the caller tracks it;
- ``on_publish`` runs under paho's own lock, so the sender must never hold a lock of its own
  while calling paho. This class holds its lock only around its dicts, and calls
  ``on_confirmed`` with no lock held.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

Tag = TypeVar("Tag")


class Pubacks(Generic[Tag]):
    """mid -> what the caller sent (``Tag``), until the broker's PUBACK settles it.

    ``on_confirmed(tag, reason)`` is called once per tracked mid when its PUBACK arrives
    (on paho's thread, or on the caller's when the PUBACK came first).
    """

    def __init__(self, on_confirmed: Callable[[Tag, Any], None]) -> None:
        self._on_confirmed = on_confirmed
        self._waiting: dict[int, Tag] = {}
        self._early: dict[int, Any] = {}  # PUBACKs that beat the caller to tracking the mid
        self._cond = threading.Condition()

    def track(self, mid: int, tag: Tag) -> None:
        """Remember what ``mid`` carried (call right after ``client.publish`` returned it)."""
        with self._cond:
            if mid not in self._early:
                self._waiting[mid] = tag
                return
            reason = self._early.pop(mid)
            self._cond.notify_all()
        self._on_confirmed(tag, reason)

    def on_publish(self, client: Any, userdata: Any, mid: int, reason: Any,
                   props: Any = None) -> None:
        """paho's ``on_publish`` (VERSION2 signature)."""
        with self._cond:
            if mid not in self._waiting:
                self._early[mid] = reason
                return
            tag = self._waiting.pop(mid)
            self._cond.notify_all()
        self._on_confirmed(tag, reason)

    def forget(self) -> None:
        """Drop every open mid (after a lost connection: paho numbers anew, and whatever was
        in flight is resent by its owner, not by paho)."""
        with self._cond:
            self._waiting.clear()
            self._early.clear()
            self._cond.notify_all()

    def waiting(self, mid: int) -> bool:
        with self._cond:
            return mid in self._waiting

    def __len__(self) -> int:
        with self._cond:
            return len(self._waiting)

    def wait_all(self, timeout: float) -> bool:
        """Wait until every tracked mid is settled; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._waiting, timeout)
