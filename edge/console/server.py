"""The console's HTTP server: the standard library's ThreadingHTTPServer (as the ntfy bridge
uses), no framework, so a Pi pays a few MB and one idle thread for it.

Public: ``GET /healthz``, ``GET /login``, ``POST /login``. Everything else needs the session
cookie; every POST other than the login also needs the session's CSRF token in
``X-CSRF-Token``, and a request whose ``Origin`` is not this host is refused. A page asked for
without a login is redirected to /login (303); an API call is answered 401. ``GET /api/live``
streams the floor as server-sent events, one snapshot every ``LIVE_PERIOD_S``.
"""

from __future__ import annotations

import json
import logging
import threading
from http.cookies import SimpleCookie
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from edge.console.api import Console, Reply, Request, handle, static_file
from edge.console.auth import COOKIE, Lockout, Session, Sessions

log = logging.getLogger("dwell.console")

LIVE_PERIOD_S = 0.4  # SSE updates: 2.5 a second
MAX_BODY = 1 << 20
PUBLIC = {("GET", "/healthz"), ("GET", "/login"), ("POST", "/login")}
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; "
                               "style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'",
}


class ConsoleError(RuntimeError):
    """The console cannot start (no password, address in use)."""


class ConsoleServer:
    """Serves ``console`` on ``address`` from ``start`` until ``stop``."""

    def __init__(self, console: Console, address: tuple[str, int]) -> None:
        cfg = console.settings.console
        if not cfg.has_password:
            raise ConsoleError("[console] password is not set: the console refuses to start "
                               "without one (set it in the config file or DWELL_CONSOLE__"
                               "PASSWORD)")
        self.console = console
        self.sessions = Sessions(cfg.session_s)
        self.lockout = Lockout(cfg.login_attempts, cfg.lockout_s)
        self.stopping = threading.Event()
        try:
            self.httpd = ThreadingHTTPServer(address, _handler(self))
        except OSError as exc:
            raise ConsoleError(f"console cannot listen on {address[0]}:{address[1]}: "
                               f"{exc.strerror}") from None
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="console",
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{name if name != '0.0.0.0' else '127.0.0.1'}:{port}"

    def routes(self) -> list[tuple[str, str, bool]]:
        """(method, path, public) of every route the server answers."""
        found = [(m, p, (m, p) in PUBLIC) for (m, p) in self.console.routes]
        return [*found, ("POST", "/login", True), ("POST", "/logout", False),
                ("GET", "/api/session", False), ("GET", "/api/live", False)]

    def start(self) -> ConsoleServer:
        self._thread.start()
        self.console.jobs.start()  # its idle work records settled days ahead of questions
        log.info("console on %s", self.url)
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.console.jobs.stop()
        self.httpd.shutdown()
        self.httpd.server_close()


def _handler(server: ConsoleServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

        def do_GET(self) -> None:
            _dispatch(server, self, "GET")

        def do_POST(self) -> None:
            _dispatch(server, self, "POST")

    return Handler


def _send(h: BaseHTTPRequestHandler, reply: Reply) -> None:
    h.send_response(reply.status)
    headers = {**SECURITY_HEADERS, "Content-Type": reply.content_type,
               "Content-Length": str(len(reply.body))}
    if reply.content_type.startswith(("application/json", "text/csv", "image/")):
        headers.setdefault("Cache-Control", "no-store")
    for key, value in {**headers, **reply.headers}.items():
        h.send_header(key, value)
    h.end_headers()
    h.wfile.write(reply.body)


def _session(server: ConsoleServer, h: BaseHTTPRequestHandler) -> Session | None:
    cookie = SimpleCookie(h.headers.get("Cookie", ""))
    morsel = cookie.get(COOKIE)
    return server.sessions.get(morsel.value if morsel else None)


def _origin_ok(h: BaseHTTPRequestHandler) -> bool:
    origin = h.headers.get("Origin")
    return origin is None or urlsplit(origin).netloc == h.headers.get("Host")


def _dispatch(server: ConsoleServer, h: BaseHTTPRequestHandler, method: str) -> None:
    url = urlsplit(h.path)
    path = url.path
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    length = int(h.headers.get("Content-Length") or 0)
    if length > MAX_BODY:
        _send(h, Reply.json({"error": "request too large"}, 413))
        return
    body = h.rfile.read(length) if length else b""
    proxied = server.console.settings.console.trust_proxy
    https = proxied and h.headers.get("X-Forwarded-Proto", "").strip().lower() == "https"
    req = Request(method, path, query, body, client_address(h, proxied), https)
    session = _session(server, h)
    if (method, path) not in PUBLIC:
        if session is None:
            _refuse(h, path)
            return
        if method == "POST" and not (_origin_ok(h) and server.sessions.csrf_ok(
                session, h.headers.get("X-CSRF-Token"))):
            _send(h, Reply.json({"error": "missing or wrong CSRF token"}, 403))
            return
    _send_route(server, h, req, session)


def client_address(h: BaseHTTPRequestHandler, proxied: bool) -> str:
    """Who is asking, for the login lockout and the log. Behind a trusted proxy every
    request comes from the proxy's address, so one guesser would lock everyone out: there
    the address is the last X-Forwarded-For entry, the one the proxy itself appended (entries
    left of it come from the client and can be forged). Without the header, or without
    ``trust_proxy``, it is the socket's peer."""
    if proxied:
        forwarded = h.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
        if forwarded:
            return forwarded
    return str(h.client_address[0])


def _refuse(h: BaseHTTPRequestHandler, path: str) -> None:
    if path.startswith("/api/"):
        _send(h, Reply.json({"error": "login required"}, 401))
    else:
        _send(h, Reply(303, b"", "text/plain", {"Location": "/login"}))


def _send_route(server: ConsoleServer, h: BaseHTTPRequestHandler, req: Request,
                session: Session | None) -> None:
    key = (req.method, req.path)
    if key == ("POST", "/login"):
        _send(h, _login(server, req))
    elif key == ("POST", "/logout") and session is not None:
        server.sessions.end(session.token)
        _send(h, Reply(303, b"", "text/plain", {
            "Location": "/login", "Set-Cookie": f"{COOKIE}=; Path=/; Max-Age=0"}))
    elif key == ("GET", "/api/session") and session is not None:
        _send(h, Reply.json({"csrf": session.csrf, "mode": server.console.mode}))
    elif key == ("GET", "/api/live"):
        _live(server, h, req)
    elif key in server.console.routes:
        _send(h, handle(server.console, req))
    else:
        _send(h, Reply.json({"error": f"no such route: {req.method} {req.path}"}, 404))


def _login(server: ConsoleServer, req: Request) -> Reply:
    wait = server.lockout.retry_after(req.client)
    if wait > 0:
        return Reply(429, f"Too many failed logins: try again in {wait:.0f} s".encode(),
                     "text/plain; charset=utf-8", {"Retry-After": str(int(wait) + 1)})
    password = req.form().get("password", "")
    if not server.console.settings.console.check_password(password):
        server.lockout.failed(req.client)
        log.warning("console: failed login from %s", req.client)
        page = static_file("login.html")
        page.status = 401
        page.body = page.body.replace(b"<!--error-->", b'<p class="error">Wrong password.</p>')
        return page
    server.lockout.succeeded(req.client)
    session = server.sessions.create()
    return Reply(303, b"", "text/plain",
                 {"Location": "/", "Set-Cookie": server.sessions.cookie(session, req.https)})


def _live(server: ConsoleServer, h: BaseHTTPRequestHandler, req: Request) -> None:
    """Server-sent events: the floor every LIVE_PERIOD_S until the viewer goes away."""
    h.send_response(200)
    for key, value in {**SECURITY_HEADERS, "Content-Type": "text/event-stream",
                       "Cache-Control": "no-store", "Connection": "close"}.items():
        h.send_header(key, value)
    h.end_headers()
    h.close_connection = True
    since = int(req.query.get("since", "0") or 0)
    try:
        while not server.stopping.is_set() and _session(server, h) is not None:
            state = server.console.floor.state(since)
            since = state["seq"]
            h.wfile.write(b"data: " + json.dumps(state).encode() + b"\n\n")
            h.wfile.flush()
            server.stopping.wait(LIVE_PERIOD_S)
    except (BrokenPipeError, ConnectionResetError):
        pass
