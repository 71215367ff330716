"""The ntfy buttons' ack links: where the phone can reach them, signed, expiring, used once.

A button is a plain HTTP POST to a URL in the notification, so whoever sees the notification
(the ntfy topic is readable by anyone who knows its name on a public server) can see the URL.
Each URL therefore carries an HMAC of (topic base, ping id, action, expiry) under
``ntfy.ack_secret``: nobody can forge one for another ping or stretch its life. It answers once:
a second press, or a replay of a captured URL, gets 410 Gone instead of a second ack. After the
ping expired the link answers 410 too: sending the assistant for a visitor long gone helps nobody.

The base URL must be one the *phone* can reach. 127.0.0.1 (the old default) is the phone itself,
so every button silently did nothing: such a URL is refused unless the caller says the phone is
on this machine (tests, a browser on the Pi).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urlparse

from edge.delivery.acks import ACTIONS

HOW_TO_SET = (
    "set [ntfy] ack_url in the config (or DWELL_NTFY__ACK_URL, or --ack-url) to the address "
    "phones use, e.g. http://192.168.1.10:8787 (the Pi on the shop's Wi-Fi) or the URL of a "
    "reverse proxy, and ack_host = \"0.0.0.0\" so the endpoint listens on the LAN; "
    "--local-acks accepts a URL on this machine (tests, a browser on the Pi)"
)


class AckUrlError(ValueError):
    """The ack base URL cannot work for a phone; the message says how to set it."""


def is_local_host(host: str) -> bool:
    """True for names and addresses a phone cannot use to reach this machine."""
    if host.lower() in ("localhost", "localhost.localdomain", "") or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False  # a host name: assume the owner's DNS knows it
    return address.is_loopback or address.is_unspecified


def check_base_url(url: str | None, local_ok: bool) -> None:
    """Refuse an ack base URL a phone cannot reach (unless ``local_ok``), naming the fix."""
    if url is None:
        if not local_ok:
            raise AckUrlError(f"ntfy.ack_url is not set, so the buttons would point at this "
                              f"machine, which a phone cannot reach: {HOW_TO_SET}")
        return
    host = urlparse(url).hostname or ""
    if is_local_host(host) and not local_ok:
        raise AckUrlError(f"ntfy.ack_url {url} is this machine as seen from itself; a phone "
                          f"cannot reach it: {HOW_TO_SET}")


@dataclass(frozen=True, slots=True)
class AckLink:
    """A verified button press: publish this ack."""

    base: str  # <prefix>/<store>/<camera>
    ping_id: str
    action: str


class AckLinks:
    """Makes and checks the signed one-time URLs; thread-safe (the HTTP server is threaded)."""

    def __init__(self, base_url: str, secret: bytes,
                 clock: Callable[[], float] = time.time) -> None:
        self.base_url = base_url.rstrip("/")
        self._secret = secret
        self._clock = clock
        self._used: dict[tuple[str, str], int] = {}  # (base, ping id) -> expiry, till expiry
        self._lock = threading.Lock()

    def url(self, base: str, ping_id: str, action: str, expires: float) -> str:
        exp = str(int(expires))
        query = urlencode({"base": base, "ping": ping_id, "action": action, "exp": exp,
                           "sig": self._sign(base, ping_id, action, exp)})
        return f"{self.base_url}/ack?{query}"

    def _sign(self, base: str, ping_id: str, action: str, exp: str) -> str:
        message = f"{base}\n{ping_id}\n{action}\n{exp}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()[:32]

    def check(self, query: str) -> tuple[int, str, AckLink | None]:
        """(HTTP status, text, the press to act on) for a button's query string.

        A genuine press is marked used at once, so two concurrent presses give one ack; call
        ``release`` if the ack could not be sent, so the button can be pressed again.
        """
        params = {k: v[0] for k, v in parse_qs(query).items()}
        base, ping_id, action = params.get("base"), params.get("ping"), params.get("action")
        exp = params.get("exp", "")
        if not base or not ping_id or action not in ACTIONS or not exp.isdigit():
            return 400, "missing or bad base, ping, action or exp", None
        if not hmac.compare_digest(self._sign(base, ping_id, action, exp), params.get("sig", "")):
            return 403, "signature does not match (bridge restarted without ntfy.ack_secret?)", None
        now = self._clock()
        if int(exp) <= now:
            return 410, "this ping has expired: nothing to answer", None
        with self._lock:
            self._used = {key: e for key, e in self._used.items() if e > now}
            if (base, ping_id) in self._used:
                return 410, "this ping was already answered from this notification", None
            self._used[(base, ping_id)] = int(exp)
        return 200, "ok", AckLink(base, ping_id, action)

    def release(self, link: AckLink) -> None:
        with self._lock:
            self._used.pop((link.base, link.ping_id), None)
