"""The Model detail page's audit section (R13): the latest verdict, and for a failed one the evidence (every
compared figure, the differing utterances), then the entry's public audit history from the log. Pure.

Everything that came from outside (model outputs, references, check details naming files, user names, a log
entry's reason) is escaped for markdown and HTML (`openasr_core.untrusted.md_text`): a prediction is whatever the
audited model wrote, and these tables and lines are shown by a markdown component.
"""

from __future__ import annotations

from collections.abc import Sequence

from openasr_core.audits import (
    AUDIT_DROPPED,
    AUDIT_EVENTS,
    AUDIT_PROGRESS_EVENTS,
    AUDIT_REQUESTED,
    OpenAudit,
    open_audits,
    unavailable_entries,
)
from openasr_core.records import AuditRecord, LogEntry, Verdict
from openasr_core.untrusted import md_text

AUDIT_LOG_EVENTS = (*AUDIT_EVENTS, AUDIT_REQUESTED, AUDIT_DROPPED, *AUDIT_PROGRESS_EVENTS)
HISTORY_ROWS = 10
_VERDICT = {
    Verdict.PASS: "✅ pass",
    Verdict.FAIL: "❌ fail",
    Verdict.SKIPPED: "— skipped",
    Verdict.INCONCLUSIVE: "⏸ inconclusive",
}


def _cell(value: object) -> str:
    return "" if value is None else md_text(str(value))


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{md_text(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_cell(v)}</td>" for v in row) + "</tr>" for row in rows)
    return f'<table class="lb-audit"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def how_chosen(record: AuditRecord) -> str:
    if record.selection == "random" and record.seed is not None:
        return f"picked at random (seed {record.seed})"
    return "requested" if record.selection == "requested" else md_text(record.selection)


def latest_markdown(record: AuditRecord) -> str:
    """The latest audit: verdict, when and where, and for a failure the evidence."""
    when = f"{_cell(record.finished_at)} on {_cell(record.hardware.gpu_class)}, {how_chosen(record)}"
    if record.passed:
        head = f"**Latest audit: ✅ passed** · {when} · audit <code>{_cell(record.audit_id)}</code>"
    else:
        failed = ", ".join(_cell(name) for name in record.failed_checks)
        head = (
            f"🚩 **Flagged: the latest audit failed** ({failed}) · {when} · audit <code>{_cell(record.audit_id)}</code>. "
            "This entry is left out of the ranking until a later audit passes."
        )
    checks = _table(
        ("Check", "Published", "Re-run", "Difference", "Verdict", "Detail"),
        [(c.name, c.published, c.rerun, c.difference, _VERDICT[c.verdict], c.detail) for c in record.checks],
    )
    parts = [head, checks]
    if record.evidence:
        parts.append(f"**Differing utterances** ({len(record.evidence)} kept as evidence):")
        parts.append(
            _table(
                ("Eval set", "Id", "Published prediction", "Re-run prediction"),
                [(d.eval_set, d.id, d.published, d.rerun) for d in record.evidence],
            )
        )
    return "\n\n".join(parts)


def history_markdown(events: Sequence[LogEntry]) -> str:
    """The entry's audit events from the public log, newest first: requests, attempts (started, inconclusive with
    why, failed to run with the error's kind), outcomes and drops."""
    lines = []
    for entry in list(events)[::-1][:HISTORY_ROWS]:
        reason = entry.detail.get("reason") or ", ".join(entry.detail.get("failed_checks") or [])
        if entry.detail.get("attempt"):
            attempt = f"attempt {entry.detail['attempt']} of {entry.detail.get('max_attempts', '?')}"
            kind = f" ({entry.detail['kind']})" if entry.detail.get("kind") else ""
            reason = f"{attempt}{kind}" + (f": {reason}" if reason else "")
        extra = f": {_cell(reason)}" if reason else ""
        lines.append(
            f"- {_cell(entry.at)} · <code>{_cell(entry.event)}</code> by <code>{_cell(entry.actor)}</code>{extra}"
        )
    return "\n".join(lines)


def unavailable_markdown(request_id: str, log: Sequence[LogEntry], unranked: bool = True) -> str | None:
    """The line saying the entry cannot be audited because its model is gone at its pinned revision, or None.
    `unranked`: the board leaves such entries out of the ranking (`[audit] unrankable_when_unavailable`)."""
    gone = unavailable_entries(log).get(request_id)
    if gone is None:
        return None
    rank = "It is left out of the ranking" if unranked else "It stays ranked by this board's config"
    return (
        f"🚫 **Model no longer available at its pinned revision: cannot be audited.** An audit on {_cell(gone.at)} "
        f"could not load it ({_cell(gone.reason)}). {rank} until an audit of it runs again."
    )


def open_audit_markdown(waiting: OpenAudit) -> str:
    """Where an open audit stands: asked for and waiting its turn, an attempt started (running, or retried if
    its worker stopped), or an attempt that ended without a verdict and is tried again."""
    asked = ""
    if waiting.requested:
        asked = f"An audit was requested by <code>{_cell(waiting.opened.actor)}</code> on {_cell(waiting.opened.at)}"
    if waiting.started:
        return (
            f"⏳ {asked + '; its' if asked else 'Its'} attempt {waiting.attempts} started at {_cell(waiting.last_at)}."
        )
    if waiting.last_at is None:  # no attempt yet: only an asked-for audit is open before its first
        return f"⏳ {asked}; it runs when no submission waits."
    ended = (
        f"the last audit attempt ({_cell(waiting.last_at)}) was inconclusive or could not finish: "
        f"{_cell(waiting.last_reason)}. It is tried again later; this is not a flag."
    )
    return f"⏸ {asked}; {ended}" if asked else f"⏸ {ended[0].upper()}{ended[1:]}"


def audit_markdown(
    request_id: str, audits: Sequence[AuditRecord], log: Sequence[LogEntry], unavailable_unranked: bool = True
) -> str:
    """The whole audit section for one entry: `audits` are its published records, `log` the whole log;
    `unavailable_unranked` as `[audit] unrankable_when_unavailable`."""
    parts = ["### Audits (R13)"]
    gone = unavailable_markdown(request_id, log, unavailable_unranked)
    if gone:
        parts.append(gone)
    mine = [a for a in audits if a.request_id == request_id]
    if mine:
        parts.append(latest_markdown(max(mine, key=lambda a: (a.finished_at, a.audit_id))))
    elif not gone:
        parts.append("Not audited yet. Audits re-run an entry as recorded and compare every figure (About tab).")
    waiting = next((a for a in open_audits(log) if a.request_id == request_id), None)
    if waiting is not None:
        parts.append(open_audit_markdown(waiting))
    events = [e for e in log if e.request_id == request_id and e.event in AUDIT_LOG_EVENTS]
    if events:
        parts.append("**Audit log of this entry** (newest first):\n\n" + history_markdown(events))
    return "\n\n".join(parts)
