"""The audit events of the public log and which audit requests are open: what the store's lifecycle checks
(`openasr_core.store`) and the audit planner (`openasr_core.audits`) share, apart from the planning itself."""

from __future__ import annotations

from collections.abc import Sequence

from openasr_core.records import LogEntry

AUDIT_EVENTS = ("audit_passed", "audit_failed")
#: Someone asked for an audit of an entry (public, rate-limited); served before any random audit.
AUDIT_REQUESTED = "audit_requested"
#: The scheduler could not run an audit (the entry cannot be re-run as recorded); closes its request.
AUDIT_DROPPED = "audit_dropped"
#: One attempt of an audit began (logged before the re-run, so an attempt that dies is counted too).
AUDIT_STARTED = "audit_started"
#: The attempt ran, nothing failed, but the machine was busy with other work: no verdict on speed, no flag.
AUDIT_INCONCLUSIVE = "audit_inconclusive"
#: The attempt stopped on an error that a later attempt may not meet (transient, or a bug; the kind is named).
AUDIT_ATTEMPT_FAILED = "audit_attempt_failed"
#: Detail key of an `audit_attempt_failed` (or `audit_dropped`) event: true when the model could not be loaded at
#: its pinned revision at all (repo deleted, gated or private, revision gone), as opposed to a Hub outage.
UNAVAILABLE = "unavailable"
#: The events that record an audit's attempts without ending it.
AUDIT_PROGRESS_EVENTS = (AUDIT_STARTED, AUDIT_INCONCLUSIVE, AUDIT_ATTEMPT_FAILED)


def open_audit_requests(log: Sequence[LogEntry]) -> list[LogEntry]:
    """`audit_requested` events not yet served (no later audit or drop of that entry), oldest first."""
    waiting: dict[str, LogEntry] = {}
    for entry in log:
        if entry.event == AUDIT_REQUESTED:
            waiting.setdefault(entry.request_id, entry)
        elif entry.event in AUDIT_EVENTS or entry.event == AUDIT_DROPPED:
            waiting.pop(entry.request_id, None)
    return sorted(waiting.values(), key=lambda e: e.seq)
