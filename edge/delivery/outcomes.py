"""What became of each message a sensor sent, by the broker's PUBACK: counted, logged once,
and settled in the outbox (a confirmed ping or record leaves it; a refused record stays).

``LogOnce`` keeps a broker that refuses every message from filling the log: each distinct
line is logged once per connection (``clear`` on reconnect), later repeats at debug level.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edge.config.mqtt import MqttConfig
from edge.delivery.mqtt import Topics
from edge.delivery.outbox import Outbox
from edge.delivery.status import DeliveryCounters

log = logging.getLogger("dwell.publisher")

NO_MATCHING_SUBSCRIBERS = 16
NOT_AUTHORIZED = 135
Tag = tuple[str, str] | None  # ("ping" | "record", id); None: status, stats, discovery


class LogOnce:
    def __init__(self) -> None:
        self._logged: set[str] = set()

    def __call__(self, emit: Callable[..., None], message: str) -> None:
        if message not in self._logged:
            self._logged.add(message)
            emit(message)
        else:
            log.debug(message)

    def clear(self) -> None:
        self._logged.clear()


class Outcomes:
    """Settles PUBACKs for one publisher (called on paho's thread)."""

    def __init__(self, cfg: MqttConfig, topics: Topics, outbox: Outbox,
                 counters: DeliveryCounters, log_once: LogOnce) -> None:
        self._cfg, self._topics, self._outbox = cfg, topics, outbox
        self._counters, self._log_once = counters, log_once

    def confirmed(self, tag: Tag, reason: Any) -> None:
        code = getattr(reason, "value", 0)
        if tag is None:
            if code == NOT_AUTHORIZED:
                self._log_once(log.error, "broker refused a status/stats message: Not "
                               "authorized (check the broker's ACL for this sensor)")
            return
        kind, item_id = tag
        if kind == "record":
            self._record(item_id, code, reason)
        else:
            self._ping(item_id, code, reason)

    def report(self) -> str:
        """One line on what became of this process's pings (for `dwell replay --publish`)."""
        c, cfg = self._counters, self._cfg
        unconfirmed = c.queued - c.confirmed - c.not_authorized - c.failed - c.expired
        line = (f"published {c.queued} ping(s) to {cfg.host}:{cfg.port} "
                f"({self._topics.ping}): {c.confirmed} confirmed")
        for name, value in (("nobody subscribed", c.no_subscribers),
                            ("not authorized", c.not_authorized), ("failed", c.failed),
                            ("expired", c.expired), ("unconfirmed", unconfirmed)):
            if value:
                line += f", {value} {name}"
        return line

    def _ping(self, ping_id: str, code: int, reason: Any) -> None:
        self._outbox.remove(ping_id)
        counters = self._counters
        if code == 0:
            counters.confirmed += 1
        elif code == NO_MATCHING_SUBSCRIBERS:
            counters.confirmed += 1
            counters.no_subscribers += 1
            self._log_once(log.warning, "ping delivered to the broker but no watch is "
                           "subscribed (No matching subscribers)")
        elif code == NOT_AUTHORIZED:
            counters.not_authorized += 1
            log.error("broker refused ping %s: Not authorized — the ACL does not let user %r "
                      "write %s", ping_id, self._cfg.username, self._topics.ping)
        else:
            counters.failed += 1
            log.error("broker refused ping %s: %s", ping_id, reason)

    def _record(self, rid: str, code: int, reason: Any) -> None:
        if code in (0, NO_MATCHING_SUBSCRIBERS):  # nobody subscribed: no bridge to a centre
            self._outbox.remove_record(rid)
            self._counters.records_confirmed += 1
            return
        # refused: kept in the outbox (a fixed ACL gets it through at the next connect)
        self._log_once(log.error, f"broker refused records on {self._topics.events}: {reason} "
                       f"(the ACL must let user {self._cfg.username!r} write it)")
