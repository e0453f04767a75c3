"""Asking for an audit of an entry (R13), from its detail page: logged in, rate-limited, public.

The limits are their own, apart from submissions: `[audit] max_requests_per_week` per user in any 7 days, and
`[audit] max_requests_per_entry` per entry in any 7 days by all users together (so many accounts cannot spend
the audit budget on one entry), both counted from the public log's `audit_requested` events. Only ranked
entries can be requested: an unofficial, unverified or flagged entry, or one whose model can no longer be
loaded at its pinned revision, has no place in the ranking for an audit to defend. The request is one log
event, written in a store transaction that re-checks the limits and refuses a second open request for the same
entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from leaderboard.submission import weekly_refusal
from leaderboard.table import Board, unranked_reason
from openasr_core.audits import recent_audit_requests, recent_entry_audit_requests
from openasr_core.config import AuditConfig
from openasr_core.records import LogEntry
from openasr_core.store import Refused, Store, StoreError, StoreState
from openasr_core.untrusted import echo


def check_audit_limit(log: Sequence[LogEntry], actor: str, now: datetime, limit: int) -> str | None:
    """At most `limit` audit requests per user in any 7 days; the message says when the next one is possible."""
    recent = recent_audit_requests(log, actor, now)
    return weekly_refusal(
        recent,
        limit,
        closed="Audit requests are closed on this leaderboard (`[audit] max_requests_per_week = 0`).",
        over=f"{echo(actor)} has asked for {len(recent)} audits in the last 7 days; the limit is {limit} per week.",
        again="ask again",
    )


def check_entry_limit(log: Sequence[LogEntry], request_id: str, now: datetime, limit: int) -> str | None:
    """At most `limit` audit requests of one entry in any 7 days, whoever asks; says when the next is possible."""
    recent = recent_entry_audit_requests(log, request_id, now)
    return weekly_refusal(
        recent,
        limit,
        closed="Audit requests of an entry are closed on this leaderboard (`[audit] max_requests_per_entry = 0`).",
        over=f"this entry's audit was requested {len(recent)} times in the last 7 days; the limit is {limit} per "
        "entry per week.",
        again="ask again",
    )


def check_rankable(board: Board, request_id: str) -> str | None:
    """Why an audit of `request_id` cannot be requested (it is not on the board, or not ranked), or None."""
    entry = board.entry(request_id)
    if entry is None:
        return f"{echo(request_id)} is not an entry of this leaderboard."
    reason = unranked_reason(entry)
    if reason is None:
        return None
    return f"only ranked entries can be audited on request, and this one is not ranked: {reason}."


def ask_for_audit(
    store: Store,
    request_id: str | None,
    requester: str | None,
    policy: AuditConfig,
    now: Callable[[], datetime],
    *,
    board: Board,
) -> tuple[bool, str]:
    """Log a request for an audit of `request_id` by `requester`; (accepted, message for the page). `board` is the
    board the page shows: only its ranked entries can be requested."""
    if requester is None:
        return False, "🔒 Log in with Hugging Face first (the button on the Submit tab) to ask for an audit."
    if not request_id:
        return False, "Choose a model above first."
    unranked = check_rankable(board, request_id)
    if unranked:
        return False, f"❌ Not requested: {unranked}"

    def check(state: StoreState) -> None:
        moment = now()
        refusal = check_audit_limit(state.log, requester, moment, policy.max_requests_per_week)
        refusal = refusal or check_entry_limit(state.log, request_id, moment, policy.max_requests_per_entry)
        if refusal:
            raise Refused(refusal)

    try:
        entry = store.request_audit(request_id, requester, check)
    except Refused as exc:
        return False, f"❌ Not requested: {exc}"
    except StoreError as exc:
        return False, f"❌ The store could not be written, try again in a minute: {exc}"
    return True, (
        f"✅ Audit requested (log entry {entry.seq}). It runs before any random audit, when no submission "
        "waits and the daily audit budget allows; its outcome appears here and in the Log."
    )
