"""A chain end to end with real parts: `dwell replay --publish` in two shops, each shop's
mosquitto bridged by the shipped config to a central mosquitto (TLS, per-shop logins, the
shipped ACL), two `dwell collect` processes on one shared subscription, a real PostgreSQL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.builders import GOLDEN_CONFIG, GOLDEN_TRACE
from tests.fleet_parts import Chain, central_client, shop_password, wait_for
from tests.postgres import pg_bin

pytestmark = [pytest.mark.broker,
              pytest.mark.skipif(pg_bin() is None, reason="PostgreSQL is not installed "
                                 "(apt-get install -y postgresql; .ci/run does)")]
STORES = ["shop1", "shop2"]
NOT_AUTHORIZED = 135


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    made = Chain(tmp_path_factory.mktemp("chain"), STORES)
    try:
        for store in STORES:
            made.wait_bridged(store)
        made.start_collector("a")
        made.start_collector("b")
        yield made
    finally:
        made.close()


def replay(chain: Chain, store: str, out: Path, start: str = "2026-05-02T10:00") -> None:
    config = chain.sensor_config(store)  # top-level keys and [mqtt], then the golden rules
    config.write_text(config.read_text() + "\n" + GOLDEN_CONFIG.read_text())
    result = subprocess.run([sys.executable, "-m", "edge.cli", "--config", str(config),
                             "replay", str(GOLDEN_TRACE), "--publish", "--start", start,
                             "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def kinds(events: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in events.read_text().splitlines():
        kind = json.loads(line)["type"]
        out[kind] = out.get(kind, 0) + 1
    return out


def test_two_shops_replays_reach_the_database_once_split_between_two_collectors(
        chain: Chain, tmp_path: Path) -> None:
    for store in STORES:
        replay(chain, store, tmp_path / f"{store}.jsonl")
    made = kinds(tmp_path / "shop1.jsonl")
    per_shop = made["visit_end"] + made["ping"] + made["held"]
    wait_for(lambda: chain.count() >= 2 * per_shop, 30, "records stored")
    for store in STORES:
        assert chain.count("SELECT count(*) FROM dwell_visits WHERE store = %s",
                           store) == made["visit_end"]
        assert chain.count("SELECT count(*) FROM dwell_pings WHERE store = %s",
                           store) == made["ping"]
        hourly = chain.query("SELECT sum(visits + staff_visits), sum(pings), sum(held) FROM "
                             "dwell_hourly WHERE store = %s", store)[0]
        assert hourly == (made["visit_end"], made["ping"], made["held"])
    stored = [counts.get("stored", 0) for counts in _collector_counts(chain)]
    assert sum(stored) == 2 * per_shop and min(stored) > 0  # the group split the load
    # the same replay published again (same --start: the same record ids) is stored once
    replay(chain, "shop1", tmp_path / "again.jsonl")
    wait_for(lambda: sum(c.get("duplicate", 0) for c in _collector_counts(chain)) >= per_shop,
             30, "the resend was seen")
    assert chain.count() == 2 * per_shop
    assert chain.count("SELECT count(*) FROM dwell_hourly WHERE pings > 0") >= 1
    assert chain.count("SELECT sum(pings) FROM dwell_hourly") == 2 * made["ping"]


def _collector_counts(chain: Chain) -> list[dict[str, int]]:
    """Each collector's counts since it started (printed on SIGTERM: stopped and restarted)."""
    out = []
    for name in ("a", "b"):
        log = chain.stop_collector(name)
        chain.start_collector(name)
        last = [line for line in log.splitlines() if line.startswith("dwell collect: {")][-1]
        out.append(json.loads(last.split(": ", 1)[1].replace("'", '"')))
    return out


def test_a_shop_cannot_write_as_another_and_foreign_records_are_not_stored(
        chain: Chain) -> None:
    client = central_client(chain, "shop1", shop_password("shop1"))
    reasons: dict[int, int] = {}
    client.on_publish = lambda c, u, mid, reason, p: reasons.__setitem__(mid, reason.value)
    try:
        mid = client.publish("dwell/shop2/entrance/events", b"{}", qos=1).mid
        wait_for(lambda: mid in reasons, 10, "PUBACK")
    finally:
        client.disconnect()
        client.loop_stop()
    assert reasons[mid] == NOT_AUTHORIZED
    before = chain.count()
    forged = {"schema": 1, "kind": "held", "id": "forged-1", "store": "shop2",
              "camera": "entrance", "at": "2026-05-02T10:00:00Z", "rule": "cooldown",
              "candidate": "linger"}
    from tests.delivery_helpers import publish_raw

    publish_raw(chain.shops["shop1"].port, "dwell/shop1/entrance/events",
                json.dumps(forged).encode(), b"garbage")

    def logs() -> str:
        return "".join((chain.workdir / f"collector-{n}.log").read_text() for n in "ab")

    wait_for(lambda: "foreign" in logs() and "not JSON" in logs(), 10, "both refusals logged")
    assert "'shop2'/'entrance' on shop1/entrance" in logs() and "not JSON" in logs()
    assert chain.count() == before
    assert chain.count("SELECT count(*) FROM dwell_record WHERE id = 'forged-1'") == 0


def test_a_killed_collector_loses_nothing_and_the_survivor_takes_its_share(
        chain: Chain, tmp_path: Path) -> None:
    before = chain.count()
    chain.stop_collector("a", signal.SIGKILL)  # not restarted: b drains a's session
    replay(chain, "shop2", tmp_path / "late.jsonl", start="2026-05-03T10:00")
    made = kinds(tmp_path / "late.jsonl")
    expected = before + made["visit_end"] + made["ping"] + made["held"]
    started = time.monotonic()
    wait_for(lambda: chain.count() >= expected, 30, "every record stored")
    took = time.monotonic() - started
    chain.start_collector("a")
    assert chain.count() == expected and took < 5.0, took
    log = chain.workdir / "collector-b.log"
    wait_for(lambda: "collector collector-a is silent: took over its session" in log.read_text(),
             10, "b says it drained a")


def test_export_gives_the_hourly_rollup_per_shop(chain: Chain) -> None:
    result = subprocess.run([sys.executable, "-m", "edge.cli", "--config",
                             str(chain.collector_config()), "collect", "--export", "-",
                             "--days", "100000"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("store,camera,hour,visits,staff_visits,dwell_s_mean")
    assert {line.split(",")[0] for line in lines[1:]} == set(STORES)


@pytest.mark.parametrize("env, code, words", [
    ({}, 2, "collect.database_url is not set"),
    ({"DWELL_COLLECT__DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}, 1,
     "cannot connect to the database:"),
])
def test_a_missing_or_unreachable_database_is_one_line(tmp_path: Path, env: dict[str, str],
                                                       code: int, words: str) -> None:
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    result = subprocess.run([sys.executable, "-m", "edge.cli", "collect"], cwd=tmp_path,
                            env={**clean, **env}, capture_output=True, text=True, timeout=60)
    assert result.returncode == code and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_the_grafana_dashboard_queries_run_on_the_schema(chain: Chain) -> None:
    import re

    dashboard = json.loads((Path(__file__).resolve().parent.parent / "deploy" / "grafana" /
                            "dwell-chain.json").read_text())
    queries = [t["rawSql"] for p in dashboard["panels"] for t in p["targets"]]
    queries.append(dashboard["templating"]["list"][0]["query"])
    for sql in queries:  # Grafana's macros, as it would expand them
        sql = re.sub(r"\$__timeFilter\((\w+)\)", r"\1 > now() - interval '100 years'", sql)
        chain.query(sql.replace("($store)", "('shop1', 'shop2')"))  # raises on a bad query


def test_a_database_that_refuses_the_schema_is_one_line(chain: Chain, tmp_path: Path) -> None:
    if not chain.query("SELECT 1 FROM pg_roles WHERE rolname = 'weak'"):
        chain.query("CREATE ROLE weak LOGIN")
    url = chain.db.url.replace("postgres@", "weak@")  # no CREATE on schema public (PG 15+)
    chain.query("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    import os

    clean = {k: v for k, v in os.environ.items() if not k.startswith("DWELL_")}
    result = subprocess.run([sys.executable, "-m", "edge.cli", "collect", "--migrate-only"],
                            cwd=tmp_path, env={**clean, "DWELL_COLLECT__DATABASE_URL": url},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert "the database refused the schema: permission denied" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
