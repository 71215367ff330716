"""What each route of the console answers, independent of HTTP plumbing (server.py).

A handler takes a ``Request`` and returns a ``Reply``. ``Console.routes`` is the one table of
routes: the server dispatches from it and the security test walks it (every route except the
public ones must refuse without a login).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from pydantic import BaseModel, ValidationError

from edge.config.sections import BehaviourConfig, PolicyConfig
from edge.config.settings import Settings, masked_dict
from edge.console.configfile import EDITABLE, SaveError, fields_of, save
from edge.console.floor import Floor
from edge.console.jobs import Job, Jobs
from edge.console.ledger import Ledger, merged
from edge.console.report import outcome, report, report_csv
from edge.console.shelf import Shelf
from edge.offline.seen import SeenDays
from edge.offline.seen_store import SeenStore
from edge.vocabulary.errors import InputError

log = logging.getLogger("dwell.console")

STATIC = ("index.html", "app.js", "style.css", "login.html")
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8"}
WAIT_S = 2.0  # how long a report or what-if request waits for its replay before a 202
Reload = Callable[[Settings], None]
Snapshot = Callable[[], bytes | None]


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes = b""
    client: str = ""
    https: bool = False  # a trusted reverse proxy says the browser used HTTPS

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"{}")
        except ValueError as exc:
            raise BadRequest(f"body is not JSON: {exc}") from None

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8", "replace")).items()}


@dataclass
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(data, default=str).encode(), headers=headers or {})


class BadRequest(ValueError):
    pass


def static_file(name: str) -> Reply:
    data = (resources.files("edge.console") / "static" / name).read_bytes()
    return Reply(200, data, TYPES[Path(name).suffix])


def changed(settings: Settings, changes: Any) -> Settings:
    """``settings`` with sections of ``changes`` replaced, each validated by its model;
    SaveError maps 'section.key' to why a value is refused."""
    if not isinstance(changes, dict):
        raise SaveError({"(body)": "changes must be {section: {key: value}}"})
    errors: dict[str, str] = {}
    update: dict[str, BaseModel] = {}
    for section, values in changes.items():
        if section not in EDITABLE or not isinstance(values, dict):
            errors[str(section)] = f"not a section that can be changed here ({', '.join(EDITABLE)})"
            continue
        current: BaseModel = getattr(settings, section)
        try:
            update[section] = type(current).model_validate({**current.model_dump(), **values})
        except ValidationError as exc:
            for err in exc.errors():
                key = ".".join(str(p) for p in (section, *err["loc"]))
                errors[key] = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    if errors:
        raise SaveError(errors)
    return settings.model_copy(update=update)


class Console:
    """The console's state: the effective settings, where they are saved, the live floor, the
    traces it can replay, and how the host reloads a new configuration."""

    def __init__(self, settings: Settings, *, floor: Floor, shelf: Shelf,
                 config_path: Path | None, reload: Reload, mode: str,
                 snapshot: Snapshot | None = None, ledger: Ledger | None = None) -> None:
        self.settings, self.floor, self.shelf, self.ledger = settings, floor, shelf, ledger
        self.config_path, self._reload, self.mode = config_path, reload, mode
        self._snapshot = snapshot
        self._saving = threading.Lock()  # one save at a time: read, merge, check, replace
        # replays run on one background worker; a request waits this long, then gets 202
        # files tracked once (and settled days kept on disk): a [policy] what-if re-runs
        # behaviour and policy only
        self.days = SeenDays(keep=3, store=SeenStore.of(shelf.state_dir))
        self.jobs = Jobs(errors={InputError: 422}, on_idle=self.idle_work)
        self.wait_s = WAIT_S
        self._render: dict[str, Callable[[Any], Any]] = {
            "report": lambda data: merged(data, self.ledger),  # live acks added fresh
            "whatif": lambda data: data}
        # (method, path) -> (handler, login required)
        self.routes: dict[tuple[str, str], tuple[Callable[[Request], Reply], bool]] = {
            ("GET", "/healthz"): (lambda r: Reply.json({"ok": True}), False),
            ("GET", "/login"): (lambda r: static_file("login.html"), False),
            ("GET", "/"): (lambda r: static_file("index.html"), True),
            **{("GET", f"/static/{n}"): (lambda r, n=n: static_file(n), True)  # type: ignore[misc]
               for n in STATIC if n != "login.html"},
            ("GET", "/api/config"): (self.get_config, True),
            ("POST", "/api/config"): (self.post_config, True),
            ("GET", "/api/state"): (self.get_state, True),
            ("GET", "/api/traces"): (lambda r: Reply.json(self.shelf.listing()), True),
            ("GET", "/api/report"): (self.get_report, True),
            ("GET", "/api/report.csv"): (self.get_report_csv, True),
            ("GET", "/api/thresholds"): (self.get_thresholds, True),
            ("POST", "/api/whatif"): (self.post_whatif, True),
            ("GET", "/api/heatmap"): (self.get_heatmap, True),
            ("GET", "/api/jobs"): (self.get_job, True),
            ("GET", "/api/snapshot"): (self.get_snapshot, True),
        }

    def idle_work(self) -> None:
        """On the jobs worker when nobody asked for a while: gives back the recorded days'
        memory, deletes recordings whose trace is gone, and records the settled days not yet
        recorded with the current settings, so the owner's first question about a day is
        answered from disk (it gives way to any question that comes meanwhile)."""
        self.days.clear()
        traces = self.shelf.traces()
        store = self.days.store
        assert store is not None
        for gone in store.prune(traces):
            log.info("console: deleted %s (its trace is gone)", gone.name)
        for path in self.days.prerecord(traces, self.settings, stop=self.jobs.waiting):
            log.info("console: recorded %s ahead of the owner's questions", path.name)

    # -- configuration ----------------------------------------------------------------------

    def get_config(self, req: Request) -> Reply:
        return Reply.json({"settings": masked_dict(self.settings),
                           "config_path": str(self.config_path) if self.config_path else None,
                           "mode": self.mode})

    def post_config(self, req: Request) -> Reply:
        if self.config_path is None:
            return Reply.json({"errors": {"(file)": "no config file to save to: start with "
                                          "--config FILE"}}, 409)
        changes = req.json()
        if not isinstance(changes, dict):
            raise BadRequest("body must be {section: {key: value}} or {zones: [...]}")
        with self._saving:
            try:
                new = save(self.config_path, changes)
            except SaveError as exc:
                return Reply.json({"errors": exc.errors}, 400)
            except OSError as exc:  # e.g. /etc/dwell/dwell.toml is read-only to the service
                return Reply.json({"errors": {"(file)": (
                    f"cannot write {self.config_path}: {exc.strerror}; the sensor may read "
                    "but not write its config (docs/console.md, Saving)")}}, 409)
            self.settings = new
            self._reload(new)
        log.info("console saved %s (%s); reloaded", self.config_path, ", ".join(changes))
        return Reply.json({"ok": True, "settings": masked_dict(new)})

    def get_thresholds(self, req: Request) -> Reply:
        return Reply.json({"policy": fields_of(PolicyConfig, self.settings.policy),
                           "behaviour": fields_of(BehaviourConfig, self.settings.behaviour)})

    # -- live -------------------------------------------------------------------------------

    def get_state(self, req: Request) -> Reply:
        return Reply.json(self.floor.state(int(req.query.get("since", "0") or 0)))

    def get_snapshot(self, req: Request) -> Reply:
        image = self._snapshot() if self._snapshot is not None else None
        if image is None:
            return Reply.json({"error": "no camera here (a recorded trace has no pixels)"}, 404)
        return Reply(200, image, "image/jpeg", {"Cache-Control": "no-store"})

    # -- traces -----------------------------------------------------------------------------

    def _trace(self, req: Request) -> tuple[str, list[Path]]:
        """The day (or file) asked for and its trace files."""
        try:
            return self.shelf.find(req.query.get("trace"))
        except KeyError as exc:
            raise NotFound(str(exc.args[0])) from None

    def _settings_key(self, settings: Settings) -> str:
        return json.dumps(masked_dict(settings), sort_keys=True)

    def _job_reply(self, job: Job, wait_s: float) -> Reply:
        """The job's answer if it finishes within ``wait_s``; else 202 and where to poll."""
        job.finished.wait(wait_s)
        if job.state == "done":
            return Reply.json(self._render[job.kind](job.result))
        if job.state == "failed":
            return Reply.json({"error": job.error, "job": job.id}, job.error_status)
        return Reply.json(job.view(), 202, {"Location": f"/api/jobs?id={job.id}"})

    def get_job(self, req: Request) -> Reply:
        job = self.jobs.get(req.query.get("id", ""))
        if job is None:
            raise NotFound(f"no job {req.query.get('id', '')!r} (finished ones are kept "
                           f"{self.jobs.keep} at a time: ask again)")
        return self._job_reply(job, 0.0)

    def _report_job(self, name: str, paths: list[Path]) -> Job:
        settings = self.settings
        key = f"report {self.shelf.stamp(paths)} {self._settings_key(settings)}"
        return self.jobs.submit("report", key,
                                lambda: report(paths, settings, self.days, name=name))

    def get_report(self, req: Request) -> Reply:
        return self._job_reply(self._report_job(*self._trace(req)), self.wait_s)

    def get_report_csv(self, req: Request) -> Reply:
        day, paths = self._trace(req)
        job = self._report_job(day, paths)
        job.finished.wait(self.wait_s)
        if job.state != "done":
            return self._job_reply(job, 0.0)
        name = day.split(".")[0]
        data = merged(job.result, self.ledger)
        return Reply(200, report_csv(data).encode(), "text/csv; charset=utf-8",
                     {"Content-Disposition": f'attachment; filename="dwell-{name}.csv"'})

    def get_heatmap(self, req: Request) -> Reply:
        return Reply.json(self.shelf.heatmap(*self._trace(req)))

    def post_whatif(self, req: Request) -> Reply:
        body = req.json()
        if not isinstance(body, dict):
            raise BadRequest('body must be {"trace": NAME, "changes": {section: {...}}}')
        req.query["trace"] = str(body.get("trace") or "")
        day, paths = self._trace(req)
        try:
            other = changed(self.settings, body.get("changes", {}))
        except SaveError as exc:
            return Reply.json({"errors": exc.errors}, 400)
        settings = self.settings
        now, then = self._settings_key(settings), self._settings_key(other)
        key = f"whatif {self.shelf.stamp(paths)} {now} {then}"
        return self._job_reply(self.jobs.submit(
            "whatif", key, lambda: self._whatif(day, paths, settings, other)), self.wait_s)

    def _whatif(self, day: str, paths: list[Path], settings: Settings,
                other: Settings) -> dict[str, Any]:
        """On the worker: the current settings' outcome (kept per day and settings) and the
        changed one; both re-track the day only if it is not recorded (``SeenDays``)."""
        current = self.shelf.cached(f"outcome {self._settings_key(settings)}", paths,
                                    lambda: outcome(paths, settings, self.days))
        then = outcome(paths, other, self.days)
        return {"trace": day, "files": [p.name for p in paths], "current": current,
                "changed": then, "seconds": then["seconds"]}


class NotFound(LookupError):
    pass


def handle(console: Console, req: Request) -> Reply:
    """Runs the route's handler; bad input is a 400/404 naming what is wrong."""
    handler, _ = console.routes[(req.method, req.path)]
    try:
        return handler(req)
    except BadRequest as exc:
        return Reply.json({"error": str(exc)}, 400)
    except NotFound as exc:
        return Reply.json({"error": str(exc)}, 404)
    except InputError as exc:
        return Reply.json({"error": str(exc)}, 422)
