"""Replays (report, what-if) run on one background worker, not on the HTTP thread that asked.

A replay of a busy day takes seconds to minutes of CPU; run on request threads, three clicks
would be three replays at once, each slowing the sensor and each other. Here every question
is a ``Job`` keyed by what it asks (kind, trace, settings): asking again while it runs, or
after it finished, returns the same job (its result is kept; the ``keep`` most recent ones).
The worker runs one job at a time, oldest first, at a lower CPU priority (``nice`` +10 on
Linux) so that the sensor's own threads win when both want the CPU. A request waits for its
job up to ``wait_s`` and otherwise is answered 202 with the job's id, which the page polls at
``GET /api/jobs?id=ID``. ``first_idle_s`` after ``start`` and then after every ``idle_s``
without a job, ``on_idle`` runs on the worker (the console drops its recorded days from
memory then, so a console nobody uses holds no replay memory, and records settled days to
disk ahead of the owner's questions, giving way as soon as a job is waiting).
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

log = logging.getLogger("dwell.console")

JobState = Literal["queued", "running", "done", "failed"]
NICE = 10  # the worker's CPU priority below the sensor's (Linux: per thread)


@dataclass
class Job:
    id: str
    kind: str
    work: Callable[[], Any]
    state: JobState = "queued"
    result: Any = None
    error: str | None = None
    error_status: int = 500
    submitted: float = field(default_factory=time.monotonic)
    seconds: float | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    def view(self) -> dict[str, Any]:
        """What a poll answers while the job is not done (or failed)."""
        out: dict[str, Any] = {"job": self.id, "kind": self.kind, "state": self.state,
                               "waited_s": round(time.monotonic() - self.submitted, 1)}
        if self.error is not None:
            out["error"] = self.error
        return out


class Jobs:
    """One worker thread (started at the first job) and the jobs it ran; see the module
    docstring. ``errors`` maps exception types to (HTTP status, message prefix)."""

    def __init__(self, keep: int = 16,
                 errors: dict[type[BaseException], int] | None = None,
                 idle_s: float = 600.0, on_idle: Callable[[], None] = lambda: None,
                 first_idle_s: float = 60.0) -> None:
        self.keep = keep
        self.errors = errors or {}
        self.idle_s, self.first_idle_s, self.on_idle = idle_s, first_idle_s, on_idle
        self._by_key: OrderedDict[str, Job] = OrderedDict()
        self._by_id: dict[str, Job] = {}
        self._todo: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None

    def submit(self, kind: str, key: str, work: Callable[[], Any]) -> Job:
        """The job asking ``key`` (a new one running ``work`` if none is kept, or the last
        one failed)."""
        with self._lock:
            job = self._by_key.get(key)
            if job is not None and job.state != "failed":
                self._by_key.move_to_end(key)
                return job
            job = Job(secrets.token_hex(8), kind, work)
            self._by_key[key] = job
            self._by_id[job.id] = job
            self._trim()
            self._start()
        self._todo.put(job)
        return job

    def start(self) -> None:
        """Starts the worker now (else at the first job), so that ``on_idle`` runs."""
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="console-jobs", daemon=True)
            self._worker.start()

    def waiting(self) -> bool:
        """A job is queued (what ``on_idle`` work asks to know when to give way)."""
        return not self._todo.empty()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._by_id.get(job_id)

    def _trim(self) -> None:
        finished = [k for k, j in self._by_key.items() if j.finished.is_set()]
        for key in finished[:max(0, len(self._by_key) - self.keep)]:
            del self._by_id[self._by_key.pop(key).id]

    def stop(self) -> None:
        self._todo.put(None)

    def _run(self) -> None:
        # not Linux, or not allowed: run at normal priority
        with contextlib.suppress(AttributeError, OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
        timeout = self.first_idle_s
        while True:
            try:
                job = self._todo.get(timeout=timeout)
            except queue.Empty:
                self._idle()
                timeout = self.idle_s
                continue
            if job is None:
                return
            self._do(job)
            timeout = self.idle_s

    def _idle(self) -> None:
        """Nobody asked for a while: ``on_idle`` (its failure is logged, the worker lives)."""
        try:
            self.on_idle()
        except Exception:
            log.exception("console: idle work failed")

    def _do(self, job: Job) -> None:
        job.state = "running"
        began = time.perf_counter()
        try:
            job.result = job.work()
            job.state = "done"
        except Exception as exc:  # the job failed, not the worker: say why to whoever polls
            job.error, job.state = str(exc), "failed"
            job.error_status = next((s for t, s in self.errors.items() if isinstance(exc, t)),
                                    500)
            if job.error_status == 500:
                log.exception("console: %s job failed", job.kind)
        finally:
            job.seconds = time.perf_counter() - began
            job.work = _spent  # drop what the closure holds (settings, paths)
            job.finished.set()


def _spent() -> None:
    raise RuntimeError("job already ran")
