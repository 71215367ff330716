"""Logins, sessions and the lockout of an address that keeps guessing.

Sessions live in memory only (a restart logs everyone out): a random token in an HttpOnly,
SameSite=Strict cookie, and beside it a random CSRF token that every state-changing request
must carry in the ``X-CSRF-Token`` header. SameSite=Strict already keeps other sites' forms
from riding the cookie; the CSRF token also covers browsers that ignore SameSite.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "dwell_session"


@dataclass
class Session:
    token: str
    csrf: str
    expires: float


class Sessions:
    """Issued sessions, each valid ``session_s`` seconds from login."""

    def __init__(self, session_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.session_s = session_s
        self._clock = clock
        self._by_token: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self) -> Session:
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32),
                          self._clock() + self.session_s)
        with self._lock:
            now = self._clock()
            for token in [k for k, s in self._by_token.items() if s.expires <= now]:
                del self._by_token[token]
            self._by_token[session.token] = session
        return session

    def get(self, token: str | None) -> Session | None:
        if not token:
            return None
        with self._lock:
            session = self._by_token.get(token)
            if session is not None and session.expires <= self._clock():
                del self._by_token[token]
                return None
            return session

    def end(self, token: str) -> None:
        with self._lock:
            self._by_token.pop(token, None)

    @staticmethod
    def csrf_ok(session: Session, sent: str | None) -> bool:
        return sent is not None and hmac.compare_digest(session.csrf, sent)

    def cookie(self, session: Session, secure: bool = False) -> str:
        """``secure``: the browser reached us over HTTPS (a trusted proxy said so)."""
        return (f"{COOKIE}={session.token}; Path=/; HttpOnly; SameSite=Strict; "
                f"Max-Age={int(self.session_s)}" + ("; Secure" if secure else ""))


class Lockout:
    """After ``attempts`` failed logins from one address (with no success between), that
    address is refused for ``lockout_s`` seconds from its last failure."""

    def __init__(self, attempts: int, lockout_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts, self.lockout_s = attempts, lockout_s
        self._clock = clock
        self._failures: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again (0: it may now)."""
        with self._lock:
            count, last = self._failures.get(address, (0, 0.0))
            if count < self.attempts:
                return 0.0
            left = last + self.lockout_s - self._clock()
            if left <= 0:
                del self._failures[address]
                return 0.0
            return left

    def failed(self, address: str) -> None:
        with self._lock:
            count, _ = self._failures.get(address, (0, 0.0))
            self._failures[address] = (count + 1, self._clock())

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._failures.pop(address, None)
