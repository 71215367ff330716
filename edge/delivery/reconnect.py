"""When to try the broker again: a short jittered backoff, and a hard one when another client
has taken our session over.

paho's own backoff doubles from ``min_delay`` to ``max_delay`` (client.py ``_reconnect_wait``)
and starts over only after a CONNACK. With the old default of 30 s a broker that was down 15 s
was found again up to 16 s late, and every queued ping with it. A LAN broker costs nothing to
try once a second, so the default ceiling is 1 s; each wait is drawn from [delay/2, delay]
("equal jitter") so that many sensors do not knock on a restarted broker in step.

**Takeover.** A broker accepts one connection per client id: a second client with our id
closes our connection, we reconnect and close theirs, every ~2 s (status flapping, pings
doubled). MQTT 5 brokers that say so send DISCONNECT 0x8E "Session taken over"; mosquitto
2.0.11 (Debian 12) just closes the socket, which paho reports as "Unspecified error". So a
takeover is either that reason code, or ``QUICK_DROPS`` connections in a row that the broker
ended within ``QUICK_S`` of accepting them, each time accepting the next attempt at once (a
broker that went away refuses an attempt or two, which starts the count over). Then we step
aside for ``takeover_s`` (jittered) instead of fighting: the other client keeps the session,
and the log and status say why.

paho calls ``on_disconnect`` / ``on_connect_fail`` right before it waits, so the publisher asks
this class for the next wait there and hands it to paho with ``reconnect_delay_set``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

SESSION_TAKEN_OVER = 0x8E
QUICK_S = 10.0  # a connection the broker ends sooner than this counts as a quick drop
QUICK_DROPS = 3  # that many quick drops in a row: another client is using our id


@dataclass(frozen=True, slots=True)
class Drop:
    """What a lost connection was, as far as the reconnect decision goes."""

    taken_over: bool  # another client has our session (said by the broker, or inferred)
    said_by_broker: bool  # the broker named it (0x8E), not inferred from quick drops
    delay_s: float  # how long to wait before the next attempt


class ReconnectPolicy:
    """The waits between attempts. ``clock`` is monotonic seconds, ``rng`` in [0, 1)."""

    def __init__(self, min_s: float, max_s: float, takeover_s: float, *,
                 clock: Callable[[], float], rng: Callable[[], float] = random.random) -> None:
        self.min_s = min_s
        self.max_s = max(min_s, max_s)
        self.takeover_s = takeover_s
        self._clock = clock
        self._rng = rng
        self._delay = 0.0  # the un-jittered delay of the last wait (0: none yet)
        self._connected_at: float | None = None
        self._quick = 0
        self.takeovers = 0

    def connected(self) -> None:
        """A CONNACK said yes: the backoff starts over."""
        self._connected_at = self._clock()
        self._delay = 0.0

    def failed(self) -> float:
        """An attempt failed (refused, unreachable, TLS): the next wait. The broker was away,
        so the drops before were no takeover (that one is answered at once)."""
        self._quick = 0
        return self._next()

    def lost(self, reason: Any) -> Drop:
        """The connection ended (not by us); ``reason`` is paho's DISCONNECT reason code."""
        said = getattr(reason, "value", None) == SESSION_TAKEN_OVER
        lasted = None if self._connected_at is None else self._clock() - self._connected_at
        self._connected_at = None
        if lasted is not None:
            self._quick = self._quick + 1 if lasted < QUICK_S else 0
        if said or self._quick >= QUICK_DROPS:
            self.takeovers += 1
            self._delay = 0.0
            return Drop(True, said, self.takeover_s * (0.75 + 0.5 * self._rng()))
        return Drop(False, False, self._next())

    def _next(self) -> float:
        self._delay = self.min_s if self._delay == 0 else min(self._delay * 2, self.max_s)
        return self._delay * (0.5 + 0.5 * self._rng())
