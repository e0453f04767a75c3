"""When to audit and which entry (R13): pure functions of the board, the log and a clock, no I/O.

Choosing an entry: every finished entry may be picked, with a weight that favours the top of the board
(`1 / sqrt(rank)`, unofficial entries ranked after every official one) and recent entries (halved every
`recent_half_life_days`, age counted from the newest entry so the choice depends only on the entries and the
seed, not on when it is made). `pick_entry(candidates, seed, ...)` is reproducible: the same entries and seed
give the same choice, and the seed is printed and recorded with the audit.

Deciding to audit (`plan_work`, the one planner of the Space's scheduler and of the Jobs dispatcher): evaluate
when a request is pending; audit only when no request is pending or running, so a submission that arrives
during an audit waits for that one audit at most, never for a second one. Open audits (requested ones, and
those whose last attempt was inconclusive or could not finish) go first, each attempt logged `audit_started`,
at most `max_attempts` of them `retry_after_minutes` apart, then `audit_dropped` with the last reason; random
audits are due every `every_n_evaluations` finished evaluations; all attempts share a budget of
`max_minutes_per_day` in any 24 hours.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from openasr_core.audit_events import (
    AUDIT_ATTEMPT_FAILED,
    AUDIT_DROPPED,
    AUDIT_EVENTS,
    AUDIT_INCONCLUSIVE,
    AUDIT_PROGRESS_EVENTS,
    AUDIT_REQUESTED,
    AUDIT_STARTED,
    UNAVAILABLE,
    open_audit_requests,
)
from openasr_core.config import AuditConfig, ThroughputConfig
from openasr_core.records import AuditRecord, LogEntry, Result, parse_time
from openasr_core.signing import audit_hash
from openasr_core.throughput_runs import choose_throughput, owed_runs

#: What an audit's attempts spend, counted in the daily budget (`duration_s` of each).
__all__ = [
    "AUDIT_ATTEMPT_FAILED",
    "AUDIT_DROPPED",
    "AUDIT_EVENTS",
    "AUDIT_INCONCLUSIVE",
    "AUDIT_PROGRESS_EVENTS",
    "AUDIT_REQUESTED",
    "AUDIT_STARTED",
    "UNAVAILABLE",
    "open_audit_requests",
]
_SPENDING_EVENTS = (*AUDIT_EVENTS, AUDIT_INCONCLUSIVE, AUDIT_ATTEMPT_FAILED)
DAY = timedelta(days=1)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Candidate:
    """A finished entry as the selection sees it: its place on the board (None: not ranked) and its age."""

    request_id: str
    rank: int | None
    finished_at: datetime


def candidates(results: Iterable[Result]) -> list[Candidate]:
    """Finished entries in a fixed order, ranked by average WER among the official ones (1 is the top)."""
    ordered = sorted(results, key=lambda r: r.request_id)
    official = sorted((r for r in ordered if r.official), key=lambda r: (r.aggregate.avg_wer, r.request_id))
    ranks = {r.request_id: position for position, r in enumerate(official, start=1)}
    return [Candidate(r.request_id, ranks.get(r.request_id), parse_time(r.finished_at)) for r in ordered]


def selection_weights(entries: Sequence[Candidate], half_life_days: float) -> list[float]:
    """Each entry's relative chance of being audited: higher near the top of the board and when recent."""
    if not entries:
        return []
    newest = max(e.finished_at for e in entries)
    unranked = 1 + sum(1 for e in entries if e.rank is not None)
    weights = []
    for entry in entries:
        rank = entry.rank if entry.rank is not None else unranked
        age_days = (newest - entry.finished_at).total_seconds() / 86400
        weights.append(1 / math.sqrt(rank) * 0.5 ** (age_days / half_life_days))
    return weights


def new_seed() -> int:
    """A fresh seed for one selection; it is printed and recorded, so the choice can be redone."""
    return secrets.randbits(32)


def pick_entry(entries: Sequence[Candidate], seed: int, half_life_days: float) -> Candidate:
    """The entry audited for `seed`: a weighted random choice, the same for the same entries and seed."""
    if not entries:
        raise ValueError("there is no finished entry to audit")
    weights = selection_weights(entries, half_life_days)
    return random.Random(seed).choices(list(entries), weights=weights, k=1)[0]


# --- scheduling -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditLedger:
    """What the log says about past audits: evaluations finished since the last one, seconds used lately."""

    evaluations_since_last_audit: int
    audit_seconds_last_day: float
    audits: int


def audit_ledger(log: Sequence[LogEntry], now: datetime) -> AuditLedger:
    """Count finished evaluations after the latest audit event, and audit time in the 24 hours before `now`."""
    since = 0
    used = 0.0
    audits = 0
    for entry in log:
        if entry.event in (AUDIT_DROPPED, AUDIT_STARTED):
            since = 0  # a random audit that dies or cannot run waits for the next N evaluations, not the next tick
        if entry.event in AUDIT_EVENTS:
            audits += 1
            since = 0
        if entry.event in _SPENDING_EVENTS and now - parse_time(entry.at) < DAY:
            used += float(entry.detail.get("duration_s") or 0.0)
        elif entry.event == "finished":
            since += 1
    return AuditLedger(evaluations_since_last_audit=since, audit_seconds_last_day=used, audits=audits)


@dataclass(frozen=True)
class AuditDecision:
    run: bool
    reason: str


def should_audit(
    *,
    pending: int,
    running: int,
    entries: int,
    ledger: AuditLedger,
    policy: AuditConfig,
    requested: bool = False,
) -> AuditDecision:
    """Whether the scheduler may start one audit now; the reason says why not (shown on the Queue page).

    A `requested` audit (someone asked for it) skips the cadence but not the queue or the daily budget."""
    if pending:
        return AuditDecision(False, f"{pending} submission(s) waiting: evaluations go first")
    if running:
        return AuditDecision(False, "an evaluation is running")
    if not entries:
        return AuditDecision(False, "no finished entry to audit")
    if not requested and ledger.evaluations_since_last_audit < policy.every_n_evaluations:
        return AuditDecision(
            False,
            f"{ledger.evaluations_since_last_audit} of {policy.every_n_evaluations} evaluations since the last audit",
        )
    budget_s = policy.max_minutes_per_day * 60
    if ledger.audit_seconds_last_day >= budget_s:
        return AuditDecision(
            False,
            f"audits used {ledger.audit_seconds_last_day / 60:.1f} of {policy.max_minutes_per_day:g} minutes "
            "in the last 24 hours",
        )
    if requested:
        return AuditDecision(True, "queue empty, an audit was requested, within budget")
    return AuditDecision(True, "queue empty, audit due and within budget")


# --- requests and the board's view of audits ---------------------------------------------------------------


def recent_audit_requests(log: Sequence[LogEntry], actor: str, now: datetime) -> list[LogEntry]:
    """The actor's `audit_requested` events in the 7 days before `now`, oldest first (the rate limit)."""
    return [e for e in log if e.event == AUDIT_REQUESTED and e.actor == actor and now - parse_time(e.at) < WEEK]


def recent_entry_audit_requests(log: Sequence[LogEntry], request_id: str, now: datetime) -> list[LogEntry]:
    """The entry's `audit_requested` events in the 7 days before `now`, by anyone, oldest first (the per-entry cap:
    many accounts cannot spend the audit budget on one entry)."""
    return [
        e for e in log if e.event == AUDIT_REQUESTED and e.request_id == request_id and now - parse_time(e.at) < WEEK
    ]


@dataclass(frozen=True)
class Unavailable:
    """An entry that cannot be re-run: its latest audit was dropped at `at` because its last attempt could not load
    the model at its pinned revision (`reason`, from the public log)."""

    request_id: str
    at: str
    reason: str


def unavailable_entries(log: Sequence[LogEntry]) -> dict[str, Unavailable]:
    """Entries whose model can no longer be loaded at its pinned revision, from the public log (R13).

    An entry is unavailable when its latest `audit_dropped` came after an attempt that failed with the
    `unavailable` mark (or the drop carries it itself), and no audit outcome (passed or failed: the model ran)
    followed; a later drop for another reason (a Hub outage) proves nothing and keeps the mark. A transient
    failure is never marked, and only the last attempt before a drop decides whether that drop marks the entry.
    Deleting or gating a model after publication thus cannot keep its entry ranked by turning every audit into a
    drop."""
    last_attempt_unavailable: dict[str, bool] = {}
    found: dict[str, Unavailable] = {}
    for entry in log:
        rid = entry.request_id
        if entry.event in (AUDIT_STARTED, AUDIT_INCONCLUSIVE):
            last_attempt_unavailable[rid] = False
        elif entry.event == AUDIT_ATTEMPT_FAILED:
            last_attempt_unavailable[rid] = entry.detail.get(UNAVAILABLE) is True
        elif entry.event == AUDIT_DROPPED:
            if last_attempt_unavailable.pop(rid, False) or entry.detail.get(UNAVAILABLE) is True:
                found[rid] = Unavailable(rid, entry.at, str(entry.detail.get("reason") or ""))
        elif entry.event in AUDIT_EVENTS:
            last_attempt_unavailable.pop(rid, None)
            found.pop(rid, None)
    return found


@dataclass(frozen=True)
class OpenAudit:
    """An audit still to run: requested and not served, or retried because its last attempt was inconclusive or
    could not finish. `attempts` counts its `audit_started` events; `last_at` and `last_reason` are its latest
    attempt's (None and "" before the first). `started`: its latest attempt started and has no outcome yet (it
    runs now, or its worker stopped and it is tried again)."""

    request_id: str
    requested: bool
    opened: LogEntry
    attempts: int = 0
    last_at: str | None = None
    last_reason: str = ""
    started: bool = False


def open_audits(log: Sequence[LogEntry]) -> list[OpenAudit]:
    """Every open audit with its attempts so far, oldest first. A random audit's attempt that ends
    inconclusive or failing opens it (its own start counted); an outcome or a drop closes it."""
    opened: dict[str, OpenAudit] = {}
    starts: dict[str, LogEntry] = {}  # the latest start of an entry that is not open (a random audit's)
    for entry in log:
        rid, current = entry.request_id, opened.get(entry.request_id)
        if entry.event == AUDIT_REQUESTED and current is None:
            opened[rid] = OpenAudit(rid, True, entry)
        elif entry.event == AUDIT_STARTED and current is not None:
            opened[rid] = replace(current, attempts=current.attempts + 1, last_at=entry.at, started=True)
        elif entry.event == AUDIT_STARTED:
            starts[rid] = entry
        elif entry.event in (AUDIT_INCONCLUSIVE, AUDIT_ATTEMPT_FAILED):
            current = current or OpenAudit(rid, False, entry, attempts=1 if starts.pop(rid, None) else 0)
            reason = str(entry.detail.get("reason") or "")
            opened[rid] = replace(current, last_at=entry.at, last_reason=reason, started=False)
        elif entry.event in (*AUDIT_EVENTS, AUDIT_DROPPED):
            opened.pop(rid, None)
            starts.pop(rid, None)
    return sorted(opened.values(), key=lambda a: a.opened.seq)


#: What one worker step does (`WorkPlan.action`).
EVALUATE, AUDIT, DROP, IDLE = "evaluate", "audit", "drop", "idle"
#: A step of the throughput track (R14): run an owed throughput attempt, or drop a run whose attempts are spent.
THROUGHPUT, DROP_THROUGHPUT = "throughput", "drop-throughput"


@dataclass(frozen=True)
class WorkPlan:
    """One worker step's decision, the same in the Space and in the Jobs dispatcher: evaluate; run the owed
    throughput run of `request_id` as attempt `attempt`, or drop it; audit `request_id` (None: a random pick) as
    attempt `attempt`; drop the open audit of `request_id`; or nothing.
    `requested` says whether the audit (or the drop) answers someone's request; `reason` is the Queue's line."""

    action: str
    reason: str
    request_id: str | None = None
    attempt: int = 0
    requested: bool = False


def plan_work(
    *,
    pending: int,
    running: int,
    entries: int,
    log: Sequence[LogEntry],
    now: datetime,
    policy: AuditConfig,
    throughput_requested: Sequence[str] = (),
    throughput_policy: ThroughputConfig | None = None,
) -> WorkPlan:
    """Evaluate, else an owed throughput run, else audit. A pending request first; then, with no evaluation
    running, a throughput run owed to one of `throughput_requested` (FINISHED requests that asked for one) that no
    attempt holds (`openasr_core.throughput_runs`: dropped once its attempts are spent); then an open audit whose attempts
    are spent is dropped (with its last reason), else the oldest open audit whose last attempt was at least
    `retry_after_minutes` ago is tried again, else a random audit when due; audits within the daily budget."""
    if pending:
        return WorkPlan(EVALUATE, f"{pending} submission(s) waiting: evaluations go first")
    waits = ""  # an owed throughput run that waits (its lease, its retry pause), said on the Queue page
    owed = owed_runs(throughput_requested, log)
    if owed and not running:
        choice = choose_throughput(owed, now, throughput_policy or ThroughputConfig())
        if choice.run is not None:
            action = DROP_THROUGHPUT if choice.drop else THROUGHPUT
            return WorkPlan(action, choice.reason, choice.run.request_id, choice.attempt)
        waits = choice.reason
    plan = _plan_audit(running=running, entries=entries, log=log, now=now, policy=policy)
    return replace(plan, reason=f"{waits}; {plan.reason}") if waits and plan.action == IDLE else plan


def _plan_audit(*, running: int, entries: int, log: Sequence[LogEntry], now: datetime, policy: AuditConfig) -> WorkPlan:
    """`plan_work`'s audit part, with no request pending and no throughput run to do now."""
    pending = 0
    waiting = open_audits(log)
    spent = next((a for a in waiting if a.attempts >= policy.max_attempts), None)
    if spent is not None and not running:
        why = spent.last_reason or "the attempt ended without an outcome (the worker stopped)"
        reason = f"{spent.attempts} attempt(s) of the audit of {spent.request_id} ended without a verdict; last: {why}"
        return WorkPlan(DROP, reason[:300], spent.request_id, spent.attempts, spent.requested)
    ledger = audit_ledger(log, now)
    decision = should_audit(
        pending=pending, running=running, entries=entries, ledger=ledger, policy=policy, requested=bool(waiting)
    )
    if not decision.run:
        return WorkPlan(IDLE, decision.reason)
    pause = timedelta(minutes=policy.retry_after_minutes)
    ready = [a for a in waiting if a.last_at is None or now - parse_time(a.last_at) >= pause]
    if ready:
        audit = ready[0]
        who = f"requested by {audit.opened.actor}" if audit.requested else "retried: its last attempt was inconclusive"
        reason = f"audit of {audit.request_id} {who} (attempt {audit.attempts + 1} of {policy.max_attempts})"
        return WorkPlan(AUDIT, reason, audit.request_id, audit.attempts + 1, audit.requested)
    if waiting:
        first = min(waiting, key=lambda a: parse_time(a.last_at or a.opened.at))
        at = (parse_time(first.last_at or first.opened.at) + pause).strftime("%Y-%m-%d %H:%M UTC")
        return WorkPlan(IDLE, f"the audit of {first.request_id} is tried again after {at}")
    if ledger.evaluations_since_last_audit < policy.every_n_evaluations:
        since = ledger.evaluations_since_last_audit
        return WorkPlan(IDLE, f"{since} of {policy.every_n_evaluations} evaluations since the last audit")
    return WorkPlan(AUDIT, decision.reason, None, 1)


@dataclass(frozen=True)
class AuditVerdict:
    """What an audited entry's audits say, as the board shows it: the verdict and when it was reached."""

    passed: bool
    finished_at: str


def audit_verdicts(log: Sequence[LogEntry], records: Iterable[AuditRecord]) -> dict[str, AuditVerdict]:
    """Each audited entry's latest verdict, failing safe (R13): damage never lifts a flag.

    A pass counts only when its `audit_passed` event and its record (with the sha256 the event names) are both
    readable. A failure counts when either is: an `audit_failed` event whose record is damaged or missing, or a
    failed record whose event was lost (a damaged log chunk). So a truncated or edited failed-audit record, or a
    lost log line, leaves the entry flagged until a later audit passes, readably."""
    by_hash = {audit_hash(r): r for r in records}
    vouched: set[str] = set()
    found: list[tuple[str, str, str, bool]] = []  # (when, then by, request id, passed)
    for entry in log:
        if entry.event not in AUDIT_EVENTS:
            continue
        digest = str(entry.detail.get("audit_sha256", ""))
        record = by_hash.get(digest)
        vouched.add(digest)
        if entry.event == "audit_failed":
            found.append((record.finished_at if record else entry.at, entry.at, entry.request_id, False))
        elif record is not None and record.passed and record.request_id == entry.request_id:
            found.append((record.finished_at, entry.at, entry.request_id, True))
    for digest, record in by_hash.items():
        if digest not in vouched and not record.passed:
            found.append((record.finished_at, record.finished_at, record.request_id, False))
    verdicts: dict[str, AuditVerdict] = {}
    for when, _, request_id, passed in sorted(found):
        verdicts[request_id] = AuditVerdict(passed=passed, finished_at=when)
    return verdicts


def latest_audits(records: Iterable[AuditRecord]) -> dict[str, AuditRecord]:
    """Each audited entry's latest audit (by finish time, then id): a later pass clears an earlier failure."""
    latest: dict[str, AuditRecord] = {}
    for record in sorted(records, key=lambda a: (a.finished_at, a.audit_id)):
        latest[record.request_id] = record
    return latest
