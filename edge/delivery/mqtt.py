"""What every MQTT user of dwell shares: topic names, a configured paho client, clear errors.

Used by the publisher (sensor side), `dwell watch` and the bridges. paho-mqtt 2 with MQTT 5:
message expiry, PUBACK reason codes and session expiry are MQTT 5 features dwell relies on.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.config.mqtt import MqttConfig


class MqttError(Exception):
    """A broker problem worth one clear line to the owner (login refused, bad certificate)."""


@dataclass(frozen=True, slots=True)
class Topics:
    """<topic_prefix>/<store>/<camera>/{ping,status,stats,ack,events}."""

    base: str

    @classmethod
    def of(cls, prefix: str, store: str, camera: str) -> Topics:
        return cls(f"{prefix.rstrip('/')}/{store}/{camera}")

    @property
    def ping(self) -> str:
        return f"{self.base}/ping"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def stats(self) -> str:
        return f"{self.base}/stats"

    @property
    def ack(self) -> str:
        return f"{self.base}/ack"

    @property
    def events(self) -> str:
        return f"{self.base}/events"


def make_client(cfg: MqttConfig, client_id: str, *, manual_ack: bool = False) -> mqtt.Client:
    """A paho MQTT 5 client with credentials, TLS and reconnect backoff from ``cfg``.
    ``manual_ack``: received QoS 1 messages are acknowledged only by ``client.ack`` (the
    collector acks after its database commit).

    Raises MqttError when TLS files cannot be used (missing, unreadable, not a certificate).
    """
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id,
                         protocol=mqtt.MQTTv5, manual_ack=manual_ack)
    if cfg.username is not None:
        password = cfg.password.get_secret_value() if cfg.password else None
        client.username_pw_set(cfg.username, password)
    if cfg.tls.enabled:
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(cfg.tls, name)
            if path is not None and not path.is_file():
                raise MqttError(f"mqtt.tls.{name}: {path} does not exist")
        try:
            client.tls_set(
                ca_certs=str(cfg.tls.ca_file) if cfg.tls.ca_file else None,
                certfile=str(cfg.tls.cert_file) if cfg.tls.cert_file else None,
                keyfile=str(cfg.tls.key_file) if cfg.tls.key_file else None,
            )
        except (ssl.SSLError, OSError) as exc:
            raise MqttError(f"mqtt.tls: cannot use the certificate files: {exc}") from None
        client.tls_insecure_set(cfg.tls.insecure)
    set_reconnect_delay(client, cfg.reconnect_min_s, cfg.reconnect_max_s)
    # Our outbox paces what is handed over; paho's default of 20 in flight would hold back a
    # backlog flushed after an outage.
    client.max_inflight_messages_set(100)
    return client


def set_reconnect_delay(client: mqtt.Client, min_s: float, max_s: float) -> None:
    """paho's backoff: the next wait is ``min_s``, doubling to ``max_s`` until a CONNACK.
    Fractions of a second work (paho only adds and compares them) though paho annotates int;
    whole seconds would make a 1 s ceiling impossible to jitter."""
    client.reconnect_delay_set(min_delay=min_s, max_delay=max_s)  # type: ignore[arg-type]


def session_properties(expiry_s: int) -> Properties:
    """CONNECT properties asking the broker to keep the session ``expiry_s`` after a drop."""
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = expiry_s
    return props


def expiry_properties(remaining_s: float) -> Properties:
    """PUBLISH properties with the MQTT 5 message expiry (whole seconds, rounded down so the
    broker never holds a message past its lifetime)."""
    props = Properties(PacketTypes.PUBLISH)
    props.MessageExpiryInterval = max(1, int(remaining_s))
    return props


def describe_refusal(reason: ReasonCode | Any, cfg: MqttConfig) -> str:
    """One line for a CONNACK refusal, naming the config keys to look at."""
    name = str(reason)
    where = f"broker {cfg.host}:{cfg.port}"
    if name in ("Bad user name or password", "Not authorized"):
        who = f"user {cfg.username!r}" if cfg.username else "anonymous login"
        return (f"{where} refused the login ({name}) for {who}: check mqtt.username and "
                "mqtt.password (and the broker's password_file)")
    return f"{where} refused the connection: {name}"


def diagnose_connect(cfg: MqttConfig, timeout: float = 3.0) -> str:
    """Why a TCP/TLS connection to the broker fails, in one line (paho does not say)."""
    where = f"broker {cfg.host}:{cfg.port}"
    try:
        sock = socket.create_connection((cfg.host, cfg.port), timeout)
    except OSError as exc:
        return f"{where} is unreachable: {exc.strerror or exc}"
    with sock:
        if not cfg.tls.enabled:
            return f"{where} accepted TCP but the MQTT connection failed"
        context = ssl.create_default_context(
            cafile=str(cfg.tls.ca_file) if cfg.tls.ca_file else None)
        if cfg.tls.cert_file and cfg.tls.key_file:
            context.load_cert_chain(str(cfg.tls.cert_file), str(cfg.tls.key_file))
        if cfg.tls.insecure:
            context.check_hostname = False
        try:
            with context.wrap_socket(sock, server_hostname=cfg.host) as tls:
                # TLS 1.3: a broker that wants a client certificate says so only after the
                # handshake, in an alert that arrives with the first read
                tls.settimeout(1.0)
                with contextlib.suppress(TimeoutError):
                    tls.recv(1)
                return f"{where}: TLS handshake works; the MQTT connection failed"
        except ssl.SSLCertVerificationError as exc:
            return (f"{where}: TLS certificate problem: {exc.verify_message} — "
                    + (strict_x509_hint(exc.verify_message) or "check mqtt.tls.ca_file (the "
                       "CA that signed the broker's certificate) and that mqtt.host matches "
                       "the certificate's name"))
        except (ssl.SSLError, OSError) as exc:
            hint = (" — the broker wants a client certificate: set mqtt.tls.cert_file and "
                    "key_file" if "CERTIFICATE_REQUIRED" in str(exc).upper() else "")
            return f"{where}: TLS handshake failed: {exc}{hint}"


# What OpenSSL says when Python >= 3.13's VERIFY_X509_STRICT refuses a certificate that laxer
# checks (Python 3.11, older mosquitto clients) accept: typical of home-made CAs.
_STRICT_X509 = ("key usage", "key identifier", "not marked critical", "basic constraints")


def strict_x509_hint(verify_message: str | None) -> str | None:
    """What to fix when strict X.509 checks refused a certificate, else None."""
    if not verify_message or not any(s in verify_message.lower() for s in _STRICT_X509):
        return None
    return ("Python 3.13+ (Raspberry Pi OS Trixie) checks certificates strictly: re-make the "
            "CA with keyUsage=critical,keyCertSign,cRLSign, basicConstraints=critical,CA:TRUE "
            "and subject/authority key identifiers, then re-sign the broker's certificate "
            "(recipe: docs/deploy.md, Certificates)")


def connect_now(client: mqtt.Client, cfg: MqttConfig, *, clean_start: bool = True,
                properties: Properties | None = None, timeout: float = 10.0) -> None:
    """Connect and wait for the broker's answer; MqttError with a clear reason on failure.

    For interactive tools (watch, bridge) that should stop at once on a wrong password;
    the sensor itself uses connect_async and keeps retrying.
    """
    answered = threading.Event()
    outcome: dict[str, Any] = {}
    previous: Any = client.on_connect

    def on_connect(c: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        outcome["reason"] = reason
        answered.set()
        if previous is not None:
            previous(c, userdata, flags, reason, props)

    def on_disconnect(c: mqtt.Client, *args: Any) -> None:
        answered.set()  # dropped before any CONNACK (e.g. a client certificate was required)

    client.on_connect = on_connect
    client.on_disconnect = on_disconnect
    try:
        client.connect(cfg.host, cfg.port, cfg.keepalive_s, clean_start=clean_start,
                       properties=properties)
    except ssl.SSLCertVerificationError as exc:
        hint = strict_x509_hint(exc.verify_message) or "check mqtt.tls.ca_file and mqtt.host"
        raise MqttError(f"broker {cfg.host}:{cfg.port}: TLS certificate problem: "
                        f"{exc.verify_message} — {hint}") from None
    except (OSError, ssl.SSLError) as exc:
        raise MqttError(f"broker {cfg.host}:{cfg.port} is unreachable: {exc}") from None
    client.loop_start()
    if not answered.wait(timeout) or "reason" not in outcome:
        client.loop_stop()
        why = diagnose_connect(cfg) if cfg.tls.enabled else "no answer to CONNECT"
        raise MqttError(f"broker {cfg.host}:{cfg.port} did not accept the connection: {why}")
    client.on_connect = previous
    client.on_disconnect = None
    reason = outcome["reason"]
    if getattr(reason, "is_failure", False):
        client.loop_stop()
        client.disconnect()
        raise MqttError(describe_refusal(reason, cfg))
