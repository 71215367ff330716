"""Report and what-if replay on the console's background worker, over real HTTP: a request
that would wait too long is answered 202 with a job to poll, the same question asked twice is
one job, and the live floor, the health check and the other pages keep answering while a
replay runs. The answers equal a replay run directly."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.config.settings import load_settings
from edge.console.api import changed
from edge.console.report import outcome
from edge.demo.mosquitto import free_port
from edge.service.console_host import TraceConsole
from tests.console_helpers import GOLDEN_TRACE, Client, console_config

REPS = 30  # the golden scene 30 times: ~22 000 frames, several seconds to replay (12 were
# replayed before the pages were all checked on a faster machine)


@pytest.fixture
def busy(tmp_path: Path) -> Path:
    lines = GOLDEN_TRACE.read_text().splitlines()
    head = json.loads(lines[0])
    head["start"] = "2026-05-02T09:00:00"
    frames = [json.loads(line) for line in lines[1:]]
    path = tmp_path / "busy.trace.jsonl"
    with path.open("w") as fh:
        fh.write(json.dumps(head) + "\n")
        for r in range(REPS):
            for frame in frames:
                fh.write(json.dumps({**frame, "t": round(frame["t"] + r * 75.1, 4)}) + "\n")
    return path


@pytest.fixture
def host(tmp_path: Path, busy: Path) -> Iterator[TraceConsole]:
    config = console_config(tmp_path)
    console = TraceConsole(load_settings(config), ("127.0.0.1", free_port()), trace=busy,
                           config_path=config, speed=4.0)
    console.server.console.wait_s = 0.2  # a replay of this trace takes longer: 202
    yield console
    console.close()


def sse_updates(url: str, cookie: str, seconds: float) -> int:
    host, port = url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/api/live", headers={"Cookie": cookie})
    res = conn.getresponse()
    assert res.status == 200
    count, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        if res.fp.readline().startswith(b"data: "):
            count += 1
    conn.close()
    return count


def poll(client: Client, job: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        res = client.get(f"/api/jobs?id={job}")
        if res.status != 202:
            assert res.status == 200, res.body
            return res.json()
        time.sleep(0.2)
    raise AssertionError(f"job {job} did not finish in {timeout} s")


def without_seconds(data: dict) -> dict:
    return {k: v for k, v in data.items() if k != "seconds"}


def test_what_if_runs_on_the_worker_while_every_page_keeps_answering(
        host: TraceConsole, busy: Path) -> None:
    client = Client(host.url)
    assert client.login().status == 303
    client.csrf = client.get("/api/session").json()["csrf"]
    ask = {"trace": busy.name, "changes": {"policy": {"linger_s": 60.0}}}
    first = client.post_json("/api/whatif", ask)
    assert first.status == 202, first.body
    job = first.json()["job"]
    assert first.headers["location"] == f"/api/jobs?id={job}"
    assert client.post_json("/api/whatif", ask).json()["job"] == job  # one job, not two
    # while it replays: the live floor streams and the other pages answer
    assert client.get(f"/api/jobs?id={job}").json()["state"] in ("queued", "running")
    assert sse_updates(host.url, client.cookie or "", 2.0) >= 3
    for path in ("/healthz", "/api/config", "/api/state", "/api/thresholds", "/api/traces"):
        began = time.monotonic()
        assert client.get(path).status == 200, path
        assert time.monotonic() - began < 2.0, path
    assert client.get(f"/api/jobs?id={job}").status == 202  # still replaying the day
    data = poll(client, job)
    settings = host.server.console.settings
    other = changed(settings, ask["changes"])
    assert without_seconds(data["changed"]) == without_seconds(outcome([busy], other))
    assert without_seconds(data["current"]) == without_seconds(outcome([busy], settings))
    assert data["changed"]["pings"] < data["current"]["pings"]
    # answered again at once from the kept result; another value re-runs only behaviour
    again = client.post_json("/api/whatif", ask)
    assert again.status == 200 and again.json()["changed"] == data["changed"]
    days = host.server.console.days
    full_before = days.full
    ask["changes"] = {"policy": {"linger_s": 30.0}}
    res = client.post_json("/api/whatif", ask)
    later = poll(client, res.json()["job"]) if res.status == 202 else res.json()
    assert days.full == full_before and days.fast >= 1
    other = changed(settings, ask["changes"])
    assert without_seconds(later["changed"]) == without_seconds(outcome([busy], other))


def test_the_report_is_a_job_too_and_its_csv_waits_for_it(host: TraceConsole,
                                                          busy: Path) -> None:
    client = Client(host.url)
    assert client.login().status == 303
    first = client.get(f"/api/report?trace={busy.name}")
    assert first.status == 202
    assert client.get(f"/api/report.csv?trace={busy.name}").status == 202
    assert client.get("/api/jobs?id=nope").status == 404
    data = poll(client, first.json()["job"])
    assert data["trace"] == busy.name and data["total"]["pings"] > 0
    csv = client.get(f"/api/report.csv?trace={busy.name}")
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.body.decode().strip().splitlines()[-1].startswith("total,")


def test_a_replay_that_fails_is_answered_with_why(tmp_path: Path) -> None:
    """A broken day file fails its job on the worker; the poll says why (422), the worker
    lives on and answers the next question."""
    from tests.console_helpers import finished, start_console

    folder = tmp_path / "state" / "trace"
    folder.mkdir(parents=True)
    (folder / "2026-05-01_090000.jsonl.gz").write_bytes(b"not gzip at all")
    host = start_console(tmp_path)
    try:
        client = Client(host.url)
        assert client.login().status == 303
        bad = finished(client, client.get("/api/report?trace=2026-05-01"))
        assert bad.status == 422 and "2026-05-01_090000.jsonl.gz" in bad.json()["error"]
        good = finished(client, client.get(f"/api/report?trace={GOLDEN_TRACE.name}"))
        assert good.status == 200 and good.json()["total"]["pings"] == 3
    finally:
        host.close()


def test_idle_work_runs_after_start_and_after_each_idle_spell_and_may_fail() -> None:
    """The worker's idle work (the console records settled days there) runs first_idle_s
    after start, again after every idle_s without a job, and a failure leaves the worker."""
    import threading

    from edge.console.jobs import Jobs

    calls: list[float] = []
    ran = threading.Event()

    def idle() -> None:
        calls.append(time.monotonic())
        if len(calls) >= 3:
            ran.set()
        raise RuntimeError("idle work broke")

    jobs = Jobs(on_idle=idle, first_idle_s=0.05, idle_s=0.2)
    began = time.monotonic()
    jobs.start()
    try:
        assert ran.wait(10), calls
        assert calls[0] - began < 0.2 + 0.5 and calls[1] - calls[0] >= 0.19
        job = jobs.submit("x", "k", lambda: 42)  # the worker survived the failures
        assert job.finished.wait(5) and job.result == 42
        assert not jobs.waiting()
    finally:
        jobs.stop()
