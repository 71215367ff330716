"""`[collect]`: the chain's central collector (`dwell collect`, docs/fleet.md).

The collector reads the broker settings (host, port, TLS, login) from the same file's `[mqtt]`
section: on the central server that file describes the central broker.
"""

from __future__ import annotations

from pydantic import Field, SecretStr

from edge.config.sections import Section


class CollectConfig(Section):
    database_url: SecretStr | None = Field(
        None,
        description="PostgreSQL connection URL (postgresql://user:password@host/db); a secret, "
        "never printed. Required by `dwell collect`.",
    )
    group: str = Field(
        "dwell-collect", pattern=r"^[A-Za-z0-9_.-]+$",
        description="MQTT 5 shared-subscription group: collectors of one group split the "
        "events between them, and one can die while the others carry on.",
    )
    client_id: str | None = Field(
        None, min_length=1, max_length=64,
        description="This collector's MQTT client id (its persistent session: events in flight "
        "when it died are delivered to it when it comes back). None: dwell-collect-<host name>. "
        "Each collector of a group needs its own.",
    )
    session_expiry_s: int = Field(
        86400, ge=60, le=30 * 86400,
        description="How long the broker keeps a stopped collector's session (and the events "
        "in flight to it). Longer survives a longer outage of that collector; shorter frees "
        "the broker's memory sooner.",
    )
    batch_max: int = Field(
        500, ge=1, le=10_000,
        description="Most events written in one database transaction. Larger writes a backlog "
        "faster; smaller acknowledges each event sooner.",
    )
    retry_s: float = Field(
        1.0, gt=0, le=60,
        description="Wait between attempts while the database is unreachable (events wait "
        "unacknowledged at the broker meanwhile).",
    )
