"""The dispatcher's decisions, with no I/O: given the requests, the Jobs the Hub lists and the time, which Jobs
to start and which to cancel, and whether the weekly GPU budget holds dispatch back; and, once no evaluation
waits or runs, whether to start an audit Job (R13), under the same rules as the Space's own scheduler.

The decision is stateless on purpose: everything it needs is read again each tick (the store's requests and
the Hub's Jobs with this board's labels), so a Space that restarts adopts the Jobs still running instead of
starting duplicates, and a Job that failed or vanished simply stops covering its request, which the store's
lease expiry returns to PENDING (or FAILED after `max_attempts`) for a later tick to dispatch again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from openasr_core import audits as rules
from openasr_core.audits import WorkPlan, open_audits, plan_work
from openasr_core.config import AuditConfig, ThroughputConfig, WorkersConfig
from openasr_core.records import LogEntry, Request, Status, parse_time

ACTIVE_STAGES = frozenset({"SCHEDULING", "RUNNING"})
#: What a Job of this board runs: a request's evaluation (`run-once`) or an audit (`audit --scheduled`).
EVALUATION, AUDIT = "evaluation", "audit"
#: A Job that runs one attempt of a finished request's owed throughput run (`run-once --throughput-only`, R14).
THROUGHPUT = "throughput"
#: A throughput Job's timeout is this many times its request's evaluation timeout: the ladder decodes every eval
#: set once per batch size (1, 4, 16, ...), the larger sizes faster than batch one.
THROUGHPUT_TIMEOUT_FACTOR = 3
#: The Jobs that run while the queue is empty (one at a time), never an evaluation.
BACKGROUND_KINDS = (AUDIT, THROUGHPUT)
WEEK = timedelta(days=7)
#: A model whose parameter count was not recorded is timed as a large one (1.5 billion parameters).
UNKNOWN_PARAMETERS = 1_500_000_000


@dataclass(frozen=True)
class JobView:
    """What the dispatcher needs to know about one Job of this board, as the Hub reports it. An audit Job of a
    random entry names no request (`request_id` is empty): the Job picks the entry itself, with its seed."""

    job_id: str
    request_id: str
    stage: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    flavor: str | None = None
    timeout_s: float | None = None
    url: str = ""
    message: str | None = None
    kind: str = EVALUATION

    @property
    def active(self) -> bool:
        return self.stage in ACTIVE_STAGES

    def running_s(self, now: datetime, since: datetime | None = None) -> float:
        """Seconds this Job held its hardware (billed time), within [since, now]."""
        if self.started_at is None:
            return 0.0
        start = max(self.started_at, since) if since else self.started_at
        end = min(self.finished_at or now, now)
        return max(0.0, (end - start).total_seconds())

    def overdue(self, now: datetime) -> bool:
        """Active past its timeout, counted from its start (or its creation while it still waits for hardware)."""
        if not self.active or not self.timeout_s:
            return False
        return (now - (self.started_at or self.created_at)).total_seconds() > self.timeout_s


@dataclass(frozen=True)
class Launch:
    """A Job to start: which request, its timeout in whole seconds, and what it runs. An audit of a random
    entry has no request and carries the `seed` of its pick instead."""

    request_id: str
    timeout_s: int
    kind: str = EVALUATION
    seed: int | None = None


@dataclass(frozen=True)
class Budget:
    """GPU time used by this board's Jobs in the last 7 days against the weekly limit."""

    used_s: float
    limit_s: float

    @property
    def spent(self) -> bool:
        return self.used_s >= self.limit_s


@dataclass(frozen=True)
class Plan:
    """One tick's decisions; `held` are pending requests not started (budget, or too many Jobs already)."""

    start: tuple[Launch, ...]
    cancel: tuple[JobView, ...]
    budget: Budget
    live: tuple[JobView, ...]
    held: Mapping[str, str] = field(default_factory=dict)


def expected_duration_s(request: Request, workers: WorkersConfig) -> float:
    """The stated model of an evaluation's length: load time plus the board's audio at an RTF that grows
    with the model's size (`[workers]` audio_hours, rtf_floor, rtf_per_billion_params, startup_s)."""
    parameters = request.model.parameters if request.model and request.model.parameters > 0 else UNKNOWN_PARAMETERS
    rtf = workers.rtf_floor + workers.rtf_per_billion_params * parameters / 1e9
    return workers.startup_s + workers.audio_hours * 3600.0 * rtf


def job_timeout_s(request: Request, workers: WorkersConfig) -> int:
    """`timeout_factor` times the expected duration, never below `min_timeout_s`."""
    return int(max(workers.min_timeout_s, workers.timeout_factor * expected_duration_s(request, workers)))


def gpu_seconds(jobs: Iterable[JobView], now: datetime, window: timedelta = WEEK) -> float:
    """Billed seconds of `jobs` that fall in the last `window` (a Job running across the edge counts in part)."""
    return sum(job.running_s(now, since=now - window) for job in jobs)


def leases_expired(requests: Mapping[str, Request], now: datetime) -> bool:
    """Whether some RUNNING request's lease ran out (its Job died): only then is the store's expiry run."""
    return any(
        r.status is Status.RUNNING and r.lease is not None and parse_time(r.lease.expires_at) <= now
        for r in requests.values()
    )


def plan_tick(
    now: datetime,
    requests: Mapping[str, Request],
    jobs: Sequence[JobView],
    workers: WorkersConfig,
    max_jobs_per_request: int,
) -> Plan:
    """Decide one tick. Oldest pending first; one live Job per request; at most `max_parallel_jobs` live;
    nothing new once the last 7 days used the weekly budget; a request that already had
    `max_jobs_per_request` Jobs (they ended without it finishing) is held for a maintainer to look at."""
    cancel = tuple(job for job in jobs if job.overdue(now))
    live = tuple(job for job in jobs if job.active and job not in cancel)
    covered = {job.request_id for job in live if job.kind == EVALUATION}
    tries = Counter(job.request_id for job in jobs if job.kind == EVALUATION)
    budget = Budget(used_s=gpu_seconds(jobs, now), limit_s=workers.max_gpu_hours_per_week * 3600.0)
    pending = sorted(
        (r for r in requests.values() if r.status is Status.PENDING and r.request_id not in covered),
        key=lambda r: (r.submitted_at, r.request_id),
    )
    slots = workers.max_parallel_jobs - len(live)
    start: list[Launch] = []
    held: dict[str, str] = {}
    for request in pending:
        if tries[request.request_id] >= max_jobs_per_request:
            held[request.request_id] = f"{tries[request.request_id]} Jobs ended without finishing it; see their logs"
        elif budget.spent:
            held[request.request_id] = "the weekly GPU budget is spent"
        elif slots > 0:
            start.append(Launch(request.request_id, job_timeout_s(request, workers)))
            slots -= 1
    return Plan(start=tuple(start), cancel=cancel, budget=budget, live=live, held=held)


@dataclass(frozen=True)
class AuditJobPlan:
    """This tick's audit decision: a Job to start, or an audit to drop (its attempts are spent, or its Jobs kept
    ending without recording it; `requested` says whether someone asked for it), or neither; `reason` is the
    line the Queue page shows."""

    launch: Launch | None
    drop: str | None
    reason: str
    requested: bool = True
    #: What `drop` drops: the open audit (`AUDIT`) or the owed throughput run (`THROUGHPUT`) of that request.
    drop_kind: str = AUDIT


def plan_audit_job(
    now: datetime,
    requests: Mapping[str, Request],
    jobs: Sequence[JobView],
    log: Sequence[LogEntry],
    *,
    entries: int,
    plan: Plan,
    workers: WorkersConfig,
    policy: AuditConfig,
    max_jobs_per_request: int,
    seed: int,
    throughput_requested: Sequence[str] = (),
    throughput_policy: ThroughputConfig | None = None,
) -> AuditJobPlan:
    """R13 in jobs mode, after `plan_tick`: the decision is `openasr_core.audits.plan_work`'s, the planner the Space's
    scheduler uses too (evaluate, else audit: open audits first with their attempts counted in the log, drop
    once spent, else a random one when due, within the daily audit minutes); the dispatcher adds one audit Job
    at a time, the weekly budget and a free slot. An open audit that had `max_jobs_per_request` Jobs since it was
    opened is dropped too (a Job can die before it logs its attempt); random audits pause after as many failed
    audit Jobs in 24 hours."""
    audit_jobs = [job for job in jobs if job.kind == AUDIT]
    busy = next((job for job in jobs if job.kind in BACKGROUND_KINDS and job.active and job not in plan.cancel), None)
    if busy is not None:
        return AuditJobPlan(None, None, f"{'an audit' if busy.kind == AUDIT else 'a throughput'} Job is running")
    if plan.budget.spent:
        return AuditJobPlan(None, None, "the weekly GPU budget is spent")
    waiting = [r for r in requests.values() if r.status is Status.PENDING and r.request_id not in plan.held]
    running = sum(1 for job in plan.live if job.kind == EVALUATION) + len(plan.start)
    decision = plan_work(
        pending=len(waiting),
        running=running,
        entries=entries,
        log=log,
        now=now,
        policy=policy,
        throughput_requested=throughput_requested,
        throughput_policy=throughput_policy,
    )
    if decision.action in (rules.THROUGHPUT, rules.DROP_THROUGHPUT):
        return _throughput_job(decision, requests, jobs, plan, workers, max_jobs_per_request)
    if decision.action == rules.DROP:
        return AuditJobPlan(None, decision.request_id, decision.reason, decision.requested)
    if decision.action != rules.AUDIT:
        return AuditJobPlan(None, None, decision.reason)
    if workers.max_parallel_jobs <= len(plan.live) + len(plan.start):
        return AuditJobPlan(None, None, f"all {workers.max_parallel_jobs} Job slots are taken")
    if decision.request_id is not None:
        return _open_audit_job(decision, requests, audit_jobs, log, workers, max_jobs_per_request)
    failed = [job for job in audit_jobs if job.stage not in ("COMPLETED", *ACTIVE_STAGES) and _within_day(job, now)]
    if len(failed) >= max_jobs_per_request:
        return AuditJobPlan(None, None, f"{len(failed)} audit Jobs failed in the last 24 hours; see their logs")
    finished = [r for r in requests.values() if r.status is Status.FINISHED]
    timeout = max((job_timeout_s(r, workers) for r in finished), default=int(workers.min_timeout_s))
    return AuditJobPlan(Launch("", timeout, kind=AUDIT, seed=seed), None, decision.reason)


def _open_audit_job(
    decision: WorkPlan,
    requests: Mapping[str, Request],
    audit_jobs: Sequence[JobView],
    log: Sequence[LogEntry],
    workers: WorkersConfig,
    max_jobs_per_request: int,
) -> AuditJobPlan:
    """A Job for the open audit the planner chose, or its drop once that many Jobs since it was opened ended
    without it (Jobs that died before logging their attempt)."""
    request_id = decision.request_id or ""
    opened = next(a for a in open_audits(log) if a.request_id == request_id)
    since = parse_time(opened.opened.at)
    tries = sum(1 for job in audit_jobs if job.request_id == request_id and job.created_at >= since)
    if tries >= max_jobs_per_request:
        why = f"{tries} audit Jobs ended without recording the audit; see their logs"
        return AuditJobPlan(None, request_id, why, decision.requested)
    request = requests.get(request_id)
    timeout = job_timeout_s(request, workers) if request else int(workers.min_timeout_s)
    return AuditJobPlan(Launch(request_id, timeout, kind=AUDIT), None, decision.reason)


def _throughput_job(
    decision: WorkPlan,
    requests: Mapping[str, Request],
    jobs: Sequence[JobView],
    plan: Plan,
    workers: WorkersConfig,
    max_jobs_per_request: int,
) -> AuditJobPlan:
    """A throughput Job for the owed run the planner chose (one attempt: it takes the run's lease in the log), or
    its drop: the planner's (attempts spent), or once that many throughput Jobs of the request ended without
    publishing (Jobs that died before logging their attempt)."""
    request_id = decision.request_id or ""
    if decision.action == rules.DROP_THROUGHPUT:
        return AuditJobPlan(None, request_id, decision.reason, False, drop_kind=THROUGHPUT)
    tries = sum(1 for job in jobs if job.kind == THROUGHPUT and job.request_id == request_id)
    if tries >= max_jobs_per_request:
        why = f"{tries} throughput Jobs ended without publishing the record; see their logs"
        return AuditJobPlan(None, request_id, why, False, drop_kind=THROUGHPUT)
    if workers.max_parallel_jobs <= len(plan.live) + len(plan.start):
        return AuditJobPlan(None, None, f"all {workers.max_parallel_jobs} Job slots are taken")
    request = requests.get(request_id)
    timeout = THROUGHPUT_TIMEOUT_FACTOR * (job_timeout_s(request, workers) if request else int(workers.min_timeout_s))
    return AuditJobPlan(Launch(request_id, timeout, kind=THROUGHPUT), None, decision.reason)


def _within_day(job: JobView, now: datetime) -> bool:
    return now - (job.finished_at or job.created_at) < timedelta(days=1)
