"""A real console on a real trace, and a small HTTP client that keeps the session cookie."""

from __future__ import annotations

import http.client
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from edge.config.settings import load_settings
from edge.demo.mosquitto import free_port
from edge.service.console_host import TraceConsole

REPO = Path(__file__).resolve().parents[1]
GOLDEN_TRACE = REPO / "tests/data/golden_trace.jsonl"
GOLDEN_CONFIG = REPO / "tests/data/golden.toml"
PASSWORD = "correct horse battery"


def console_config(tmp_path: Path, extra: str = "") -> Path:
    """The golden config plus a [console] section, in tmp_path (the console saves to it)."""
    path = tmp_path / "dwell.toml"
    path.write_text(f'state_dir = "{tmp_path / "state"}"\n' + GOLDEN_CONFIG.read_text()
                    + f'\n[console]\npassword = "{PASSWORD}"\nlogin_attempts = 3\n'
                    f"lockout_s = 30\n{extra}", encoding="utf-8")
    return path


def start_console(tmp_path: Path, speed: float = 1.0, extra: str = "") -> TraceConsole:
    config = console_config(tmp_path, extra)
    return TraceConsole(load_settings(config), ("127.0.0.1", free_port()),
                        trace=GOLDEN_TRACE, config_path=config, speed=speed)


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Client:
    url: str
    cookie: str | None = None
    csrf: str | None = None
    set_cookies: list[str] = field(default_factory=list)

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None, timeout: float = 30) -> Response:
        host, port = self.url.removeprefix("http://").split(":")
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        sent = dict(headers or {})
        if self.cookie:
            sent["Cookie"] = self.cookie
        conn.request(method, path, body=body, headers=sent)
        res = conn.getresponse()
        data = res.read()
        got = {k.lower(): v for k, v in res.getheaders()}
        cookies = [v for k, v in res.getheaders() if k.lower() == "set-cookie"]
        self.set_cookies += cookies
        conn.close()
        return Response(res.status, got, data)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post_json(self, path: str, data: Any, csrf: str | None = "session") -> Response:
        headers = {"Content-Type": "application/json"}
        token = self.csrf if csrf == "session" else csrf
        if token is not None:
            headers["X-CSRF-Token"] = token
        return self.request("POST", path, json.dumps(data).encode(), headers)

    def login(self, password: str = PASSWORD, headers: dict[str, str] | None = None) -> Response:
        res = self.request("POST", "/login", urlencode({"password": password}).encode(),
                           {"Content-Type": "application/x-www-form-urlencoded",
                            **(headers or {})})
        if res.status == 303:
            match = re.match(r"(dwell_session=[^;]+)", res.headers["set-cookie"])
            assert match, res.headers
            self.cookie = match.group(1)
            self.csrf = self.get("/api/session").json()["csrf"]
        return res


def finished(client: Client, res: Response, timeout: float = 300) -> Response:
    """``res``, or when it is 202 (a replay still running on the console's worker) the
    job's answer once it is done: polled at /api/jobs like the page does."""
    import time

    deadline = time.monotonic() + timeout
    while res.status == 202 and time.monotonic() < deadline:
        time.sleep(0.2)
        res = client.get(f"/api/jobs?id={res.json()['job']}")
    return res
