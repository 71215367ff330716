"""An answer from the watch side to one ping: what travels from the publisher to the policy."""

from __future__ import annotations

from dataclasses import dataclass

ACTIONS = ("on_my_way", "dismiss", "done")


@dataclass(frozen=True, slots=True)
class Ack:
    """The watch answered ping ``ping_id`` with ``action`` (one of ACTIONS); ``by`` names who
    (a watch or bridge's free text, at most 64 characters), or None."""

    ping_id: str
    action: str
    by: str | None
