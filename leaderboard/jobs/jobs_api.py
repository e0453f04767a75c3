"""The Jobs API as the dispatcher uses it, through `huggingface_hub.HfApi` (the only I/O of the dispatcher
besides the store): list this board's Jobs by label, start one (a request's evaluation, or an audit), cancel
one, and read the per-minute price of a flavor from `list_jobs_hardware` (cached for a day, with the date it
was read).

Secrets (the token, the signing key) go to the Hub as Job *secrets* and never into a label, the environment,
a log line or an error message.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from huggingface_hub import HfApi

from leaderboard.jobs.plan import ACTIVE_STAGES, AUDIT, EVALUATION, THROUGHPUT, JobView, Launch

logger = logging.getLogger(__name__)

APP_LABEL = "asr-leaderboard"
PRICE_TTL = timedelta(hours=24)
#: How often the full Job history is listed when nothing ended (the live Jobs are listed every tick).
HISTORY_TTL = timedelta(minutes=10)
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


#: How a Job's name starts, by its kind.
JOB_NAME_PREFIX = {EVALUATION: "eval", AUDIT: "audit", THROUGHPUT: "throughput"}


def label_value(text: str) -> str:
    """A Job label value: 1-100 letters, digits, dashes or underscores (anything else becomes a dash)."""
    return _UNSAFE.sub("-", text)[:100] or "-"


@dataclass(frozen=True)
class Price:
    """A flavor's listed price, and the day it was read (recorded with every cost computed from it)."""

    flavor: str
    usd_per_minute: float | None
    read_at: datetime

    @property
    def date(self) -> str:
        return self.read_at.date().isoformat()


@dataclass(frozen=True)
class JobRequestSpec:
    """Everything but the request: image, command prefixes (evaluation, audit), flavor, environment, secrets,
    board labels."""

    image: str
    command: tuple[str, ...]
    audit_command: tuple[str, ...]
    flavor: str
    env: Mapping[str, str]
    secrets: Mapping[str, str]
    labels: Mapping[str, str]

    def command_for(self, launch: Launch) -> list[str]:
        """The full command of a Job: the request it evaluates or audits, or the seed of a random audit's pick."""
        if launch.kind == EVALUATION:
            return [*self.command, "--request-id", launch.request_id]
        if launch.kind == THROUGHPUT:  # one attempt of the request's owed throughput run (R14)
            return [*self.command, "--request-id", launch.request_id, "--throughput-only"]
        target = ["--request-id", launch.request_id] if launch.request_id else ["--seed", str(launch.seed)]
        return [*self.audit_command, *target]


def request_id_of(command: list[str] | None) -> str | None:
    """The request a Job evaluates, from its `--request-id` argument (exact, unlike the sanitized label)."""
    if not command or "--request-id" not in command:
        return None
    index = command.index("--request-id") + 1
    return command[index] if index < len(command) else None


def view_of(info: Any) -> JobView | None:
    """A `JobInfo` as the dispatcher sees it; None for an evaluation Job of ours that names no request. A Job
    started before audits ran on Jobs has no `kind` label: it is an evaluation."""
    labels = info.labels or {}
    kind = labels.get("kind") if labels.get("kind") in (AUDIT, THROUGHPUT) else EVALUATION
    request_id = request_id_of(info.command)
    if (request_id is None and kind != AUDIT) or info.created_at is None:
        return None
    timeout = labels.get("timeout_s", "")
    return JobView(
        job_id=info.id,
        request_id=request_id or "",
        stage=str(getattr(info.status.stage, "value", info.status.stage)),
        created_at=info.created_at,
        started_at=info.started_at,
        finished_at=info.finished_at,
        flavor=str(getattr(info.flavor, "value", info.flavor)) if info.flavor else None,
        timeout_s=float(timeout) if timeout.isdigit() else None,
        url=info.url,
        message=info.status.message,
        kind=kind,
    )


class HubJobs:
    """This board's Jobs in `namespace`, seen and driven through `api`."""

    def __init__(self, api: HfApi, namespace: str, spec: JobRequestSpec, clock: Callable[[], datetime]) -> None:
        self.api, self.namespace, self.spec, self.clock = api, namespace, spec, clock
        self._history: list[JobView] = []
        self._history_at: datetime | None = None
        self._live_ids: set[str] = set()
        self._prices: dict[str, float | None] = {}
        self._prices_read_at: datetime | None = None

    def _list(self, stages: list[str] | None = None) -> list[JobView]:
        infos = self.api.list_jobs(status=stages, labels=dict(self.spec.labels), namespace=self.namespace)
        return [view for info in infos if (view := view_of(info)) is not None]

    def list(self) -> list[JobView]:
        """Every Job with this board's labels: finished ones count toward the budget and a request's tries.

        The live Jobs are listed each call; the whole history (which only grows) at most every
        `HISTORY_TTL`, and at once whenever a Job left the live set since the last call, so an ended Job is
        never missing from what the plan sees."""
        now = self.clock()
        live = self._list(list(ACTIVE_STAGES))
        live_ids = {job.job_id for job in live}
        stale = self._history_at is None or now - self._history_at >= HISTORY_TTL
        if stale or self._live_ids - live_ids:
            self._history, self._history_at = self._list(), now
            self._live_ids = {job.job_id for job in self._history if job.active}
            return list(self._history)
        self._live_ids = live_ids
        return [*(job for job in self._history if not job.active and job.job_id not in live_ids), *live]

    def start(self, launch: Launch, env: Mapping[str, str]) -> JobView:
        """Start one Job; its labels name its kind, its request (if any) and its timeout, its secrets stay secret."""
        labels = {**self.spec.labels, "kind": launch.kind, "timeout_s": str(launch.timeout_s)}
        if launch.request_id:
            labels["request"] = label_value(launch.request_id)
        name = label_value(launch.request_id) if launch.request_id else f"random-{launch.seed}"
        info = self.api.run_job(
            image=self.spec.image,
            command=self.spec.command_for(launch),
            env={**self.spec.env, **env},
            secrets=dict(self.spec.secrets) or None,
            flavor=self.spec.flavor,
            timeout=launch.timeout_s,
            name=f"{JOB_NAME_PREFIX.get(launch.kind, launch.kind)}-{name}",
            labels=labels,
            namespace=self.namespace,
        )
        view = view_of(info)
        if view is None:
            raise RuntimeError(f"the Hub returned Job {info.id} without the command it was given")
        self._live_ids.add(view.job_id)  # if it ends before the next list, the whole history is read again
        what = f"{launch.kind} of {launch.request_id or 'a random entry'}"
        logger.info("started Job %s: %s on %s (timeout %s s)", info.id, what, self.spec.flavor, launch.timeout_s)
        return view

    def cancel(self, job: JobView) -> None:
        self.api.cancel_job(job_id=job.job_id, namespace=self.namespace)
        logger.info("cancelled Job %s of %s: past its %s s timeout", job.job_id, job.request_id, job.timeout_s)

    def price(self, flavor: str) -> Price:
        """The listed per-minute price of `flavor`, read at most once a day (None if the Hub does not list it)."""
        now = self.clock()
        if self._prices_read_at is None or now - self._prices_read_at >= PRICE_TTL:
            hardware = self.api.list_jobs_hardware()
            self._prices = {h.name: float(h.unit_cost_usd) for h in hardware if h.unit_label == "minute"}
            self._prices_read_at = now
        return Price(flavor=flavor, usd_per_minute=self._prices.get(flavor), read_at=self._prices_read_at)
