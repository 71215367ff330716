"""What a ping says on the watch: the JSON on the ping topic, and its title and message.

A watch face shows ~20 characters of title and two short lines of message, so the texts are
kept under ``TITLE_MAX`` and ``MESSAGE_MAX`` (a test checks every language and reason against
the longest zone name we accept). The payload never carries an image, a face or a box: only
the anonymous visitor number of this visit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from edge.vocabulary.events import Ping

Language = Literal["en", "de"]
TITLE_MAX = 24
MESSAGE_MAX = 64
ZONE_SHOWN_MAX = 16  # a long zone name is cut so the message still fits the face

# title, message ({inside}: time in the shop, {at_zone} filled in);
# "repeat" titles mark an escalation
_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "en": {
        "linger": ("Visitor lingering", "In the shop {inside}{at_zone}"),
        "looking_around": ("Visitor looking around", "Seems to look for help{at_zone}"),
        "help_point": ("Help point", "Visitor waiting{at_zone}"),
        "repeat": ("Still waiting", "No one answered the last ping"),
    },
    "de": {
        "linger": ("Kunde verweilt", "Seit {inside} im Laden{at_zone}"),
        "looking_around": ("Kunde sucht Hilfe", "Schaut sich suchend um{at_zone}"),
        "help_point": ("Beratungspunkt", "Kunde wartet{at_zone}"),
        "repeat": ("Wartet noch", "Niemand hat geantwortet"),
    },
}
_AT = {"en": " at {zone}", "de": " bei {zone}"}
PRIORITY = {"help_point": 4, "looking_around": 4, "linger": 3}


@dataclass(frozen=True, slots=True)
class PingText:
    title: str
    message: str


def ping_text(reason: str, dwell_s: float, zone: str | None, language: Language,
              escalation: bool = False) -> PingText:
    """Title and one-line message for a watch face, in ``language``."""
    texts = _TEXTS[language]
    title, template = texts.get(reason, texts["linger"])
    at_zone = ""
    if zone:
        shown = zone if len(zone) <= ZONE_SHOWN_MAX else zone[: ZONE_SHOWN_MAX - 1] + "…"
        at_zone = _AT[language].format(zone=shown)
    message = template.format(inside=_inside(dwell_s, language), at_zone=at_zone)
    if escalation:
        title = texts["repeat"][0]
    return PingText(_cut(title, TITLE_MAX), _cut(message, MESSAGE_MAX))


def _inside(dwell_s: float, language: Language) -> str:
    """'40 s' under a minute (rounding 20 s up to '1 min' would tell the assistant a
    visitor waited three times longer than they did), else whole minutes."""
    if dwell_s < 60:
        return f"{max(0, int(dwell_s))} s"
    return f"{round(dwell_s / 60)} {'Min.' if language == 'de' else 'min'}"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def iso_utc(epoch_s: float) -> str:
    """ISO 8601 UTC with millisecond precision and a Z, as every payload uses."""
    stamp = datetime.fromtimestamp(epoch_s, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def parse_iso_utc(text: str) -> float:
    """Epoch seconds from an ``iso_utc`` string (or any ISO 8601 with an offset)."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def ping_payload(ping: Ping, *, store: str, camera: str, language: Language, now: float,
                 expiry_s: float) -> dict[str, Any]:
    """The JSON object of the ping topic (contract: docs/delivery.md).

    ``now`` is wall-clock epoch seconds when the ping was handed to the publisher; the ping's
    own ``t`` is input time and means nothing to a watch.
    """
    text = ping_text(ping.reason, ping.dwell_s, ping.zone, language, ping.escalation)
    return {
        "id": ping.id,
        "store": store,
        "camera": camera,
        "visitor": ping.visitor,
        "reason": ping.reason,
        "title": text.title,
        "message": text.message,
        "priority": PRIORITY.get(ping.reason, 3) + (1 if ping.escalation else 0),
        "zone": ping.zone,
        "dwell_s": round(float(ping.dwell_s), 1),
        "escalation": ping.escalation,
        "ts": iso_utc(now),
        "expires_at": iso_utc(now + expiry_s),
    }
