"""The Queue page: pending (position, waiting since, estimated start), running (eval set, progress, ETA),
finished and failed (with the reason). Pure: it reads a snapshot's requests and results at a given `now`.

ETAs: a running request's ETA is the evaluator's own estimate (`Progress.eta_s`), counted down from when it
was written. A pending request's estimated start assumes one evaluation at a time, each taking as long as the
median of the recent finished ones; without any history there is no estimate (shown as "—"), never a guess.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from openasr_core.activity import AUDIT, EVALUATION, KIND_LABELS, THROUGHPUT, Work
from openasr_core.config import ThroughputConfig
from openasr_core.records import THROUGHPUT_PUBLISHED, LogEntry, Request, Result, Status, parse_time
from openasr_core.throughput_runs import THROUGHPUT_DROPPED, OwedRun, owed_runs, throughput_requested
from openasr_core.untrusted import html_text, md_text

RECENT_FINISHED = 50
DURATION_HISTORY = 20


def format_duration(seconds: float | None) -> str:
    """45 -> '45 s', 200 -> '3 min', 4000 -> '1 h 7 min'; None or negative -> '—'."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60} min"


def format_ago(moment: str | None, now: datetime) -> str:
    """'2026-11-27 09:11 UTC (5 min ago)'."""
    if not moment:
        return "—"
    when = parse_time(moment)
    elapsed = (now - when).total_seconds()
    ago = "just now" if elapsed < 5 else f"{format_duration(elapsed)} ago"
    return f"{when.strftime('%Y-%m-%d %H:%M')} UTC ({ago})"


@dataclass(frozen=True)
class RunningItem:
    """One request being evaluated, as the Queue page shows it."""

    request_id: str
    model_id: str
    precision: str
    worker: str
    attempt: int
    eval_set: str | None
    done: int
    total: int
    sets_done: int
    sets_total: int
    fraction: float
    eta_s: float | None
    #: When its lease ran out, if it did: its worker stopped renewing it (it died, or the Space restarted), so
    #: it is not running, whatever its last progress said; the next check returns it to the queue.
    lease_expired_at: datetime | None = None


@dataclass(frozen=True)
class QueueView:
    pending: pd.DataFrame
    running: tuple[RunningItem, ...]
    finished: pd.DataFrame
    failed: pd.DataFrame
    typical_duration_s: float | None

    @property
    def counts(self) -> dict[str, int]:
        return {
            "pending": len(self.pending),
            "running": sum(1 for item in self.running if item.lease_expired_at is None),
            "finished": len(self.finished),
            "failed": len(self.failed),
        }


def running_item(request: Request, now: datetime) -> RunningItem:
    """Progress as a fraction of the whole request (eval sets done plus the share of the current one)."""
    progress = request.progress
    if progress is None:
        fraction, eta = 0.0, None
        eval_set, done, total, sets_done, sets_total = None, 0, 0, 0, 0
    else:
        within = progress.done / progress.total if progress.total else 0.0
        sets_total = max(progress.sets_total, 1)
        fraction = min(1.0, (progress.sets_done + within) / sets_total)
        eta = progress.eta_s
        if eta is not None and progress.updated_at:
            eta = max(0.0, eta - (now - parse_time(progress.updated_at)).total_seconds())
        eval_set, done, total = progress.eval_set, progress.done, progress.total
        sets_done, sets_total = progress.sets_done, progress.sets_total
    return RunningItem(
        request_id=request.request_id,
        model_id=request.model_id,
        precision=request.precision,
        worker=request.lease.worker if request.lease else "",
        attempt=request.attempts,
        eval_set=eval_set,
        done=done,
        total=total,
        sets_done=sets_done,
        sets_total=sets_total,
        fraction=fraction,
        eta_s=eta,
        lease_expired_at=_expired_at(request, now),
    )


def _expired_at(request: Request, now: datetime) -> datetime | None:
    if request.lease is None:
        return None
    try:
        expires = parse_time(request.lease.expires_at)
    except ValueError:
        return None
    return expires if expires <= now else None


def typical_duration(results: Sequence[Result]) -> float | None:
    """Median wall time of the most recent evaluations (started_at to finished_at), or None without history."""
    durations = []
    for result in sorted(results, key=lambda r: r.finished_at)[-DURATION_HISTORY:]:
        try:
            seconds = (parse_time(result.finished_at) - parse_time(result.started_at)).total_seconds()
        except ValueError:
            continue
        if seconds >= 0:
            durations.append(seconds)
    return statistics.median(durations) if durations else None


def queue_view(
    requests: Mapping[str, Request],
    results: Mapping[str, Result],
    now: datetime,
    flagged: Collection[str] = (),
    log: Sequence[LogEntry] = (),
    throughput: ThroughputConfig | None = None,
) -> QueueView:
    """Everything the Queue page shows, from one snapshot. `flagged`: entries whose latest audit failed (R13),
    shown as such instead of "official". `log` and `throughput` (the retry policy): where each throughput run
    asked for stands (`throughput_states`), in the finished list."""
    by_status: dict[Status, list[Request]] = {s: [] for s in Status}
    for request in requests.values():
        by_status[request.status].append(request)
    running = tuple(
        running_item(r, now) for r in sorted(by_status[Status.RUNNING], key=lambda r: (r.submitted_at, r.request_id))
    )
    finished_results = [results[r.request_id] for r in by_status[Status.FINISHED] if r.request_id in results]
    typical = typical_duration(finished_results)
    recent = sorted(by_status[Status.FINISHED], key=lambda r: _finished_at(r, results), reverse=True)
    recent = recent[:RECENT_FINISHED]
    states = throughput_states(recent, log, now, throughput or ThroughputConfig())  # of the shown rows only
    return QueueView(
        pending=_frame(pending_rows(by_status[Status.PENDING], running, typical, now), PENDING_COLUMNS),
        running=running,
        finished=_frame(finished_rows(recent, results, flagged, states, now), FINISHED_COLUMNS),
        failed=_frame(failed_rows(by_status[Status.FAILED], now), FAILED_COLUMNS),
        typical_duration_s=typical,
    )


def pending_rows(
    pending: Sequence[Request], running: Sequence[RunningItem], typical: float | None, now: datetime
) -> list[dict[str, object]]:
    """The Pending table, oldest submission first, each with its estimated start: one evaluation at a time, each
    as long as the `typical` one, after the soonest running one ends."""
    busy_until = 0.0
    if running:
        etas = [item.eta_s for item in running]
        busy_until = min(e for e in etas if e is not None) if any(e is not None for e in etas) else math.nan
    rows = []
    for position, request in enumerate(sorted(pending, key=lambda r: (r.submitted_at, r.request_id)), start=1):
        start = None if typical is None or math.isnan(busy_until) else busy_until + (position - 1) * typical
        rows.append(
            {
                "#": position,
                "Model": request.model_id,
                "Precision": request.precision,
                "Revision": request.revision[:12],
                "Submitted by": request.submitter,
                "Waiting since": format_ago(request.submitted_at, now),
                "Est. start": "—" if start is None else ("now" if start <= 0 else f"in ~{format_duration(start)}"),
                "Attempts": request.attempts,
                "Request": request.request_id,
            }
        )
    return rows


def finished_rows(
    finished: Sequence[Request],
    results: Mapping[str, Result],
    flagged: Collection[str],
    throughput: Mapping[str, str],
    now: datetime,
) -> list[dict[str, object]]:
    """The Recently finished table, a row per request of `finished` (the newest `RECENT_FINISHED`, newest
    first); `throughput`: the state of each throughput run asked for (`throughput_states`), empty where none
    was asked for."""
    rows = []
    for request in finished:
        result = results.get(request.request_id)
        rows.append(
            {
                "Finished": format_ago(_finished_at(request, results) or None, now),
                "Model": request.model_id,
                "Precision": request.precision,
                "Avg WER (%)": round(result.aggregate.avg_wer * 100, 2) if result else None,
                "RTF": float(f"{result.aggregate.rtf:.3g}") if result and math.isfinite(result.aggregate.rtf) else None,
                "Official": official_text(result, request.request_id in flagged),
                "Throughput": throughput.get(request.request_id, ""),
                "Request": request.request_id,
            }
        )
    return rows


def failed_rows(failed: Sequence[Request], now: datetime) -> list[dict[str, object]]:
    """The Failed table, newest submission first, with the reason (R8)."""
    return [
        {
            "Submitted": format_ago(r.submitted_at, now),
            "Model": r.model_id,
            "Precision": r.precision,
            "Attempts": r.attempts,
            "Reason": r.error or "(no reason recorded)",
            "Request": r.request_id,
        }
        for r in sorted(failed, key=lambda r: (r.submitted_at, r.request_id), reverse=True)
    ]


def throughput_states(
    finished: Iterable[Request], log: Sequence[LogEntry], now: datetime, policy: ThroughputConfig
) -> dict[str, str]:
    """Where the throughput run (R14) of each FINISHED request that asked for one stands, in words, read from
    the public log alone (`openasr_core.throughput_runs`): measured, owed, running, failed and waiting for its
    retry, or dropped after its attempts. Two passes over the log, each a set lookup per entry."""
    asked = throughput_requested(finished)
    owed = {run.request_id: run for run in owed_runs(asked, log)}
    closed = {rid for rid in asked if rid not in owed}  # published or dropped: their events, in one more pass
    published: set[str] = set()
    dropped: dict[str, LogEntry] = {}
    for entry in log if closed else ():
        if entry.request_id in closed and entry.event == THROUGHPUT_PUBLISHED:
            published.add(entry.request_id)
        elif entry.request_id in closed and entry.event == THROUGHPUT_DROPPED:
            dropped[entry.request_id] = entry
    states = {}
    for request_id in asked:
        if request_id in owed:
            states[request_id] = owed_text(owed[request_id], now, policy)
        elif request_id in published:
            states[request_id] = "✅ measured (see the Throughput tab)"
        elif request_id in dropped:
            detail = dropped[request_id].detail
            reason = str(detail.get("reason") or "no reason recorded")
            states[request_id] = f"✖️ dropped after {detail.get('attempts', policy.max_attempts)} attempts: {reason}"
    return states


def owed_text(run: OwedRun, now: datetime, policy: ThroughputConfig) -> str:
    """A throughput run still owed, in words: not started, running (whose lease until when), failed or stopped
    and waiting for its retry (until when), or out of attempts (dropped at the next check)."""
    of = f"{run.attempts} of {policy.max_attempts}"
    if run.attempts == 0:
        return "⏳ owed: starts after the queue's batch-one evaluations"
    if run.held(now):
        until = run.lease_expires_at.strftime("%H:%M UTC") if run.lease_expires_at else "—"
        return f"🏭 running: attempt {of}, {worker_words(run.worker)}, lease until {until}"
    how = "failed" if run.failed_at is not None else "stopped without an outcome"
    reason = f" ({run.last_reason})" if run.last_reason else ""
    if run.attempts >= policy.max_attempts:
        return f"⚠️ attempt {of} {how}{reason}: no attempt left, dropped at the next check"
    due = run.ready_at(policy)
    when = "now" if due is None or due <= now else f"after {due.strftime('%Y-%m-%d %H:%M UTC')}"
    return f"🔁 attempt {of} {how}{reason}: retried {when}"


def worker_words(worker: str | None) -> str:
    """`worker_text` without markup, for tables and markdown."""
    if not worker:
        return "evaluator unknown"
    return "this Space" if worker.startswith(SPACE_WORKER_PREFIX) else f"worker {worker}"


PENDING_COLUMNS = (
    "#",
    "Model",
    "Precision",
    "Revision",
    "Submitted by",
    "Waiting since",
    "Est. start",
    "Attempts",
    "Request",
)
FINISHED_COLUMNS = ("Finished", "Model", "Precision", "Avg WER (%)", "RTF", "Official", "Throughput", "Request")
FAILED_COLUMNS = ("Submitted", "Model", "Precision", "Attempts", "Reason", "Request")


def official_text(result: Result | None, flagged: bool) -> str:
    """The Official column: a flagged entry (its latest audit failed, R13) is not shown as official."""
    if result is None:
        return ""
    if flagged:
        return "🚩 flagged (failed audit)"
    return "yes" if result.official else "no"


def _finished_at(request: Request, results: Mapping[str, Result]) -> str:
    result = results.get(request.request_id)
    return result.finished_at if result else request.submitted_at


def _frame(rows: list[dict[str, object]], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(columns))


def running_html(
    items: Sequence[RunningItem], max_attempts: int, work: Work | None = None, now: datetime | None = None
) -> str:
    """Cards with a progress bar for each running evaluation, and for the background work of this Space that
    holds no request (`work`: a throughput run or an audit); a friendly line when there is none. A request
    whose lease ran out is shown as stopped, never as running."""
    extra = work_html(work, now) if work is not None and work.kind != EVALUATION and now is not None else ""
    if not items and not extra:
        return '<div class="lb-empty">Nothing is being evaluated right now.</div>'
    cards = [extra] if extra else []
    for item in items:
        if item.lease_expired_at is not None:
            cards.append(stalled_html(item))
            continue
        percent = round(item.fraction * 100)
        where = (
            f"eval set <b>{html_text(item.eval_set)}</b> ({item.sets_done + 1} of {item.sets_total}): "
            f"{item.done}/{item.total} utterances"
            if item.eval_set
            else "loading the model and data"
        )
        cards.append(
            f"""<div class="lb-running">
  <div class="lb-running-head"><b>{html_text(item.model_id)}</b> · {html_text(item.precision)}
    <span class="lb-muted">request {html_text(item.request_id)} · attempt {item.attempt} of {max_attempts}
    · {worker_text(item.worker)}</span></div>
  <div class="lb-bar"><div class="lb-bar-fill" style="width:{percent}%"></div></div>
  <div class="lb-running-foot">{percent}% · {where} · ETA {format_duration(item.eta_s)}</div>
</div>"""
        )
    return "\n".join(cards)


def stalled_html(item: RunningItem) -> str:
    """A RUNNING request whose worker stopped renewing its lease: what it reached, and that it is not running."""
    when = item.lease_expired_at.strftime("%H:%M:%S UTC") if item.lease_expired_at else "—"
    return f"""<div class="lb-running lb-stalled">
  <div class="lb-running-head"><b>{html_text(item.model_id)}</b> · {html_text(item.precision)}
    <span class="lb-muted">request {html_text(item.request_id)} · attempt {item.attempt}</span></div>
  <div class="lb-running-foot">⏸️ <b>Not running:</b> its evaluator stopped (the lease ran out at {when}, after
    {round(item.fraction * 100)}%); it goes back to the queue at the next check.</div>
</div>"""


def work_html(work: Work, now: datetime) -> str:
    """A card for background work that holds no RUNNING request: a throughput run or an audit, with its kind,
    stage, progress and ETA."""
    percent = round(work.fraction * 100)
    kind = KIND_LABELS.get(work.kind, work.kind)
    took = format_duration((now - work.started_at).total_seconds())
    return f"""<div class="lb-running lb-work-{html_text(work.kind)}">
  <div class="lb-running-head">{WORK_ICONS.get(work.kind, "⚙️")} <b>{html_text(kind[:1].upper() + kind[1:])}</b>:
    <b>{html_text(work.model_id)}</b> · {html_text(work.precision)}
    <span class="lb-muted">entry {html_text(work.request_id)} · running for {took} · by this Space's background evaluator</span></div>
  <div class="lb-bar"><div class="lb-bar-fill" style="width:{percent}%"></div></div>
  <div class="lb-running-foot">{percent}% · {html_text(work.stage)} · ETA {format_duration(work.eta_left(now))}</div>
</div>"""


def work_progress(work: Work, now: datetime | None = None) -> str:
    """One plain line for the detail page: stage, share done, ETA (markdown-safe)."""
    now = now or datetime.now(UTC)
    eta = format_duration(work.eta_left(now))
    return f"{md_text(work.stage)} · {round(work.fraction * 100)}% · ETA {eta}"


WORK_ICONS = {THROUGHPUT: "🏭", AUDIT: "🔍"}
SPACE_WORKER_PREFIX = (
    "space:"  # `openasr_core.workers.default_worker_name("space")`: the app's own background evaluator
)


def worker_text(worker: str) -> str:
    """Who evaluates, in words a visitor understands; the raw worker id stays in a tooltip (and the Log)."""
    if not worker:
        return "evaluator unknown"
    title = html_text(f"worker id {worker}: the name it recorded in the lease and the public log")
    if worker.startswith(SPACE_WORKER_PREFIX):
        return f'<span title="{title}">by this Space\'s background evaluator</span>'
    return f'<span title="{title}">by an evaluator outside this Space (<code>{html_text(worker)}</code>)</span>'
