"""Asking for an audit of an entry (R13), from its detail page: logged in, rate-limited, public.

The limit is its own (`[audit] max_requests_per_week`, per user in any 7 days, counted from the public log's
`audit_requested` events), apart from submissions: asking for an audit should not cost a submission, and an
audit costs board GPU time that the daily audit budget also bounds. The request is one log event, written in
a store transaction that re-checks the limit and refuses a second open request for the same entry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from core.audits import recent_audit_requests
from core.config import AuditConfig
from core.records import LogEntry
from core.store import Refused, Store, StoreError, StoreState
from core.untrusted import echo
from leaderboard.submission import weekly_refusal


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


def ask_for_audit(
    store: Store, request_id: str | None, requester: str | None, policy: AuditConfig, now: Callable[[], datetime]
) -> tuple[bool, str]:
    """Log a request for an audit of `request_id` by `requester`; (accepted, message for the page)."""
    if requester is None:
        return False, "🔒 Log in with Hugging Face first (the button on the Submit tab) to ask for an audit."
    if not request_id:
        return False, "Choose a model above first."

    def check(state: StoreState) -> None:
        refusal = check_audit_limit(state.log, requester, now(), policy.max_requests_per_week)
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
