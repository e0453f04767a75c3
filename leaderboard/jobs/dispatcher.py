"""One scheduler tick in jobs mode: expire stale leases, read the requests and this board's Jobs, decide
(`plan.plan_tick`), cancel the Jobs past their timeout, start the new ones, start an audit Job when the queue
is empty and one is due (`plan.plan_audit_job`, R13), and keep a status for the Queue.

Why the Space only dispatches in jobs mode (it does not also evaluate on its own GPU): every official number
then comes from one kind of machine, the board's Jobs flavor, and every GPU second is a billed Job second
that the weekly budget and the cost shown on the Queue account for; the Space itself can run on CPU.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from leaderboard.jobs.jobs_api import APP_LABEL, HubJobs, JobRequestSpec, label_value
from leaderboard.jobs.plan import (
    AUDIT,
    THROUGHPUT,
    AuditJobPlan,
    JobView,
    Launch,
    Plan,
    leases_expired,
    plan_audit_job,
    plan_tick,
)
from leaderboard.jobs.status import DispatchStatus, JobRow
from openasr_core.audits import new_seed
from openasr_core.compute import JobContext, job_cost_usd
from openasr_core.config import REPO_ROOT, ConfigError, LeaderboardConfig
from openasr_core.records import Request
from openasr_core.signing import PRIVATE_KEY_ENV
from openasr_core.store import Store
from openasr_core.throughput_runs import throughput_requested

logger = logging.getLogger(__name__)

#: Handed to each Job as secrets: the token (Hub store and results) and the key that signs results (R9).
SECRET_ENV = ("HF_TOKEN", PRIVATE_KEY_ENV)
#: Handed to each Job as plain environment, when set in the Space: where the store is, the public key.
PASSED_ENV = ("REQUESTS_REPO", "RESULTS_REPO", "RESULTS_PUBLIC_KEY")


class Dispatcher:
    """Starts and watches one Job per pending request, and audit Jobs when the queue is empty; `tick()` is the
    scheduler's step in jobs mode."""

    def __init__(
        self,
        config: LeaderboardConfig,
        store: Store,
        jobs: HubJobs,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        secrets: Sequence[str] = (),
    ) -> None:
        self.config, self.store, self.jobs, self.clock = config, store, jobs, clock
        self.workers = config.workers
        self._secrets = [s for s in secrets if len(s) >= 8]
        w = self.workers
        self._status = DispatchStatus(w.flavor, w.max_parallel_jobs, w.max_gpu_hours_per_week)

    @property
    def max_jobs_per_request(self) -> int:
        """Jobs that may end without finishing a request before it is held: twice the attempts a lease allows."""
        return 2 * self.config.rules.max_attempts

    def status(self) -> DispatchStatus:
        return self._status

    def _redact(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def tick(self) -> str:
        """Reconcile the Jobs with the queue once; returns the one-line outcome the scheduler shows."""
        now = self.clock()
        try:
            snapshot = self.store.snapshot()
            if leases_expired(snapshot.requests, now):  # no worker claims in jobs mode: the dispatcher expires leases
                self.store.expire_leases(self.config.rules.max_attempts)
                snapshot = self.store.snapshot()
            jobs = self.jobs.list()
        except Exception as exc:  # without the full picture, starting anything could duplicate a Job
            return self._failed(now, f"could not read the queue or the Jobs: {type(exc).__name__}: {exc}")
        requests = snapshot.requests
        plan = plan_tick(now, requests, jobs, self.workers, self.max_jobs_per_request)
        errors: list[str] = []
        for job in plan.cancel:
            try:
                self.jobs.cancel(job)
            except Exception as exc:  # the Hub's own timeoutSeconds stops it anyway; retried next tick
                errors.append(f"cancelling Job {job.job_id}: {type(exc).__name__}: {exc}")
        started = self._start(plan.start, errors)
        entries = sum(1 for r in snapshot.finished_results() if r.leaderboard_version == self.config.version)
        audit = plan_audit_job(
            now,
            requests,
            jobs,
            snapshot.log,
            entries=entries,
            plan=plan,
            workers=self.workers,
            policy=self.config.audit,
            max_jobs_per_request=self.max_jobs_per_request,
            seed=new_seed(),
            throughput_requested=throughput_requested(requests.values()),
            throughput_policy=self.config.throughput,
        )
        started += self._audit(audit, errors)
        self._status = self._build_status(now, requests, [*plan.live, *started], jobs, plan, errors, audit.reason)
        parts = [f"{len(plan.live) + len(started)} Job(s) running", f"{len(started)} started"]
        if any(job.kind == AUDIT for job in started):
            parts.append(f"an audit Job ({audit.reason})")
        if plan.cancel:
            parts.append(f"{len(plan.cancel)} cancelled past their timeout")
        if plan.budget.spent:
            parts.append("weekly GPU budget spent: dispatch held")
        if errors:
            parts.append(self._redact(errors[0])[:200])
        return ", ".join(parts)

    def _audit(self, audit: AuditJobPlan, errors: list[str]) -> list[JobView]:
        """Start the audit Job, or log the drop of an open audit that cannot be served (closing it)."""
        if audit.drop is not None:
            try:
                if audit.drop_kind == THROUGHPUT:
                    self.store.drop_throughput(audit.drop, "dispatcher", audit.reason)
                else:
                    self.store.drop_audit(audit.drop, "dispatcher", audit.reason, requested=audit.requested)
            except Exception as exc:  # dropped on a later tick
                errors.append(f"dropping the {audit.drop_kind} of {audit.drop}: {type(exc).__name__}: {exc}")
            return []
        return self._start((audit.launch,) if audit.launch else (), errors)

    def _start(self, launches: Sequence[Launch], errors: list[str]) -> list[JobView]:
        if not launches:
            return []
        try:
            price = self.jobs.price(self.workers.flavor)
            context = JobContext(self.workers.flavor, price.usd_per_minute, price.date)
        except Exception as exc:  # the Job still runs; its result records no price
            errors.append(f"reading the Jobs price list: {type(exc).__name__}: {exc}")
            context = JobContext(self.workers.flavor)
        started = []
        for launch in launches:
            try:
                started.append(self.jobs.start(launch, context.environment(launch.request_id)))
            except Exception as exc:  # the request stays PENDING (or the audit due); the next tick tries again
                what = f"{launch.kind} of {launch.request_id or 'a random entry'}"
                errors.append(f"starting a Job ({what}): {type(exc).__name__}: {exc}")
                break
        return started

    def _failed(self, now: datetime, error: str) -> str:
        error = self._redact(error)
        logger.warning("jobs dispatcher: %s", error)
        self._status = replace(self._status, checked_at=now, error=error[:300])  # keep the last known picture
        return f"error: {error[:200]}"

    def _cost_7d(self, jobs: Sequence[JobView], now: datetime) -> float | None:
        """Cost of the last 7 days at each Job's flavor price, each Job's seconds in the window billed per started
        minute (`openasr_core.compute.job_cost_usd`); None if a price is not listed or unreadable."""
        total = 0.0
        try:
            for job in jobs:
                seconds = job.running_s(now, since=now - timedelta(days=7))
                if seconds:
                    price = self.jobs.price(job.flavor or self.workers.flavor).usd_per_minute
                    if price is None:
                        return None
                    total += job_cost_usd(seconds, price)
        except Exception:
            return None
        return round(total, 2)

    def _build_status(
        self,
        now: datetime,
        requests: Mapping[str, Request],
        live: Sequence[JobView],
        jobs: Sequence[JobView],
        plan: Plan,
        errors: Sequence[str],
        audits: str,
    ) -> DispatchStatus:
        rows = tuple(
            JobRow(
                job_id=job.job_id,
                request_id=job.request_id,
                model_id=_model_of(job, requests),
                stage=job.stage,
                running_s=job.running_s(now),
                timeout_s=job.timeout_s,
                url=job.url,
                kind=job.kind,
            )
            for job in live
        )
        try:
            price = self.jobs.price(self.workers.flavor)
            price_per_minute, price_date = price.usd_per_minute, price.date
        except Exception:
            price_per_minute, price_date = None, None
        return DispatchStatus(
            flavor=self.workers.flavor,
            max_parallel_jobs=self.workers.max_parallel_jobs,
            budget_hours=self.workers.max_gpu_hours_per_week,
            running=rows,
            gpu_hours_7d=round(plan.budget.used_s / 3600.0, 3),
            cost_usd_7d=self._cost_7d(jobs, now),
            price_usd_per_minute=price_per_minute,
            price_date=price_date,
            held=dict(plan.held),
            checked_at=now,
            error=self._redact("; ".join(errors))[:300] if errors else None,
            audits=audits,
        )


def _model_of(job: JobView, requests: Mapping[str, Request]) -> str:
    if not job.request_id:  # an audit of a random entry: the Job picks it
        return ""
    return requests[job.request_id].model_id if job.request_id in requests else "(unknown request)"


def job_spec(config: LeaderboardConfig, env: Mapping[str, str]) -> tuple[JobRequestSpec, list[str]]:
    """What every Job of this board runs, from the config and the Space's environment; and the secret values
    (so the dispatcher can keep them out of anything it shows). Errors name the setting to fix."""
    workers = config.workers
    token = env.get("HF_TOKEN", "")
    if not token:
        raise ConfigError('[workers] mode = "jobs" needs the HF_TOKEN secret (a token that may start Jobs)')
    try:
        config_arg = str(config.path.relative_to(REPO_ROOT))
    except ValueError:
        raise ConfigError(
            f"{config.path} is outside the repository; in jobs mode the config must ship with the Space's image"
        ) from None
    if config.store.kind != "hub":
        raise ConfigError('[workers] mode = "jobs" needs the Hub store: set REQUESTS_REPO and RESULTS_REPO')
    if not env.get(PRIVATE_KEY_ENV):
        logger.warning("%s is not set: results from Jobs will be unsigned and not ranked", PRIVATE_KEY_ENV)
    secrets = {name: env[name] for name in SECRET_ENV if env.get(name)}
    spec = JobRequestSpec(
        image=workers.job_image,
        command=("python", "-m", "evaluator", "run-once", "--config", config_arg),
        audit_command=("python", "-m", "evaluator", "audit", "--scheduled", "--config", config_arg),
        flavor=workers.flavor,
        env={name: env[name] for name in PASSED_ENV if env.get(name)},
        secrets=secrets,
        labels={"app": APP_LABEL, "leaderboard": label_value(config.version)},
    )
    return spec, list(secrets.values())


def jobs_dispatcher(
    config: LeaderboardConfig,
    store: Store,
    env: Mapping[str, str] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Dispatcher:
    """The real dispatcher of a Space in jobs mode: `HfApi` with the Space's token, in the board's namespace
    (`[workers] namespace`, else the owner of `space_id`)."""
    from huggingface_hub import HfApi

    env = os.environ if env is None else env
    spec, secrets = job_spec(config, env)
    workers = config.workers
    namespace = workers.namespace or (workers.space_id or "").split("/")[0]
    if not namespace:
        raise ConfigError('[workers] mode = "jobs" with an image needs [workers] namespace (who runs the Jobs)')
    api = HfApi(token=env["HF_TOKEN"])
    return Dispatcher(config, store, HubJobs(api, namespace, spec, clock), clock=clock, secrets=secrets)
