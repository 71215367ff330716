"""The owner's console over real HTTP against the real server, on the golden trace played live.

Security first: every route the app lists refuses without a login, a state change without the
session's CSRF token is refused, repeated failed logins are answered 429. Then the pages' data:
the report equals `dwell replay`, what-if changes the ping count, saving writes the TOML (with
a backup) and reloads the sensor, the live stream updates more than twice a second.
"""

from __future__ import annotations

import http.client
import json
import re
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.cli.main import main
from edge.config.settings import ConfigError, Settings, load_settings
from edge.service.console_host import TraceConsole
from tests.console_helpers import (
    GOLDEN_TRACE,
    PASSWORD,
    Client,
    console_config,
    finished,
    start_console,
)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[TraceConsole]:
    host = start_console(tmp_path)
    yield host
    host.close()


@pytest.fixture
def client(console: TraceConsole) -> Client:
    c = Client(console.url)
    assert c.login().status == 303
    return c


def test_healthz_needs_no_login_and_every_other_route_refuses_without_one(
        console: TraceConsole) -> None:
    anon = Client(console.url)
    assert anon.get("/healthz").status == 200
    routes = console.server.routes()
    private = [(m, p) for m, p, public in routes if not public]
    assert len(private) >= 15, routes  # the table really is the app's
    for method, path in private:
        res = anon.request(method, path, b"{}", {"Content-Type": "application/json"})
        if path.startswith("/api/"):
            assert res.status == 401, (method, path, res.status)
        else:
            assert res.status == 303 and res.headers["location"] == "/login", (method, path)
        assert b"policy" not in res.body and b"linger" not in res.body
    assert anon.get("/no/such/page").status == 303  # unknown paths reveal nothing either
    assert anon.get("/login").status == 200


def test_login_sets_a_strict_httponly_cookie_and_a_wrong_password_is_refused(
        console: TraceConsole) -> None:
    c = Client(console.url)
    wrong = c.login("not the password")
    assert wrong.status == 401 and b"Wrong password" in wrong.body
    assert c.cookie is None
    ok = c.login()
    assert ok.status == 303
    cookie = ok.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    assert c.get("/api/config").status == 200
    assert c.get("/").status == 200 and b"dwell console" in c.get("/").body


def test_repeated_failed_logins_are_answered_429_for_a_while(console: TraceConsole) -> None:
    c = Client(console.url)
    for _ in range(3):  # login_attempts = 3
        assert c.login("guess").status == 401
    locked = c.login()  # even the right password, while locked out
    assert locked.status == 429
    assert 0 < int(locked.headers["retry-after"]) <= 31
    assert c.cookie is None


def test_a_state_change_needs_the_sessions_csrf_token(client: Client, tmp_path: Path) -> None:
    before = (tmp_path / "dwell.toml").read_text()
    change = {"policy": {"linger_s": 12.0}}
    assert client.post_json("/api/config", change, csrf=None).status == 403
    assert client.post_json("/api/config", change, csrf="forged").status == 403
    assert client.post_json("/api/whatif", {"changes": {}}, csrf="forged").status == 403
    assert (tmp_path / "dwell.toml").read_text() == before
    cross = client.request("POST", "/api/config", json.dumps(change).encode(), {
        "Content-Type": "application/json", "X-CSRF-Token": client.csrf or "",
        "Origin": "http://evil.example"})
    assert cross.status == 403
    assert client.post_json("/api/config", change).status == 200


def test_config_is_shown_with_secrets_masked(client: Client) -> None:
    data = client.get("/api/config").json()
    assert data["settings"]["console"]["password"] == "********"
    assert PASSWORD not in json.dumps(data)
    assert data["settings"]["policy"]["linger_s"] == 10.0


def test_saving_writes_the_toml_keeps_other_keys_backs_up_and_reloads(
        console: TraceConsole, client: Client, tmp_path: Path) -> None:
    path = tmp_path / "dwell.toml"
    before = path.read_text()
    res = client.post_json("/api/config", {"policy": {"linger_s": 25.0}})
    assert res.status == 200, res.body
    saved = tomllib.loads(path.read_text())
    assert saved["policy"]["linger_s"] == 25.0
    assert saved["policy"]["space_window_s"] == 20.0  # other keys kept
    assert len(saved["zones"]) == 3 and saved["console"]["password"] == PASSWORD
    assert (tmp_path / "dwell.toml.bak").read_text() == before
    assert load_settings(path).policy.linger_s == 25.0  # `dwell config check` accepts it
    deadline = time.monotonic() + 5
    while console.player.settings.policy.linger_s != 25.0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert console.player.settings.policy.linger_s == 25.0  # the running sensor reloaded


def test_a_refused_save_names_the_key_and_writes_nothing(client: Client, tmp_path: Path) -> None:
    path = tmp_path / "dwell.toml"
    before = path.read_text()
    res = client.post_json("/api/config", {"policy": {"linger_s": -3}})
    assert res.status == 400
    assert "policy.linger_s" in res.json()["errors"]
    crossing = [[0.1, 0.1], [0.9, 0.9], [0.9, 0.1], [0.1, 0.9]]
    res = client.post_json("/api/config", {"zones": [
        {"name": "a", "kind": "help_point", "polygon": [[0, 0], [0.2, 0], [0.2, 0.2]]},
        {"name": "b", "kind": "staff", "polygon": crossing}]})
    assert res.status == 400
    assert "self-intersecting" in res.json()["errors"]["zones.1.polygon"]
    res = client.post_json("/api/config", {"zones": [
        {"name": "a", "kind": "help_point", "polygon": [[0, 0], [0.2, 0], [0.2, 0.2]]},
        {"name": "a", "kind": "staff", "polygon": [[0.5, 0.5], [0.6, 0.5], [0.6, 0.6]]}]})
    assert res.status == 400 and "used twice" in json.dumps(res.json())
    assert path.read_text() == before and not (tmp_path / "dwell.toml.bak").exists()


def replay_numbers(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    capsys.readouterr()
    assert main(["--config", str(config), "replay", str(GOLDEN_TRACE)]) == 0
    out = capsys.readouterr().out
    return {"visits": re.search(r"visits: (\d+)", out).group(1),  # type: ignore[union-attr]
            "pings": re.search(r"pings: ([^\n]+)", out).group(1),  # type: ignore[union-attr]
            "held": re.search(r"held back: ([^\n]+)", out).group(1),  # type: ignore[union-attr]
            "dwell": re.search(r"median ([\d.]+) s, p90 ([\d.]+)", out).group(0)}  # type: ignore[union-attr]


def as_line(total: int, by: dict[str, int]) -> str:
    return f"{total}" + "".join(f", {k} {v}" for k, v in sorted(by.items()))


def test_the_report_equals_dwell_replay_and_its_hours_add_up(
        client: Client, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    expected = replay_numbers(tmp_path / "dwell.toml", capsys)
    data = finished(client, client.get("/api/report")).json()
    total = data["total"]
    assert str(total["visits"]) == expected["visits"]
    assert as_line(total["pings"], total["pings_by_reason"]) == expected["pings"]
    assert as_line(total["held"], total["held_by_rule"]) == expected["held"]
    assert (f"median {total['dwell_median_s']:.1f} s, p90 {total['dwell_p90_s']:.1f}"
            == expected["dwell"])
    assert sum(h["pings"] for h in data["hours"]) == total["pings"]
    assert sum(h["visits"] for h in data["hours"]) == total["visits"]
    assert total["unanswered"] == total["pings"]  # a trace records no acks
    csv = finished(client, client.get("/api/report.csv"))
    assert csv.status == 200 and csv.headers["content-type"].startswith("text/csv")
    last = csv.body.decode().strip().splitlines()[-1].split(",")
    assert last[0] == "total" and int(last[6]) == total["pings"]


def test_what_if_replays_the_day_with_other_thresholds(client: Client) -> None:
    res = finished(client, client.post_json("/api/whatif", {
        "trace": GOLDEN_TRACE.name, "changes": {"policy": {"linger_s": 60.0}}}))
    assert res.status == 200, res.body
    data = res.json()
    assert data["current"]["pings_by_reason"].get("linger", 0) > 0
    assert data["changed"]["pings_by_reason"].get("linger", 0) == 0  # nobody lingers 60 s
    assert data["changed"]["pings"] < data["current"]["pings"]
    assert set(data["changed"]["lingered_never_pinged"]) <= set(
        data["current"]["lingered_never_pinged"])
    assert data["seconds"] > 0
    bad = client.post_json("/api/whatif", {"changes": {"policy": {"linger_z": 1}}})
    assert bad.status == 400 and bad.json()["errors"] == {"policy.linger_z": "unknown key"}


def test_thresholds_come_with_descriptions_and_bounds(client: Client) -> None:
    data = client.get("/api/thresholds").json()
    linger = next(f for f in data["policy"] if f["key"] == "linger_s")
    assert linger["bounds"] == {"gt": 0, "le": 3600} and "linger" in linger["description"]
    keys = {f["key"] for f in data["policy"]}
    assert {"space_window_s", "visitor_cooldown_s", "max_pings_per_minute"} <= keys
    assert any(f["key"] == "help_point_s" for f in data["behaviour"])


def test_the_live_stream_updates_more_than_twice_a_second_and_dots_move(
        console: TraceConsole, client: Client) -> None:
    host, port = console.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.request("GET", "/api/live", headers={"Cookie": client.cookie or ""})
    res = conn.getresponse()
    assert res.status == 200 and res.getheader("Content-Type") == "text/event-stream"
    states, began = [], time.monotonic()
    while time.monotonic() - began < 4.0:
        line = res.readline()
        if line.startswith(b"data: "):
            states.append(json.loads(line[6:]))
    conn.close()
    assert len(states) >= 8  # >= 2 per second
    seen = {p["id"]: (p["x"], p["y"]) for p in states[2]["people"]}
    later = {p["id"]: (p["x"], p["y"]) for p in states[-1]["people"]}
    assert seen and later
    assert any(later[k] != v for k, v in seen.items() if k in later) or set(seen) != set(later)
    assert all(0 <= p["x"] <= 1 and 0 <= p["y"] <= 1 for s in states for p in s["people"])
    assert states[-1]["health"]["mode"] == "trace" and states[-1]["zones"]
    assert "image" not in json.dumps(states[-1])


def test_the_snapshot_needs_a_login_and_a_trace_has_none(
        client: Client, console: TraceConsole, tmp_path: Path) -> None:
    assert Client(console.url).get("/api/snapshot").status == 401
    res = client.get("/api/snapshot")
    assert res.status == 404 and res.headers["cache-control"] == "no-store"


def test_the_heatmap_counts_feet_from_the_trace(client: Client) -> None:
    data = client.get("/api/heatmap").json()
    assert data["size"] == [640, 480] and data["max"] > 0
    assert len(data["grid"]) == 48 and len(data["grid"][0]) == 64


def test_the_console_refuses_to_start_without_a_password(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "plain.toml"
    config.write_text('[policy]\nlinger_s = 10.0\n')
    rc = main(["console", "--config", str(config), "--trace", str(GOLDEN_TRACE),
               "--listen", "127.0.0.1:0"])
    assert rc == 2
    assert "password is not set" in capsys.readouterr().err


def test_console_settings_are_validated_like_every_other_key(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="password"):
        Settings(console={"listen": "0.0.0.0:8788"})
    with pytest.raises(ValueError, match="HOST:PORT"):
        Settings(console={"listen": "8788", "password": "long enough"})
    config = console_config(tmp_path, "session_s = 5\n")
    with pytest.raises(ConfigError, match=r"console\.session_s"):
        load_settings(config)
    settings = load_settings(console_config(tmp_path))
    assert settings.console.check_password(PASSWORD)
    assert not settings.console.check_password(PASSWORD + "x")
    assert PASSWORD.encode() not in repr(settings).encode()


def test_a_config_file_that_cannot_be_written_is_a_409_naming_why(tmp_path: Path) -> None:
    config = console_config(tmp_path)
    host = TraceConsole(load_settings(config), ("127.0.0.1", 0), trace=GOLDEN_TRACE,
                        config_path=tmp_path / "missing" / "dwell.toml")
    try:
        client = Client(host.url)
        assert client.login().status == 303
        res = client.post_json("/api/config", {"policy": {"linger_s": 12.0}})
        assert res.status == 409 and "cannot write" in res.json()["errors"]["(file)"]
        assert host.player.settings.policy.linger_s == 10.0  # nothing reloaded
    finally:
        host.close()


def test_a_save_keeps_the_files_mode_and_group(tmp_path: Path) -> None:
    """Under systemd's DynamicUser the next start may run as another uid: the saved file must
    stay readable through its group, with the mode it had (0640 root:dwell on a Pi)."""
    import grp
    import os

    from edge.console.configfile import save

    path = console_config(tmp_path)
    mine = path.stat().st_gid  # a group other than the file's own, that we may give it
    candidates = [g.gr_gid for g in grp.getgrall()] if os.geteuid() == 0 else os.getgroups()
    groups = [g for g in candidates if g != mine] or [mine]
    os.chown(path, -1, groups[0])
    path.chmod(0o640)
    save(path, {"policy": {"linger_s": 12.0}})
    st = path.stat()
    assert oct(st.st_mode & 0o777) == "0o640", grp.getgrgid(st.st_gid)
    assert st.st_gid == groups[0]
    assert load_settings(path).policy.linger_s == 12.0
    assert (tmp_path / "dwell.toml.bak").stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("trust", [False, True])
def test_the_cookie_is_secure_only_behind_a_trusted_tls_proxy(tmp_path: Path,
                                                               trust: bool) -> None:
    host = start_console(tmp_path, extra=f"trust_proxy = {str(trust).lower()}\n")
    try:
        proxied = Client(host.url)
        assert proxied.login(headers={"X-Forwarded-Proto": "https"}).status == 303
        assert ("; Secure" in proxied.set_cookies[-1]) is trust
        direct = Client(host.url)  # plain HTTP on the LAN: a Secure cookie would never return
        assert direct.login().status == 303
        assert "Secure" not in direct.set_cookies[-1]
        assert direct.get("/api/config").status == 200
    finally:
        host.close()


@pytest.mark.parametrize("trust", [False, True])
def test_behind_a_trusted_proxy_one_guesser_does_not_lock_everyone_out(tmp_path: Path,
                                                                       trust: bool) -> None:
    host = start_console(tmp_path, extra=f"trust_proxy = {str(trust).lower()}\n")
    try:
        guesser = Client(host.url)
        # The guesser forges an entry of its own; the proxy appends the real address last.
        via_proxy = {"X-Forwarded-For": "192.0.2.7, 198.51.100.9"}
        for _ in range(3):  # login_attempts = 3
            assert guesser.login("guess", headers=via_proxy).status == 401
        assert guesser.login(headers=via_proxy).status == 429
        owner = Client(host.url)  # through the same proxy, so the same socket address
        status = owner.login(headers={"X-Forwarded-For": "192.0.2.7"}).status
        # Trusted: counted per forwarded address, so the owner (named in the guesser's forged
        # entry too) gets in. Not trusted: the header means nothing, the socket is one address.
        assert status == (303 if trust else 429)
    finally:
        host.close()
