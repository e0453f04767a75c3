"""When to audit and which entry (R13): pure functions of the board, the log and a clock, no I/O.

Choosing an entry: every finished entry may be picked, with a weight that favours the top of the board
(`1 / sqrt(rank)`, unofficial entries ranked after every official one) and recent entries (halved every
`recent_half_life_days`, age counted from the newest entry so the choice depends only on the entries and the
seed, not on when it is made). `pick_entry(candidates, seed, ...)` is reproducible: the same entries and seed
give the same choice, and the seed is printed and recorded with the audit.

Deciding to audit: the Space's scheduler starts an audit only when no request is pending or running, so a
submission that arrives during an audit waits for that one audit at most, never for a second one; audits are
due every `every_n_evaluations` finished evaluations and share a budget of `max_minutes_per_day` in any 24 hours.
"""

from __future__ import annotations

import math
import random
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.config import AuditConfig
from core.records import AuditRecord, LogEntry, Result, parse_time

AUDIT_EVENTS = ("audit_passed", "audit_failed")
#: Someone asked for an audit of an entry (public, rate-limited); served before any random audit.
AUDIT_REQUESTED = "audit_requested"
#: The scheduler could not run an audit (the entry cannot be re-run as recorded); closes its request.
AUDIT_DROPPED = "audit_dropped"
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
        if entry.event == AUDIT_DROPPED:
            since = 0  # a random audit that cannot run waits for the next N evaluations, not the next tick
        elif entry.event in AUDIT_EVENTS:
            audits += 1
            since = 0
            if now - parse_time(entry.at) < DAY:
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


def open_audit_requests(log: Sequence[LogEntry]) -> list[LogEntry]:
    """`audit_requested` events not yet served (no later audit or drop of that entry), oldest first."""
    waiting: dict[str, LogEntry] = {}
    for entry in log:
        if entry.event == AUDIT_REQUESTED:
            waiting.setdefault(entry.request_id, entry)
        elif entry.event in AUDIT_EVENTS or entry.event == AUDIT_DROPPED:
            waiting.pop(entry.request_id, None)
    return sorted(waiting.values(), key=lambda e: e.seq)


def recent_audit_requests(log: Sequence[LogEntry], actor: str, now: datetime) -> list[LogEntry]:
    """The actor's `audit_requested` events in the 7 days before `now`, oldest first (the rate limit)."""
    return [e for e in log if e.event == AUDIT_REQUESTED and e.actor == actor and now - parse_time(e.at) < WEEK]


@dataclass(frozen=True)
class AuditPlan:
    """What the scheduler does after finding no submission: audit `request_id` (None: pick at random) or not."""

    run: bool
    request_id: str | None
    reason: str


def plan_audit(
    *, pending: int, running: int, entries: int, log: Sequence[LogEntry], now: datetime, policy: AuditConfig
) -> AuditPlan:
    """The next audit: the oldest open request first, else a random one when the cadence says it is due."""
    requests = open_audit_requests(log)
    ledger = audit_ledger(log, now)
    decision = should_audit(
        pending=pending, running=running, entries=entries, ledger=ledger, policy=policy, requested=bool(requests)
    )
    if not decision.run:
        return AuditPlan(False, None, decision.reason)
    if requests:
        return AuditPlan(
            True, requests[0].request_id, f"audit of {requests[0].request_id} requested by {requests[0].actor}"
        )
    return AuditPlan(True, None, decision.reason)


def latest_audits(records: Iterable[AuditRecord]) -> dict[str, AuditRecord]:
    """Each audited entry's latest audit (by finish time, then id): a later pass clears an earlier failure."""
    latest: dict[str, AuditRecord] = {}
    for record in sorted(records, key=lambda a: (a.finished_at, a.audit_id)):
        latest[record.request_id] = record
    return latest
