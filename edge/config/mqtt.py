"""The delivery sections of the configuration: the MQTT broker, TLS and the ntfy bridge.

Split from edge/config/sections.py (the stage sections) along the seam between seeing visitors
and telling the assistant about them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from edge.config.sections import Section


class TlsConfig(Section):
    enabled: bool = Field(False, description="Connect with TLS. Needed off the shop's LAN.")
    ca_file: Path | None = Field(None, description="CA certificate that signed the broker's.")
    cert_file: Path | None = Field(None, description="Client certificate, if the broker asks.")
    key_file: Path | None = Field(None, description="Key of the client certificate.")
    insecure: bool = Field(
        False, description="Skip the broker hostname check. Only for testing: it lets anyone "
        "with a certificate from the same CA pose as the broker.",
    )

    @model_validator(mode="after")
    def _cert_needs_key(self) -> TlsConfig:
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class MqttConfig(Section):
    host: str = Field("127.0.0.1", min_length=1, description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual for TLS).")
    username: str | None = Field(None, description="Login of this sensor at the broker.")
    password: SecretStr | None = Field(None, description="Password (never printed or logged).")
    tls: TlsConfig = Field(default_factory=TlsConfig)
    keepalive_s: int = Field(
        20, ge=5, le=3600,
        description="MQTT keepalive. The broker declares a silent sensor (hung, cable cut) "
        "offline after 1.5x this (mosquitto: up to ~5 s more), a killed process at once: 20 "
        "puts a hung sensor on the watch in ~35 s, under a minute. Lower notices sooner at "
        "the cost of a ping packet every keepalive; above ~35 it can take over a minute.",
    )
    topic_prefix: str = Field(
        "dwell", pattern=r"^[^#+/][^#+]*$",
        description="Topics are <topic_prefix>/<store>/<camera>/{ping,status,ack,stats}.",
    )
    ping_expiry_s: int = Field(
        120, ge=5, le=86400,
        description="A ping not delivered within this many seconds is dropped, never sent "
        "late. Longer reaches a watch that was briefly away; shorter never shows stale news.",
    )
    events: bool = Field(
        False,
        description="Publish finished records (visits, pings, acks, holds) on "
        "<topic_prefix>/<store>/<camera>/events for a chain's central database (docs/fleet.md). "
        "They wait in the outbox until the broker confirms them, however long that takes. Off "
        "for a single shop: nothing reads them there.",
    )
    events_max: int = Field(
        50_000, ge=100, le=10_000_000,
        description="Most records kept in the outbox while the broker is away (~300 bytes "
        "each on disk). When full, records of held pings go first, then the oldest. Higher "
        "survives a longer outage at the centre's end of the line at the cost of disk space.",
    )
    language: Literal["en", "de"] = Field("en", description="Language of ping titles/messages.")
    client_id: str | None = Field(
        None, min_length=1, max_length=64,
        description="MQTT client id; None uses dwell-<store>-<camera>. Must be unique per "
        "broker: a second client with the same id kicks the first off.",
    )
    reconnect_min_s: float = Field(
        0.5, gt=0, le=60,
        description="First wait before reconnecting to a lost broker (doubles up to "
        "reconnect_max_s; each wait is drawn between half and all of it). Lower delivers "
        "queued pings sooner after a blip; higher is gentler on a struggling broker.",
    )
    reconnect_max_s: float = Field(
        1.0, gt=0, le=3600,
        description="Longest wait between reconnect attempts: queued pings reach the watch "
        "at most about this long after the broker is back. 1 s costs a LAN broker nothing; "
        "raise it for a remote broker shared by many sensors.",
    )
    takeover_backoff_s: float = Field(
        300.0, ge=10, le=86400,
        description="Wait before reconnecting after another client took this sensor's "
        "session over (same client id: a duplicate sensor or a tool using its id). Lower "
        "gets a sensor kicked by a passing tool back sooner; higher lets two duplicate "
        "sensors flap the status less often.",
    )
    stats_interval_s: float = Field(
        60.0, ge=5, le=3600,
        description="How often the retained stats message is refreshed. Lower keeps dashboards "
        "fresher at the cost of more traffic.",
    )
    homeassistant_discovery: bool = Field(
        False,
        description="Announce sensors (visitors now, pings today, status) through Home "
        "Assistant MQTT discovery. Off keeps Home Assistant's device list clean.",
    )
    discovery_prefix: str = Field(
        "homeassistant", pattern=r"^[^#+/][^#+]*$",
        description="Home Assistant's discovery topic prefix (its default is homeassistant).",
    )


class NtfyConfig(Section):
    """`dwell bridge ntfy`: pings to an ntfy topic, "On my way" button back to MQTT."""

    server: str = Field(
        "https://ntfy.sh", pattern=r"^https?://",
        description="ntfy server base URL. A self-hosted server keeps pings inside the shop.",
    )
    topic: str | None = Field(
        None, pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="ntfy topic the assistant's phone subscribes to. On a public server it is "
        "the only secret guarding the pings: make it long and random.",
    )
    token: SecretStr | None = Field(
        None, description="ntfy access token (Bearer), for servers with access control.",
    )
    priority: int = Field(
        4, ge=1, le=5,
        description="ntfy priority. 4 and 5 give long vibration bursts on the watch; lower is "
        "more discreet but easier to miss.",
    )
    ack_host: str = Field(
        "127.0.0.1",
        description="Address the bridge's ack endpoint listens on. 0.0.0.0 lets phones on the "
        "shop's LAN reach it; 127.0.0.1 only suits a reverse proxy on this machine.",
    )
    ack_port: int = Field(8787, ge=0, le=65535, description="Port of the ack endpoint (0: any).")
    ack_url: str | None = Field(
        None, pattern=r"^https?://",
        description="URL the phone uses to reach the ack endpoint (e.g. http://192.168.1.10:8787"
        ", or a reverse proxy's URL). Required: the bridge refuses to start without it, or with "
        "a loopback URL a phone cannot reach, unless run with --local-acks (tests).",
    )
    ack_secret: SecretStr | None = Field(
        None,
        description="Key that signs each button's ack so nobody else can acknowledge. None "
        "draws a random key at start: buttons of pings from before a restart then stop working.",
    )
