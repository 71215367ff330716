"""A chain under stress: N shops' records through their bridges into PostgreSQL, with nothing
lost while a collector is SIGKILLed, the centre is unreachable for a minute and the database
restarts.

    .venv/bin/python bench/fleet.py [--shops 50] [--speed 10] [--seconds 200]

Every part is real and shipped: N shop mosquittos bridged by deploy/mosquitto/bridge-to-central
.conf to a central mosquitto (TLS, deploy/mosquitto/fleet-central.acl), two `dwell collect`
processes on one shared subscription, a throwaway PostgreSQL. Each shop is the real publisher
and outbox fed by the records of the golden trace's events (tests/data), replayed at --speed
times real time over and over, each round with its own run id. Timeline (seconds from the
start): 20 SIGKILL collector a (systemd-like restart 10 s later), 50 the central broker stops
for 60 s (every bridge is down; shops queue), 140 the database restarts (fast), then the shops
stop at --seconds and the run waits for the backlog.

Prints events/s sustained, end-to-end delay p50/p99 (record made -> row committed) outside and
inside the faults, collector CPU per 1,000 events, how long after the kill records reached the
database, and the losses and duplicates (the floor: 0 and 0).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.linkcut import LinkCut
from edge.config.mqtt import MqttConfig
from edge.config.settings import Settings
from edge.delivery.publisher import sensor_publisher
from edge.delivery.records import RecordMaker
from edge.demo.mosquitto import free_port
from edge.vocabulary.events import Event
from tests.builders import GOLDEN_CONFIG, GOLDEN_TRACE
from tests.fleet_parts import Chain, wait_for

KILL_AT, RESTART_AFTER, CENTRE_DOWN_AT, CENTRE_DOWN_S, DB_RESTART_AT = 20, 10, 50, 60, 140


def golden_events() -> list[Event]:
    from edge.config.settings import load_settings
    from edge.offline.replay import replay

    events: list[Event] = []
    replay(GOLDEN_TRACE, load_settings(GOLDEN_CONFIG), on_event=events.append)
    return events


class Shop(threading.Thread):
    """One shop's sensor: the golden events at ``speed``, as records through the outbox."""

    def __init__(self, chain: Chain, store: str, events: list[Event], speed: float,
                 stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.store, self.events, self.speed, self.stop = store, events, speed, stop
        settings = Settings(store=store, state_dir=chain.workdir / f"bench-state-{store}",
                            mqtt=MqttConfig(port=chain.shops[store].port, events=True,
                                            keepalive_s=10))
        self.publisher = sensor_publisher(settings, lambda ack: None)
        self.made: list[str] = []
        self.made_at: dict[str, float] = {}

    def run(self) -> None:
        rounds = 0
        while not self.stop.is_set():
            maker = RecordMaker(self.store, "entrance", f"r{rounds}", lambda t: time.time())
            start = time.monotonic()
            for ev in self.events:
                due = start + ev.t / self.speed
                if self.stop.wait(max(0.0, due - time.monotonic())):
                    return
                for record in maker.records(ev):
                    self.publisher.publish_record(record)
                    self.made.append(record.id)
                    self.made_at[record.id] = time.time()
            rounds += 1


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shops", type=int, default=50)
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=200.0)
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="run in DIR (must not exist) and keep the logs there")
    parser.add_argument("--wait", type=float, default=300.0,
                        help="longest wait for the backlog after the shops stop")
    parser.add_argument("--time-scale", type=float, default=1.0,
                        help="multiply the fault timeline (0.25: a quick smoke run)")
    args = parser.parse_args()
    global KILL_AT, RESTART_AFTER, CENTRE_DOWN_AT, CENTRE_DOWN_S, DB_RESTART_AT
    KILL_AT, RESTART_AFTER, CENTRE_DOWN_AT, CENTRE_DOWN_S, DB_RESTART_AT = (
        x * args.time_scale for x in (KILL_AT, RESTART_AFTER, CENTRE_DOWN_AT, CENTRE_DOWN_S,
                                      DB_RESTART_AT))
    events = golden_events()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = args.keep or Path(tmp)
        link = LinkCut(free_port())

        def relay_to(port: int) -> None:
            link.target = port
            link.start()

        chain = Chain(workdir, [f"s{i:02d}" for i in range(args.shops)], link_port=link.port,
                      on_central=relay_to)
        chain.link = link  # type: ignore[attr-defined]
        try:
            run(chain, events, args)
        finally:
            chain.close()


def run(chain: Chain, events: list[Event], args: argparse.Namespace) -> None:
    for store in chain.stores:
        chain.wait_bridged(store)
    chain.start_collector("a")
    chain.start_collector("b")
    cpu = {"a": 0.0, "b": 0.0}
    stop = threading.Event()
    shops = [Shop(chain, store, events, args.speed, stop) for store in chain.stores]
    t0 = time.time()
    for shop in shops:
        shop.start()
    faults = timeline(chain, t0, cpu, args.seconds)
    stop.set()
    for shop in shops:
        shop.join()
    made = {rid for shop in shops for rid in shop.made}
    waited = time.monotonic()
    try:
        wait_for(lambda: chain.count() >= len(made), args.wait, "the backlog stored")
    except TimeoutError:
        print("backlog not stored in time: see 'lost' below", file=sys.stderr)
    drained_s = time.monotonic() - waited
    for name, proc in chain.collectors.items():
        cpu[name] += cpu_s(proc.pid)
    report(chain, shops, made, t0, faults, cpu, drained_s, args)
    for shop in shops:
        shop.publisher.close()


def timeline(chain: Chain, t0: float, cpu: dict[str, float], seconds: float
             ) -> dict[str, tuple[float, float]]:
    """Runs the faults at their times; (start, end) epoch of each."""
    def at(s: float) -> None:
        time.sleep(max(0.0, t0 + s - time.time()))

    faults: dict[str, tuple[float, float]] = {}
    at(KILL_AT)
    cpu["a"] += cpu_s(chain.collectors["a"].pid)
    chain.stop_collector("a", signal.SIGKILL)
    killed = time.time()
    at(KILL_AT + RESTART_AFTER)
    chain.start_collector("a")
    faults["collector killed"] = (killed, time.time())
    at(CENTRE_DOWN_AT)
    down = time.time()
    chain.link.cut()  # type: ignore[attr-defined]
    at(CENTRE_DOWN_AT + CENTRE_DOWN_S)
    chain.link.restore()  # type: ignore[attr-defined]
    faults["bridges down"] = (down, time.time())
    at(DB_RESTART_AT)
    restart = time.time()
    chain.db.restart()
    faults["database restart"] = (restart, time.time())
    at(seconds)
    return faults


def report(chain: Chain, shops: list[Shop], made: set[str], t0: float,
           faults: dict[str, tuple[float, float]], cpu: dict[str, float], drained_s: float,
           args: argparse.Namespace) -> None:
    rows = chain.query("SELECT id, extract(epoch FROM at), extract(epoch FROM received_at) "
                       "FROM dwell_record")
    stored = {r[0] for r in rows}
    delays = {r[0]: (float(r[1]), float(r[2]) - float(r[1])) for r in rows}
    calm, hit = [], []
    for made_at, delay in delays.values():
        in_fault = any(a - 1 <= made_at <= b + 5 for a, b in faults.values())
        (hit if in_fault else calm).append(delay)
    killed_at = faults["collector killed"][0]
    after_kill = [d for m, d in delays.values() if killed_at <= m <= killed_at + RESTART_AFTER]
    rollup = chain.count("SELECT sum(visits + staff_visits + pings + acks + attended + held) "
                         "FROM dwell_hourly")
    duration = args.seconds
    total_cpu = sum(cpu.values())
    missing = sorted(made - stored)
    if missing:  # where the lost ones come from: shop, kind, when made (from the start)
        made_at = {rid: at for shop in shops for rid, at in shop.made_at.items()}
        print("lost, first 20:", [(rid, round(made_at[rid] - t0, 1)) for rid in missing[:20]],
              file=sys.stderr)
    print(json.dumps({
        "shops": len(shops), "speed": args.speed, "seconds": duration,
        "records_made": len(made), "records_stored": len(stored & made),
        "lost": len(made - stored), "unexpected": len(stored - made),
        "rollup_total": rollup, "duplicated_in_rollup": rollup - len(stored),
        "events_per_s": round(len(made) / duration, 1),
        "delay_s_calm": {"p50": round(percentile(calm, .5), 3),
                         "p99": round(percentile(calm, .99), 3), "n": len(calm)},
        "delay_s_in_faults": {"p50": round(percentile(hit, .5), 3),
                              "p99": round(percentile(hit, .99), 3), "n": len(hit)},
        "delay_s_within_10s_after_kill_p99": round(percentile(after_kill, .99), 3),
        "backlog_drained_s": round(drained_s, 1),
        "collector_cpu_s_per_1000": round(1000 * total_cpu / max(len(stored), 1), 3),
    }, indent=1))


if __name__ == "__main__":
    main()
