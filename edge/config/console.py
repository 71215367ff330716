"""The owner's web console (`[console]`) and the rolling anonymous trace (`[record]`).

The console's password is a secret: it is never printed, and at load it is hashed with scrypt
(memory-hard, in the standard library) under a random salt, so the login check compares
hashes in constant time and a memory dump of a long-running sensor does not hold a cheap hash.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator

from edge.config.sections import Section

# scrypt cost: n=2**14, r=8 takes ~16 MB and ~50 ms per check on a Pi 4 class CPU; an
# attacker pays the same per guess, and the lockout below bounds guesses per minute anyway.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1


def scrypt(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                          maxmem=64 << 20, dklen=32)


def split_listen(text: str) -> tuple[str, int]:
    """'HOST:PORT' -> (host, port); raises ValueError naming what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 0.0.0.0:8788)")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: port must be 0..65535")
    return host.strip("[]"), int(port)


class ConsoleConfig(Section):
    listen: str | None = Field(
        None,
        description="Where `dwell run` serves the owner's console, as HOST:PORT "
        "(0.0.0.0:8788 reaches it from the shop's LAN; 127.0.0.1:8788 only from this machine). "
        "None: no console (nothing listens, nothing runs).",
    )
    password: SecretStr | None = Field(
        None,
        description="The console's login password (never printed or logged; hashed with "
        "scrypt at load). The console refuses to start without one.",
    )
    session_s: float = Field(
        8 * 3600.0, ge=60, le=30 * 86400,
        description="How long a login lasts. Longer bothers the owner less; shorter limits what "
        "a forgotten open browser on the shop's PC gives away.",
    )
    login_attempts: int = Field(
        5, ge=1, le=100,
        description="Failed logins from one address before it is locked out for lockout_s. "
        "Fewer slows password guessing more but locks out a mistyping owner sooner.",
    )
    lockout_s: float = Field(
        300.0, ge=1, le=86400,
        description="How long an address that failed login_attempts times is answered 429. "
        "Longer makes guessing slower; shorter lets a mistyping owner back in sooner.",
    )
    trust_proxy: bool = Field(
        False,
        description="Believe a reverse proxy's X-Forwarded-Proto: https, and then mark the "
        "session cookie Secure (sent over HTTPS only); and count failed logins per address "
        "in the last X-Forwarded-For entry (the one the proxy appends), not per proxy. "
        "Only for a console reached solely through a TLS proxy: anyone who can reach the "
        "port directly could send the headers too, and dodge the login lockout by varying "
        "X-Forwarded-For. The console itself speaks plain HTTP, so without a proxy the "
        "cookie cannot be Secure.",
    )
    _salt: bytes = PrivateAttr(default=b"")
    _digest: bytes = PrivateAttr(default=b"")

    @field_validator("listen")
    @classmethod
    def _check_listen(cls, text: str | None) -> str | None:
        if text is not None:
            split_listen(text)
        return text

    @model_validator(mode="after")
    def _hash_password(self) -> ConsoleConfig:
        if self.password is not None:
            if len(self.password.get_secret_value()) < 8:
                raise ValueError("password must be at least 8 characters")
            self._salt = secrets.token_bytes(16)
            self._digest = scrypt(self.password.get_secret_value(), self._salt)
        if self.listen is not None and self.password is None:
            raise ValueError("listen is set but password is not: the console refuses to start "
                             "without a password")
        return self

    @property
    def has_password(self) -> bool:
        return bool(self._digest)

    def check_password(self, candidate: str) -> bool:
        """Constant-time comparison of scrypt hashes; False when no password is set."""
        if not self._digest:
            return False
        return hmac.compare_digest(scrypt(candidate, self._salt), self._digest)

    @property
    def address(self) -> tuple[str, int] | None:
        return split_listen(self.listen) if self.listen else None


class RecordConfig(Section):
    keep_days: int = Field(
        0, ge=0, le=90,
        description="Keep a rolling anonymous trace (boxes, scores, head yaw; never pixels) of "
        "the last keep_days days in state_dir/trace, gzip-compressed, one file a day, older "
        "days deleted. The console replays them for what-if and the report. 0: record nothing. "
        "More days compare further back; each day costs disk, about twice the trace's size "
        "with the console on (its tracked copy in state_dir/seen; docs/privacy-notice.md).",
    )
