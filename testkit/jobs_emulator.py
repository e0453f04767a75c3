"""The Jobs half of the Hub emulator: the `/api/jobs/...` endpoints as `huggingface_hub` 2.x calls them, on a
simulated clock, so the REAL `HfApi` (run_job, list_jobs, inspect_job, cancel_job, fetch_job_logs,
list_jobs_hardware, update_job_labels) runs over HTTP against it.

`JobsEmulator.handle(request)` answers a Jobs route or returns None (not a Jobs route), so it can be mounted
into the repository emulator; `installed(emulator)` puts it alone behind `huggingface_hub`'s client factory
(the installed hub uses `httpx2`) and restores the previous factory afterwards.

What a Job does is scripted: when a Job leaves SCHEDULING, `script(job)` says how long it runs and how it ends
(COMPLETED, ERROR, VANISH: it disappears from the API, HANG: it runs until cancelled or timed out), and the
optional `on_end(job)` is told when it ends. Transitions happen in time order whenever the emulator is asked
anything (or `refresh()` is called) after the clock moved.

Assumed from the client source (the live API could not be tried): payloads are camelCase (`dockerImage` or
`spaceId`, `timeoutSeconds`, `labels`, `secrets`); labels are filtered with repeated `label=key=value` query
parameters and stages with `stage=`; lists page with a `Link: <...>; rel="next"` header; logs are a
server-sent-event stream of `data: {"data": ..., "timestamp": ...}` lines with a `Date` header; a Job past
its `timeoutSeconds` of running ends in ERROR; secret values are never echoed back (only their names).
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Literal
from urllib.parse import urlencode

import httpx2

Outcome = Literal["COMPLETED", "ERROR", "VANISH", "HANG"]
ACTIVE_STAGES = ("SCHEDULING", "RUNNING")
_LABEL = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
_NAME_LABEL = re.compile(r"^[A-Za-z0-9._-]{1,100}$")


def iso(moment: datetime) -> str:
    """The Hub's timestamp format, which `huggingface_hub.utils.parse_datetime` expects."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SimClock:
    """A clock that moves only when told to; every part of a simulation reads the same one."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 11, 2, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@dataclass(frozen=True)
class JobScript:
    """How a Job behaves once it runs: `run_s` seconds, then `outcome` (with `message` for an ERROR)."""

    run_s: float = 0.0
    outcome: Outcome = "COMPLETED"
    message: str | None = None
    log_lines: tuple[str, ...] = ()


HARDWARE: tuple[dict[str, Any], ...] = (
    {"name": "cpu-basic", "prettyName": "CPU Basic", "cpu": "2 vCPU", "ram": "16 GB", "unitCostMicroUSD": 167},
    {
        "name": "t4-small",
        "prettyName": "Nvidia T4 - small",
        "cpu": "4 vCPU",
        "ram": "15 GB",
        "accelerator": {"type": "gpu", "model": "T4", "quantity": "1", "vram": "16 GB", "manufacturer": "Nvidia"},
        "unitCostMicroUSD": 6667,
    },
    {
        "name": "a10g-small",
        "prettyName": "Nvidia A10G - small",
        "cpu": "4 vCPU",
        "ram": "15 GB",
        "accelerator": {"type": "gpu", "model": "A10G", "quantity": "1", "vram": "24 GB", "manufacturer": "Nvidia"},
        "unitCostMicroUSD": 16667,
    },
    {
        "name": "a10g-large",
        "prettyName": "Nvidia A10G - large",
        "cpu": "12 vCPU",
        "ram": "46 GB",
        "accelerator": {"type": "gpu", "model": "A10G", "quantity": "1", "vram": "24 GB", "manufacturer": "Nvidia"},
        "unitCostMicroUSD": 25000,
    },
)


def hardware_payload(hardware: tuple[dict[str, Any], ...] = HARDWARE) -> list[dict[str, Any]]:
    """The `/api/jobs/hardware` list: per-minute prices in micro-USD and USD, as `JobHardwareInfo` reads them."""
    return [
        {"ephemeralStorage": "50 GB", **h, "unitCostUSD": h["unitCostMicroUSD"] / 1e6, "unitLabel": "minute"}
        for h in hardware
    ]


@dataclass
class EmulatedJob:
    """One Job as the Hub keeps it."""

    id: str
    namespace: str
    spec: dict[str, Any]
    created_at: datetime
    stage: str = "SCHEDULING"
    message: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    script: JobScript | None = None
    logs: list[tuple[datetime, str]] = field(default_factory=list)

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.spec.get("labels") or {})

    @property
    def timeout_s(self) -> float | None:
        return self.spec.get("timeoutSeconds")

    def end(self, at: datetime, stage: str, message: str | None = None) -> None:
        self.stage, self.message, self.finished_at = stage, message, at
        self.logs.append((at, f"===== Job {stage.lower()}{': ' + message if message else ''} ====="))

    def info(self, now: datetime, owner: dict[str, str]) -> dict[str, Any]:
        """The JSON the Hub returns for this Job (secret values masked)."""
        image_key = "spaceId" if "spaceId" in self.spec else "dockerImage"
        end = self.finished_at or now
        data: dict[str, Any] = {
            "id": self.id,
            "createdAt": iso(self.created_at),
            image_key: self.spec[image_key],
            "command": self.spec.get("command"),
            "arguments": self.spec.get("arguments", []),
            "environment": self.spec.get("environment", {}),
            "secrets": {name: None for name in self.spec.get("secrets") or {}},
            "flavor": self.spec.get("flavor"),
            "labels": self.spec.get("labels"),
            "status": {"stage": self.stage, "message": self.message},
            "owner": owner,
            "durations": {
                "schedulingSecs": int(((self.started_at or end) - self.created_at).total_seconds()),
                "runningSecs": int((end - self.started_at).total_seconds()) if self.started_at else None,
                "totalSecs": int((end - self.created_at).total_seconds()),
            },
        }
        if self.started_at:
            data["startedAt"] = iso(self.started_at)
        if self.finished_at:
            data["finishedAt"] = iso(self.finished_at)
        return data


def _error(status: int, message: str) -> httpx2.Response:
    return httpx2.Response(status, json={"error": message})


def _never_ends(_job: EmulatedJob) -> JobScript:
    return JobScript(outcome="HANG")


class JobsEmulator:
    """The Hub's Jobs API for one set of tokens, on `clock`; see the module doc."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        *,
        tokens: dict[str, str] | None = None,
        script: Callable[[EmulatedJob], JobScript] = _never_ends,
        on_end: Callable[[EmulatedJob], None] | None = None,
        scheduling_s: float = 30.0,
        page_size: int = 50,
        hardware: tuple[dict[str, Any], ...] = HARDWARE,
    ) -> None:
        self.clock = clock
        self.tokens = dict(tokens or {"hf_jobs_test_token": "leaderboard-org"})
        self.script = script
        self.on_end = on_end
        self.scheduling_s = scheduling_s
        self.page_size = page_size
        self.hardware = hardware
        self.jobs: dict[str, EmulatedJob] = {}
        self.vanished: dict[str, EmulatedJob] = {}
        self.calls: list[tuple[str, str]] = []  # (method, path?query) of every Jobs call, in order
        self._ids = itertools.count(1)

    # --- test controls -------------------------------------------------------------------------------

    def vanish(self, job_id: str) -> None:
        """The Job disappears: no longer listed, 404 on inspect (as after a deletion on the Hub)."""
        self.vanished[job_id] = self.jobs.pop(job_id)

    def active(self) -> list[EmulatedJob]:
        self.refresh()
        return [job for job in self.jobs.values() if job.stage in ACTIVE_STAGES]

    def refresh(self) -> None:
        """Apply every transition due by now, in time order (starts, ends, timeouts)."""
        now = self.clock()
        while True:
            due = [(at, job) for job in self.jobs.values() if (at := self._next_transition(job)) and at <= now]
            if not due:
                return
            at, job = min(due, key=lambda item: (item[0], item[1].id))
            self._transition(job, at)

    def next_transition(self) -> datetime | None:
        """When the next Job starts or ends by itself (None: nothing will happen without a call)."""
        times = [at for job in self.jobs.values() if (at := self._next_transition(job)) is not None]
        return min(times, default=None)

    def _next_transition(self, job: EmulatedJob) -> datetime | None:
        if job.stage == "SCHEDULING":
            return job.created_at + timedelta(seconds=self.scheduling_s)
        if job.stage != "RUNNING" or job.started_at is None or job.script is None:
            return None
        ends = [] if job.script.outcome == "HANG" else [job.script.run_s]
        if job.timeout_s:
            ends.append(float(job.timeout_s))
        return job.started_at + timedelta(seconds=min(ends)) if ends else None

    def _transition(self, job: EmulatedJob, at: datetime) -> None:
        if job.stage == "SCHEDULING":
            job.stage, job.started_at = "RUNNING", at
            job.logs.append((at, f"===== Job started at {iso(at)} ====="))
            job.script = self.script(job)
            job.logs.extend((at, line) for line in job.script.log_lines)
            return
        assert job.script is not None and job.started_at is not None
        ran = (at - job.started_at).total_seconds()
        if job.timeout_s and ran >= job.timeout_s and (job.script.outcome == "HANG" or job.script.run_s > ran):
            job.end(at, "ERROR", f"Job timeout: ran longer than {job.timeout_s} s")
        elif job.script.outcome == "VANISH":
            job.finished_at = at
            self.vanish(job.id)
        else:
            job.end(at, job.script.outcome, job.script.message)
        if self.on_end is not None:
            self.on_end(job)

    # --- HTTP ----------------------------------------------------------------------------------------

    def handle(self, request: httpx2.Request) -> httpx2.Response | None:
        """Answer a Jobs route of the Hub API, or return None when `request` is not one."""
        parts = request.url.path.strip("/").split("/")
        if parts[:2] != ["api", "jobs"] or len(parts) < 3:
            return None
        self.calls.append((request.method, f"{request.url.path}?{request.url.query.decode()}"))
        namespace = self._authorize(request, None if parts[2] == "hardware" else parts[2])
        if isinstance(namespace, httpx2.Response):
            return namespace
        self.refresh()
        route = (request.method, len(parts), parts[-1] if len(parts) == 5 else None)
        if parts[2] == "hardware" and request.method == "GET" and len(parts) == 3:
            return httpx2.Response(200, json=hardware_payload(self.hardware))
        if route == ("POST", 3, None):
            return self._create(namespace, request)
        if route == ("GET", 3, None):
            return self._list(namespace, request)
        job = self.jobs.get(parts[3])
        if job is None or job.namespace != namespace:
            return _error(404, f"Job {parts[3]} not found in {namespace}")
        if route == ("GET", 4, None):
            return httpx2.Response(200, json=job.info(self.clock(), self._owner(namespace)))
        if route == ("POST", 5, "cancel"):
            if job.stage in ACTIVE_STAGES:
                job.end(self.clock(), "CANCELED")
                if self.on_end is not None:
                    self.on_end(job)
            return httpx2.Response(200, json=job.info(self.clock(), self._owner(namespace)))
        if route == ("GET", 5, "logs"):
            return self._logs(job, request)
        if route == ("PUT", 5, "labels"):
            return self._relabel(job, request)
        return _error(405, f"{request.method} {request.url.path} is not a Jobs route")

    def _authorize(self, request: httpx2.Request, namespace: str | None) -> str | httpx2.Response:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ").strip()
        owner = self.tokens.get(token)
        if owner is None:
            return _error(401, "Invalid credentials in Authorization header")
        if namespace is not None and namespace != owner:
            return _error(403, f"this token cannot run or read Jobs in {namespace}")
        return namespace or owner

    @staticmethod
    def _owner(namespace: str) -> dict[str, str]:
        return {"id": f"id-{namespace}", "name": namespace, "type": "org"}

    def _check_spec(self, spec: Any) -> str | None:
        """Why the Hub would refuse this Job spec (400), or None."""
        if not isinstance(spec, dict):
            return "the body must be a JSON object"
        command = spec.get("command")
        if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
            return "command must be a non-empty list of strings"
        if ("dockerImage" in spec) == ("spaceId" in spec):
            return "give exactly one of dockerImage or spaceId"
        if spec.get("flavor") not in {h["name"] for h in self.hardware}:
            return f"unknown flavor {spec.get('flavor')!r}"
        for key, value in (spec.get("labels") or {}).items():
            pattern = _NAME_LABEL if key == "name" else _LABEL
            if not (_LABEL.match(key) and isinstance(value, str) and pattern.match(value)):
                return f"label {key}={value!r}: keys and values are 1-100 letters, digits, dashes, underscores"
        for group in ("environment", "secrets"):
            if not all(isinstance(v, str) for v in (spec.get(group) or {}).values()):
                return f"{group} values must be strings"
        timeout = spec.get("timeoutSeconds")
        if timeout is not None and (not isinstance(timeout, int) or timeout <= 0):
            return "timeoutSeconds must be a positive integer"
        return None

    def _create(self, namespace: str, request: httpx2.Request) -> httpx2.Response:
        try:
            spec = json.loads(request.content or b"null")
        except json.JSONDecodeError:
            return _error(400, "the body is not JSON")
        problem = self._check_spec(spec)
        if problem:
            return _error(400, problem)
        job = EmulatedJob(id=f"{next(self._ids):024x}", namespace=namespace, spec=spec, created_at=self.clock())
        self.jobs[job.id] = job
        self.refresh()
        return httpx2.Response(200, json=job.info(self.clock(), self._owner(namespace)))

    def _list(self, namespace: str, request: httpx2.Request) -> httpx2.Response:
        params = request.url.params
        stages = {s.upper() for s in params.get_list("stage")}
        wanted = [tuple(label.split("=", 1)) for label in params.get_list("label") if "=" in label]
        jobs = [
            job
            for job in self.jobs.values()
            if job.namespace == namespace
            and (not stages or job.stage in stages)
            and all(job.labels.get(key) == value for key, value in wanted)
        ]
        jobs.sort(key=lambda job: (job.created_at, job.id), reverse=True)
        start = int(params.get("cursor", "0"))
        page = jobs[start : start + self.page_size]
        headers = {}
        if start + self.page_size < len(jobs):
            query = [(k, v) for k, v in params.multi_items() if k != "cursor"] + [
                ("cursor", str(start + self.page_size))
            ]
            headers["Link"] = f'<{request.url.copy_with(query=urlencode(query).encode())}>; rel="next"'
        body = [job.info(self.clock(), self._owner(namespace)) for job in page]
        return httpx2.Response(200, json=body, headers=headers)

    def _logs(self, job: EmulatedJob, request: httpx2.Request) -> httpx2.Response:
        lines = list(job.logs)
        tail = request.url.params.get("tail")
        if tail is not None and tail.isdigit():
            lines = lines[-int(tail) :] if int(tail) else []
        body = "".join(f"data: {json.dumps({'data': text, 'timestamp': iso(at)})}\n\n" for at, text in lines)
        headers = {"content-type": "text/event-stream", "date": format_datetime(self.clock(), usegmt=True)}
        return httpx2.Response(200, content=body.encode(), headers=headers)

    def _relabel(self, job: EmulatedJob, request: httpx2.Request) -> httpx2.Response:
        labels = json.loads(request.content or b"{}").get("labels") or {}
        problem = self._check_spec({**job.spec, "labels": labels})
        if problem:
            return _error(400, problem)
        job.spec["labels"] = labels
        return httpx2.Response(200, json=job.info(self.clock(), self._owner(job.namespace)))


def _not_found(request: httpx2.Request) -> httpx2.Response:
    return _error(404, f"the Jobs emulator does not serve {request.method} {request.url.path}")


@contextmanager
def installed(emulator: JobsEmulator) -> Iterator[JobsEmulator]:
    """Route every `huggingface_hub` HTTP call to `emulator` (404 for non-Jobs routes); restore afterwards."""
    from huggingface_hub.utils import _http, set_client_factory

    previous = _http._GLOBAL_CLIENT_FACTORY

    def route(request: httpx2.Request) -> httpx2.Response:
        return emulator.handle(request) or _not_found(request)

    set_client_factory(lambda: httpx2.Client(transport=httpx2.MockTransport(route), follow_redirects=True))
    try:
        yield emulator
    finally:
        set_client_factory(previous)
