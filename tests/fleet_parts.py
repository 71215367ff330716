"""A chain on one machine, from the shipped configs: a central mosquitto (TLS, passwords,
deploy/mosquitto/fleet-central.acl), shop brokers bridged to it by
deploy/mosquitto/bridge-to-central.conf, a throwaway PostgreSQL and `dwell collect` processes.
Used by tests/test_fleet.py and bench/fleet.py."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.demo.mosquitto import Mosquitto
from tests.delivery_helpers import wait_until
from tests.pki import make_ca, make_leaf
from tests.postgres import Postgres

DEPLOY = Path(__file__).resolve().parent.parent / "deploy" / "mosquitto"
COLLECT_PASSWORD = "pw-collect"
OFFICE_PASSWORD = "pw-office"


def shop_password(store: str) -> str:
    return f"pw-{store}"


@dataclass
class Chain:
    workdir: Path
    stores: list[str]
    link_port: int | None = None  # shops' bridges connect here (a proxy that can cut the line)
    on_central: Any = None  # called with the central broker's port once it listens
    central: Mosquitto = field(init=False)
    shops: dict[str, Mosquitto] = field(default_factory=dict)
    db: Postgres = field(init=False)
    collectors: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.pki = self.workdir / "pki"
        self.pki.mkdir(parents=True)
        self.ca = make_ca(self.pki, "ca")
        make_leaf(self.pki, "central", "localhost")
        self.db = Postgres(self.workdir / "pg").init()
        self.central = Mosquitto(self._dir("central"), anonymous=False)
        self.central.extra_config = self._central_config()
        self.central.start()
        if self.on_central is not None:
            self.on_central(self.central.port)
        for store in self.stores:
            shop = Mosquitto(self._dir(f"shop-{store}"))
            shop.extra_config = self.bridge_config(store)
            self.shops[store] = shop.start()

    def _dir(self, name: str) -> Path:
        path = self.workdir / name
        path.mkdir()
        return path

    def _central_config(self) -> str:
        passwd = self.central.workdir / "fleet.passwd"
        users = {store: shop_password(store) for store in self.stores}
        users["dwell-collect"] = COLLECT_PASSWORD
        users["head-office"] = OFFICE_PASSWORD
        for i, (user, password) in enumerate(users.items()):
            subprocess.run(["mosquitto_passwd", *(["-c"] if i == 0 else []), "-b", str(passwd),
                            user, password], check=True, capture_output=True)
        lines = []
        for line in (DEPLOY / "fleet-central.conf").read_text().splitlines():
            if line.split(" ")[0] in ("listener", "per_listener_settings"):
                continue  # the fixture's loopback listener on a free port gets the TLS lines
            line = line.replace("/etc/mosquitto/fleet.passwd", str(passwd))
            line = line.replace("/etc/mosquitto/fleet-central.acl",
                                str(DEPLOY / "fleet-central.acl"))
            line = line.replace("/etc/mosquitto/certs/central", str(self.pki / "central"))
            line = line.replace("/var/lib/mosquitto/", f"{self.central.workdir}/")
            lines.append(line)
        return "\n".join(lines)

    def bridge_config(self, store: str) -> str:
        """The shipped shop-side bridge with this chain's address, CA and login."""
        swaps = {
            "address ": f"address localhost:{self.link_port or self.central.port}",
            "bridge_cafile ": f"bridge_cafile {self.ca}",
            "remote_clientid ": f"remote_clientid dwell-bridge-{store}",
            "remote_username ": f"remote_username {store}",
            "remote_password ": f"remote_password {shop_password(store)}",
            "local_clientid ": f"local_clientid dwell-bridge-local-{store}",
            "notification_topic ": f"notification_topic dwell/_bridge/{store}/state",
            "restart_timeout ": "restart_timeout 1 2",  # tests wait seconds, not a minute
        }
        lines = []
        for line in (DEPLOY / "bridge-to-central.conf").read_text().splitlines():
            for start, replacement in swaps.items():
                if line.startswith(start):
                    line = replacement
            lines.append(line)
        return "\n".join(lines)

    def collector_config(self) -> Path:
        path = self.workdir / "collect.toml"
        path.write_text(
            f'[mqtt]\nhost = "localhost"\nport = {self.central.port}\n'
            f'username = "dwell-collect"\npassword = "{COLLECT_PASSWORD}"\nkeepalive_s = 5\n'
            f'[mqtt.tls]\nenabled = true\nca_file = "{self.ca}"\n'
            f'[collect]\ndatabase_url = "{self.db.url}"\nretry_s = 0.5\n')
        return path

    def start_collector(self, name: str) -> subprocess.Popen[bytes]:
        """A `dwell collect` process; returns once its shared subscription is made."""
        logfile = self.workdir / f"collector-{name}.log"
        started_before = logfile.read_text().count('"msg": "collecting') if logfile.exists() else 0
        log = logfile.open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "--config", str(self.collector_config()),
             "collect", "--client-id", f"collector-{name}"],
            stdout=log, stderr=subprocess.STDOUT, env=_env())
        self.collectors[name] = proc
        logfile = self.workdir / f"collector-{name}.log"
        wait_for(lambda: logfile.read_text().count('"msg": "collecting') > started_before
                 or proc.poll() is not None, 30, f"collector {name} subscribed")
        if proc.poll() is not None:
            raise RuntimeError(f"collector {name} failed: {logfile.read_text()[-2000:]}")
        return proc

    def stop_collector(self, name: str, sig: int = signal.SIGTERM) -> str:
        proc = self.collectors.pop(name)
        if proc.poll() is None:
            proc.send_signal(sig)
            proc.wait(20)
        return (self.workdir / f"collector-{name}.log").read_text()

    def sensor_config(self, store: str) -> Path:
        path = self.workdir / f"sensor-{store}.toml"
        path.write_text(f'store = "{store}"\nstate_dir = "{self.workdir / ("state-" + store)}"\n'
                        f'[mqtt]\nport = {self.shops[store].port}\nevents = true\n')
        return path

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.db.url, autocommit=True) as conn:
            cur = conn.execute(sql, args)
            return list(cur.fetchall()) if cur.description is not None else []

    def count(self, sql: str = "SELECT count(*) FROM dwell_record", *args: Any) -> int:
        try:
            return int(self.query(sql, *args)[0][0])
        except Exception:  # the schema is not there yet, or the database is restarting
            return -1

    def wait_bridged(self, store: str, timeout: float = 20) -> None:
        """Until the shop's bridge is connected (its notification says 1 at the centre)."""
        seen: list[bytes] = []
        client = central_client(self, "head-office", OFFICE_PASSWORD)
        client.on_message = lambda c, u, m: seen.append(bytes(m.payload))
        client.subscribe(f"dwell/_bridge/{store}/state", qos=1)
        try:
            deadline = time.monotonic() + timeout
            while b"1" not in seen:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the bridge of {store} did not connect")
                time.sleep(0.05)
        finally:
            client.disconnect()
            client.loop_stop()

    def close(self) -> None:
        for name in list(self.collectors):
            self.stop_collector(name, signal.SIGKILL)
        for shop in self.shops.values():
            shop.kill()
        self.central.kill()
        self.db.stop("immediate")


def central_client(chain: Chain, user: str, password: str) -> mqtt.Client:
    """A TLS client logged in at the central broker, connected and looping."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    client.tls_set(ca_certs=str(chain.ca))
    client.connect("localhost", chain.central.port)
    client.loop_start()
    return client


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """``wait_until`` at a pace for chain-sized checks (database queries, log files)."""
    wait_until(predicate, timeout, what, every_s=0.1)
