"""Answers from the watch side on the ack topic: parsed strictly, anything odd refused.

The ack topic is writable by every watch and bridge, so its input is untrusted: a payload that
is not JSON, lacks a field, names a ping this sensor never sent, or is huge is refused with a
reason, counted, and logged once per reason (a misbehaving client must not flood the journal).
A refused ack changes nothing.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter, OrderedDict

from edge.vocabulary.acks import ACTIONS, Ack
from edge.vocabulary.interfaces import AckHandler

log = logging.getLogger("dwell.acks")

MAX_ACK_BYTES = 1024  # a real ack is ~80 bytes
MAX_BY_CHARS = 64
KNOWN_IDS_KEPT = 2000  # ids of pings sent, newest kept; far more than a day's pings


class AckRejected(ValueError):
    """Why an ack payload was refused; ``reason`` is a short counter key."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def parse_ack(payload: bytes) -> Ack:
    """An Ack from the raw payload, or AckRejected naming what is wrong."""
    if len(payload) > MAX_ACK_BYTES:
        raise AckRejected("too_large", f"{len(payload)} bytes (limit {MAX_ACK_BYTES})")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AckRejected("not_json", str(exc)) from None
    if not isinstance(data, dict):
        raise AckRejected("bad_fields", f"expected a JSON object, got {type(data).__name__}")
    ping_id, action, by = data.get("ping_id"), data.get("action"), data.get("by")
    if not isinstance(ping_id, str) or not ping_id:
        raise AckRejected("bad_fields", "ping_id missing or not a string")
    if action not in ACTIONS:
        raise AckRejected("bad_fields", f"action {action!r} is not one of {', '.join(ACTIONS)}")
    if by is not None and (not isinstance(by, str) or len(by) > MAX_BY_CHARS):
        raise AckRejected("bad_fields", f"by must be a string of at most {MAX_BY_CHARS} chars")
    return Ack(ping_id, action, by)


def ack_payload(ping_id: str, action: str, by: str | None) -> bytes:
    """What a watch (or bridge) publishes on the ack topic."""
    if action not in ACTIONS:
        raise ValueError(f"action {action!r} is not one of {', '.join(ACTIONS)}")
    return json.dumps({"ping_id": ping_id, "action": action, "by": by}).encode()


class AckFilter:
    """Knows which pings were sent; turns ack payloads into handler calls or refusals.

    Thread-safe: ``sent`` is called from the publishing thread, ``receive`` from paho's.
    The same (ping_id, action) twice (QoS 1 redelivery, two taps) reaches the handler once.
    """

    def __init__(self, handler: AckHandler) -> None:
        self._handler = handler
        self._lock = threading.Lock()
        self._sent: OrderedDict[str, float] = OrderedDict()  # ping id -> epoch sent
        self._seen: set[tuple[str, str]] = set()
        self.accepted = 0
        self.refused: Counter[str] = Counter()
        self.times_to_ack: list[float] = []

    def sent(self, ping_id: str, epoch: float) -> None:
        with self._lock:
            self._sent[ping_id] = epoch
            while len(self._sent) > KNOWN_IDS_KEPT:
                old, _ = self._sent.popitem(last=False)
                self._seen = {k for k in self._seen if k[0] != old}

    def receive(self, payload: bytes, now: float) -> Ack | None:
        """Handle one payload; the accepted Ack, or None when refused or a duplicate."""
        try:
            ack = parse_ack(payload)
            with self._lock:
                sent_at = self._sent.get(ack.ping_id)
                if sent_at is None:
                    raise AckRejected("unknown_ping", f"no ping {ack.ping_id!r} was sent")
                key = (ack.ping_id, ack.action)
                duplicate = key in self._seen
                self._seen.add(key)
                if not duplicate:
                    self.accepted += 1
                    if len(self._seen_for(ack.ping_id)) == 1:
                        self.times_to_ack.append(max(0.0, now - sent_at))
        except AckRejected as exc:
            self._refuse(exc)
            return None
        if duplicate:
            self.refused["duplicate"] += 1
            log.debug("ack for %s (%s) again: ignored", ack.ping_id, ack.action)
            return None
        self._handler(ack)
        return ack

    def _seen_for(self, ping_id: str) -> list[tuple[str, str]]:
        return [k for k in self._seen if k[0] == ping_id]

    def _refuse(self, exc: AckRejected) -> None:
        with self._lock:
            first = self.refused[exc.reason] == 0
            self.refused[exc.reason] += 1
        # once per reason at WARNING: a flood of junk must not flood the journal
        (log.warning if first else log.debug)(
            "ignored a malformed ack (%s; further ones logged at DEBUG only)", exc)
