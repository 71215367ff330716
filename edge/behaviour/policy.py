"""Policy: the give-them-space rule. Which candidate pings go to the watch, which are held, why.

A pure function of its own state, the behaviour events of this step, the visitors behaviour
knows, and ``t`` — no clock, no I/O. Candidates come from ``lingering``, ``looking_around`` and
``at_help_point`` events. Each is checked, in this order, and the first rule that applies holds
it (a ``held`` event with that rule as ``reason``):

- staff: staff are never the subject of a ping;
- closed: outside opening hours;
- acknowledged: the watch answered a ping for this visitor or their party this visit;
- attended: staff is with the visitor or their party;
- party: another member was pinged within the cooldown or is waiting in the queue;
- space_window: the visit is younger than ``space_window_s`` (the help point is exempt); a
  visitor who lingered during the window — or while the shop was closed — is re-checked when
  it ends (or the shop opens) and pinged if still lingering;
- cooldown: pinged less than ``visitor_cooldown_s`` ago; a visitor still lingering when it
  runs out (and not acknowledged) is pinged again — nobody is ignored;
- rate_limit: the store already had ``max_pings_per_minute`` in the last 60 s. The candidate
  waits in an ordered queue and later goes out, or is dropped as ``stale`` after ``stale_s``,
  as ``departed`` when the visitor left, or held by whichever rule applies by then.

An unacknowledged ping is repeated once (``escalation``) after ``escalate_after_s``.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from edge.config.sections import PolicyConfig, parse_hours
from edge.vocabulary.acks import Ack
from edge.vocabulary.events import (
    Acknowledged,
    AtHelpPoint,
    Event,
    Held,
    HeldRule,
    Lingering,
    LookingAround,
    Ping,
    PingReason,
    VisitEnded,
)

PingIdFactory = Callable[[int, float, str], str]
"""Gives the id of a new ping from (visitor, t, reason)."""

_RATE_SPAN_S = 60.0
_CANDIDATES: dict[type[Event], PingReason] = {
    Lingering: "linger", LookingAround: "looking_around", AtHelpPoint: "help_point",
}


def random_ping_ids() -> PingIdFactory:
    """Unique ids for a live sensor (uuid4 hex)."""
    return lambda visitor, t, reason: uuid.uuid4().hex


def deterministic_ping_ids(seed: str) -> PingIdFactory:
    """Ids derived from the input and the ping, so a replay writes the same file every time."""
    counter = 0

    def make(visitor: int, t: float, reason: str) -> str:
        nonlocal counter
        counter += 1
        text = f"{seed}|{visitor}|{t:.3f}|{reason}|{counter}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    return make


class VisitorView(Protocol):
    """What policy reads about a visitor (behaviour's VisitorState satisfies it)."""

    @property
    def first_t(self) -> float: ...
    @property
    def staff(self) -> bool: ...
    @property
    def zone(self) -> str | None: ...
    @property
    def lingering(self) -> bool: ...
    @property
    def attended(self) -> bool: ...


class World(Protocol):
    """The visitors present now and their parties (behaviour satisfies it)."""

    @property
    def visitors(self) -> Mapping[int, VisitorView]: ...

    def party_of(self, vid: int) -> frozenset[int]: ...


@dataclass(slots=True)
class _Sent:
    ping: Ping
    members: tuple[int, ...]
    escalated: bool = False


class Policy:
    """See the module docstring. ``start_wall`` (local time of t=0) enables opening hours."""

    def __init__(self, cfg: PolicyConfig, *, ping_id: PingIdFactory | None = None,
                 start_wall: datetime | None = None) -> None:
        self.ping_id = ping_id or random_ping_ids()
        self.start_wall = start_wall
        self.last_ping: dict[int, float] = {}
        self.acked: set[int] = set()
        # visitor -> when a held (or answered-by-a-ping) linger is due to be re-checked
        self.pending_linger: dict[int, float] = {}
        self.queue: OrderedDict[int, tuple[PingReason, float]] = OrderedDict()
        self.sent_times: deque[float] = deque()
        self.sent: dict[str, _Sent] = {}
        self.reload(cfg)

    def reload(self, cfg: PolicyConfig) -> None:
        self.cfg = cfg
        self.hours = parse_hours(cfg.opening_hours)

    @property
    def hours_applied(self) -> bool:
        """False when opening hours are configured but the wall-clock start is unknown."""
        return not self.hours or self.start_wall is not None

    # ---- per step ----------------------------------------------------------------------
    def step(self, events: list[Event], world: World, t: float) -> list[Event]:
        out: list[Event] = []
        for ev in events:
            if isinstance(ev, VisitEnded):
                self._forget(ev.visitor, t, out)
        self._drain_queue(world, t, out)
        self._due_lingers(world, t, out)
        for ev in events:
            reason = _CANDIDATES.get(type(ev))
            if reason is not None:
                self._candidate(ev.visitor, reason, world, t, out)
        if self.cfg.escalate_after_s is not None and self.sent:
            self._escalate(world, t, out)
        return out

    def acknowledge(self, ack: Ack, t: float) -> list[Event]:
        """The watch answered: no further pings this visit for the visitor and their party."""
        sent = self.sent.get(ack.ping_id)
        if sent is None:
            return []
        self.acked.update(sent.members)
        for key in [k for k, s in self.sent.items() if set(s.members) & set(sent.members)]:
            self.sent[key].escalated = True  # answered: never escalate
        for vid in sent.members:
            self.queue.pop(vid, None)
            self.pending_linger.pop(vid, None)
        return [Acknowledged(t, sent.ping.visitor, ping_id=ack.ping_id, action=ack.action,
                             by=ack.by)]

    # ---- rules -------------------------------------------------------------------------
    def _candidate(self, vid: int, reason: PingReason, world: World, t: float,
                   out: list[Event]) -> None:
        v = world.visitors.get(vid)
        if v is None or vid in self.queue:
            return
        why = self._blocked(vid, v, reason, world, t)
        if why is not None:
            rule, detail = why
            due = self._linger_recheck_at(vid, v, rule, t)
            if due is not None and reason == "linger":
                self.pending_linger[vid] = due
                detail += "; re-checked when it ends"
            self._hold(out, t, vid, reason, rule, detail)
        elif not self._capacity(t):
            self.queue[vid] = (reason, t)
            self._hold(out, t, vid, reason, "rate_limit",
                       f"{self.cfg.max_pings_per_minute} pings in the last minute; queued")
        else:
            self._send(vid, v, reason, world, t, out)

    def _blocked(self, vid: int, v: VisitorView, reason: PingReason, world: World,
                 t: float) -> tuple[HeldRule, str] | None:
        cfg = self.cfg
        party = world.party_of(vid)
        if v.staff:
            return "staff", "staff are never the subject of a ping"
        if self._closed(t):
            return "closed", "outside opening hours"
        if vid in self.acked or party & self.acked:
            return "acknowledged", "the watch already answered for this visit"
        if v.attended or any(_attended(world, m) for m in party):
            return "attended", "a member of staff is with them"
        for m in sorted(party):
            if m in self.queue or t - self.last_ping.get(m, -1e18) < cfg.visitor_cooldown_s:
                return "party", f"visitor {m} of the same party was pinged"
        dwell = t - v.first_t
        if reason != "help_point" and dwell < cfg.space_window_s:
            return "space_window", f"visit {dwell:.0f} s < space_window_s {cfg.space_window_s:g} s"
        since = t - self.last_ping.get(vid, -1e18)
        if since < cfg.visitor_cooldown_s:
            return "cooldown", f"pinged {since:.0f} s ago < visitor_cooldown_s " \
                f"{cfg.visitor_cooldown_s:g} s"
        return None

    def _due_lingers(self, world: World, t: float, out: list[Event]) -> None:
        """Who lingered inside the space window, while closed or within the cooldown is pinged
        as it ends (or the shop opens), if still lingering."""
        closed = self._closed(t) if self.pending_linger else False
        for vid in list(self.pending_linger):
            v = world.visitors.get(vid)
            if v is None:
                del self.pending_linger[vid]
            elif t >= self.pending_linger[vid] and not closed:
                del self.pending_linger[vid]
                if v.lingering:
                    self._candidate(vid, "linger", world, t, out)

    def _linger_recheck_at(self, vid: int, v: VisitorView, rule: HeldRule,
                           t: float) -> float | None:
        """When a linger held by ``rule`` is worth checking again (None: never this visit)."""
        if rule == "space_window":
            return v.first_t + self.cfg.space_window_s
        if rule == "cooldown":
            return self.last_ping[vid] + self.cfg.visitor_cooldown_s
        if rule == "closed":
            return t  # every step until the shop opens
        return None

    def _drain_queue(self, world: World, t: float, out: list[Event]) -> None:
        for vid, (reason, queued_t) in list(self.queue.items()):
            v = world.visitors.get(vid)
            if v is None:
                continue  # _forget already dropped it
            if t - queued_t > self.cfg.stale_s:
                del self.queue[vid]
                self._hold(out, t, vid, reason, "stale",
                           f"waited {t - queued_t:.0f} s > stale_s {self.cfg.stale_s:g} s")
                continue
            del self.queue[vid]  # re-check as a fresh candidate, keeping its place if still held
            why = self._blocked(vid, v, reason, world, t)
            if why is not None:
                self._hold(out, t, vid, reason, *why)
            elif self._capacity(t):
                self._send(vid, v, reason, world, t, out)
            else:
                # Every entry is taken out and the waiting ones put back in turn, so the
                # queue keeps its order (nothing new joins while draining).
                self.queue[vid] = (reason, queued_t)

    def _escalate(self, world: World, t: float, out: list[Event]) -> None:
        after = self.cfg.escalate_after_s
        assert after is not None
        for sent in list(self.sent.values()):
            ping = sent.ping
            if sent.escalated or t - ping.t < after:
                continue
            v = world.visitors.get(ping.visitor)
            if v is None or set(sent.members) & self.acked or v.attended or self._closed(t):
                sent.escalated = True  # the moment passed: never re-ping later
                continue
            if not self._capacity(t):
                return  # try again next step
            sent.escalated = True
            self._send(ping.visitor, v, ping.reason, world, t, out, escalation=True)

    def _forget(self, vid: int, t: float, out: list[Event]) -> None:
        if vid in self.queue:
            reason, _ = self.queue.pop(vid)
            self._hold(out, t, vid, reason, "departed", "left before the rate limit allowed it")
        self.pending_linger.pop(vid, None)
        self.last_ping.pop(vid, None)
        self.acked.discard(vid)
        for key in [k for k, s in self.sent.items() if s.ping.visitor == vid]:
            del self.sent[key]

    # ---- helpers -----------------------------------------------------------------------
    def _capacity(self, t: float) -> bool:
        times = self.sent_times
        while times and times[0] <= t - _RATE_SPAN_S:
            times.popleft()
        return len(times) < self.cfg.max_pings_per_minute

    def _closed(self, t: float) -> bool:
        if not self.hours or self.start_wall is None:
            return False
        now = self.start_wall + timedelta(seconds=t)
        minute = now.hour * 60 + now.minute + now.second / 60
        for start, end in self.hours:
            inside = start <= minute < end if start <= end else (minute >= start or minute < end)
            if inside:
                return False
        return True

    def _send(self, vid: int, v: VisitorView, reason: PingReason, world: World, t: float,
              out: list[Event], escalation: bool = False) -> None:
        party = tuple(sorted(world.party_of(vid)))
        ping = Ping(t, vid, id=self.ping_id(vid, t, reason), reason=reason,
                    dwell_s=t - v.first_t, zone=v.zone, escalation=escalation, party=party)
        self.last_ping[vid] = t
        self.sent_times.append(t)
        self.sent[ping.id] = _Sent(ping, (vid, *party), escalated=escalation)
        if reason == "linger":
            # behaviour says "lingering" once per spot: re-check when the cooldown runs out
            self.pending_linger[vid] = t + self.cfg.visitor_cooldown_s
        out.append(ping)

    def _hold(self, out: list[Event], t: float, vid: int, reason: PingReason, rule: HeldRule,
              detail: str) -> None:
        out.append(Held(t, vid, candidate=reason, reason=rule, detail=detail))


def _attended(world: World, vid: int) -> bool:
    v = world.visitors.get(vid)
    return bool(v and v.attended)
