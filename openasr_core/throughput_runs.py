"""Which throughput runs (R14) are still owed, from the public log alone: pure functions, no I/O, clock injected.

A FINISHED request that asked for throughput (`Request.throughput`) is owed a throughput run until a
`throughput_published` event vouches for its record or a `throughput_dropped` event gives it up. Each attempt
is logged `throughput_started` before the ladder runs, with the worker and the time its lease runs out
(`lease_expires_at`), renewed while it runs (`throughput_renewed`, every third of a lease, so a ladder longer
than one lease keeps it): no other worker takes the run up before then, so two workers never run it at once, and a
worker that dies (lease expiry of the Space, a SIGTERM, a kill) leaves a start that simply expires. An attempt
that stops on an error is logged `throughput_failed` (reason, error kind), which ends its lease at once; the
next attempt waits `retry_after_minutes`. After `max_attempts` starts the planner logs `throughput_dropped` with
the last reason. This is what `openasr_core.audits.plan_work` (the one planner of the Space and of the Jobs dispatcher)
reads, so a throughput run survives the process that finished batch one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from openasr_core.config import ThroughputConfig
from openasr_core.records import THROUGHPUT_PUBLISHED, LogEntry, Request, Status, parse_time

#: One attempt of a throughput run began: detail `attempt`, `worker`, `lease_expires_at` (logged before the run).
THROUGHPUT_STARTED = "throughput_started"
#: The running attempt renewed its lease (a ladder longer than the lease): detail `attempt`, `worker`,
#: `lease_expires_at` (the new end), logged every third of a lease while it runs.
THROUGHPUT_RENEWED = "throughput_renewed"
#: The attempt stopped on an error: detail `attempt`, `reason`, `error_kind` (`evaluator.errors.ErrorKind`).
THROUGHPUT_FAILED = "throughput_failed"
#: The run was given up after its attempts: detail `attempts`, `reason` (the last attempt's).
THROUGHPUT_DROPPED = "throughput_dropped"
#: Every event of a throughput run's life, for the Log page and the activity tracker.
THROUGHPUT_EVENTS = (
    THROUGHPUT_STARTED,
    THROUGHPUT_RENEWED,
    THROUGHPUT_FAILED,
    THROUGHPUT_DROPPED,
    THROUGHPUT_PUBLISHED,
)
#: What a crashed attempt (a start with neither a failure nor a publication after it) is reported as.
NO_OUTCOME = "the attempt ended without an outcome (the worker stopped or was killed)"


@dataclass(frozen=True)
class OwedRun:
    """A throughput run still owed to `request_id`: `attempts` logged so far, the latest start's worker and lease
    end (None before the first), and whether that attempt failed (with its reason) or left no outcome."""

    request_id: str
    attempts: int = 0
    worker: str | None = None
    lease_expires_at: datetime | None = None
    failed_at: datetime | None = None
    last_reason: str = ""

    def held(self, now: datetime) -> bool:
        """Whether an attempt still holds the run: started, not failed, its lease not yet expired."""
        return self.failed_at is None and self.lease_expires_at is not None and now < self.lease_expires_at

    def ready_at(self, policy: ThroughputConfig) -> datetime | None:
        """When the next attempt may start (None: now). After a failure, `retry_after_minutes` later; after a
        crash, when its lease ran out."""
        if self.failed_at is not None:
            return self.failed_at + timedelta(minutes=policy.retry_after_minutes)
        return self.lease_expires_at

    @property
    def reason(self) -> str:
        """The last attempt's reason, or that it left no outcome (a start not followed by a failure)."""
        return self.last_reason or (NO_OUTCOME if self.attempts else "")


def throughput_requested(requests: Iterable[Request]) -> list[str]:
    """The FINISHED requests that asked for a throughput run, oldest submission first: what the planner checks
    against the log for runs still owed (a request whose batch one failed is owed nothing)."""
    asked = [r for r in requests if r.status is Status.FINISHED and r.throughput]
    return [r.request_id for r in sorted(asked, key=lambda r: (r.submitted_at, r.request_id))]


def owed_runs(requested: Iterable[str], log: Sequence[LogEntry]) -> list[OwedRun]:
    """The throughput runs still owed among `requested` (FINISHED requests that asked for one), in that order:
    those without a `throughput_published` or `throughput_dropped` event, with their attempts from the log."""
    runs: dict[str, OwedRun] = {rid: OwedRun(rid) for rid in requested}
    closed: set[str] = set()
    for entry in log:
        run = runs.get(entry.request_id)
        if run is None:
            continue
        if entry.event in (THROUGHPUT_PUBLISHED, THROUGHPUT_DROPPED):
            closed.add(entry.request_id)
        elif entry.event == THROUGHPUT_STARTED:
            expires = _time(entry.detail.get("lease_expires_at"))
            worker = str(entry.detail.get("worker") or entry.actor)
            runs[run.request_id] = OwedRun(run.request_id, run.attempts + 1, worker, expires)
        elif entry.event == THROUGHPUT_RENEWED and _renews(run, entry):
            runs[run.request_id] = replace(run, lease_expires_at=_time(entry.detail.get("lease_expires_at")))
        elif entry.event == THROUGHPUT_FAILED:
            reason = str(entry.detail.get("reason") or "failed")
            runs[run.request_id] = replace(run, failed_at=parse_time(entry.at), last_reason=reason)
    return [run for rid, run in runs.items() if rid not in closed]


def _renews(run: OwedRun, entry: LogEntry) -> bool:
    """Whether a renewal is of the run's latest attempt, still running (a late one from a superseded or failed
    attempt extends nothing)."""
    same = entry.detail.get("attempt") == run.attempts and entry.detail.get("worker") == run.worker
    return same and run.failed_at is None


def owed_run(request_id: str, log: Sequence[LogEntry]) -> OwedRun | None:
    """The owed run of one request (None: published or dropped), whether or not it asked (the caller checks)."""
    found = owed_runs([request_id], log)
    return found[0] if found else None


def _time(value: object) -> datetime | None:
    """A logged time, or None when absent or unreadable (such a start holds nothing: it is treated as expired)."""
    try:
        return parse_time(str(value)) if value else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ThroughputChoice:
    """The planner's throughput decision: run `run` now as `attempt`, drop it (its attempts are spent), or
    nothing (`run` None; `reason` says what waits, for the Queue page)."""

    run: OwedRun | None
    drop: bool
    attempt: int
    reason: str


def choose_throughput(owed: Sequence[OwedRun], now: datetime, policy: ThroughputConfig) -> ThroughputChoice:
    """The next throughput step: drop the first run whose attempts are spent (and which no attempt holds), else
    start the first one ready (no lease held, its retry pause over), else say when the next one is due."""
    free = [run for run in owed if not run.held(now)]
    spent = next((run for run in free if run.attempts >= policy.max_attempts), None)
    if spent is not None:
        why = f"{spent.attempts} throughput attempt(s) of {spent.request_id} ended without a record; last: "
        return ThroughputChoice(spent, True, spent.attempts, (why + spent.reason)[:300])
    for run in free:
        due = run.ready_at(policy)
        if due is None or now >= due:
            attempt = run.attempts + 1
            retry = f", retried: {run.reason}" if run.attempts else ""
            reason = f"throughput run of {run.request_id} (attempt {attempt} of {policy.max_attempts}{retry})"
            return ThroughputChoice(run, False, attempt, reason[:300])
    if not owed:
        return ThroughputChoice(None, False, 0, "no throughput run owed")
    held = [run for run in owed if run.held(now)]
    if held:
        first = held[0]
        return ThroughputChoice(None, False, 0, f"throughput run of {first.request_id} held by {first.worker}")
    first = min(free, key=lambda run: run.ready_at(policy) or now)
    at = (first.ready_at(policy) or now).strftime("%Y-%m-%d %H:%M UTC")
    return ThroughputChoice(None, False, 0, f"the throughput run of {first.request_id} is retried after {at}")
