"""What the Queue page shows about Jobs (running Jobs with links to their logs, GPU hours and cost of the last
7 days, whether the weekly budget holds dispatch back) and the budget sentence of the About page.

`DispatchStatus` is plain data, built by the dispatcher after each tick; `jobs_markdown` renders it with every
untrusted string (model ids, Hub messages) escaped, so the UI only has to place the text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import quote

from leaderboard.jobs.plan import AUDIT, EVALUATION
from leaderboard.queue_view import format_duration
from leaderboard.table import escape_markdown
from openasr_core.config import WorkersConfig


@dataclass(frozen=True)
class JobRow:
    """One live Job: which request it evaluates (or audits), since when, and where its logs are."""

    job_id: str
    request_id: str
    model_id: str
    stage: str
    running_s: float
    timeout_s: float | None
    url: str
    kind: str = EVALUATION


@dataclass(frozen=True)
class DispatchStatus:
    """The dispatcher after its last tick. `cost_usd_7d` is None when the flavor's price is not listed."""

    flavor: str
    max_parallel_jobs: int
    budget_hours: float
    running: tuple[JobRow, ...] = ()
    gpu_hours_7d: float = 0.0
    cost_usd_7d: float | None = None
    price_usd_per_minute: float | None = None
    price_date: str | None = None
    held: Mapping[str, str] = field(default_factory=dict)
    checked_at: datetime | None = None
    error: str | None = None
    #: What the last tick decided about audits (R13): why none started, or why one did.
    audits: str | None = None

    @property
    def budget_spent(self) -> bool:
        return self.gpu_hours_7d >= self.budget_hours


def _code(text: str) -> str:
    """An inline code span; a backtick would close it early, so none gets in (markdown is not parsed inside)."""
    return "`" + text.replace("`", "'") + "`"


def safe_link(url: str) -> str | None:
    """The Job's URL (as the Hub reported it) fit for a markdown link: only http(s), and the characters that
    would end the link or open markup percent-encoded; None when it is not a web address."""
    if not url.startswith(("https://", "http://")):
        return None
    return quote(url, safe=":/?#@&=+,;%~-._!$*'")


def _job_line(row: JobRow) -> str:
    timeout = f" of at most {format_duration(row.timeout_s)}" if row.timeout_s else ""
    job = f"Job {escape_markdown(row.job_id)}"
    link = safe_link(row.url)
    logs = f"[{job} and its logs]({link})" if link else f"{job} (no link to its logs)"
    if row.request_id:
        what = f"**{escape_markdown(row.model_id)}** (request {_code(row.request_id)})"
    else:
        what = "an entry picked at random"
    if row.kind == AUDIT:
        what = f"audit of {what}"
    return f"- {what}: {escape_markdown(row.stage.lower())}, {format_duration(row.running_s)}{timeout} · {logs}"


def jobs_markdown(status: DispatchStatus | None) -> str:
    """The Queue page's Jobs section, in markdown; empty when evaluations run in the Space itself."""
    if status is None:
        return ""
    price = (
        f"${status.price_usd_per_minute * 60:.2f}/h listed on {escape_markdown(str(status.price_date))}"
        if status.price_usd_per_minute is not None
        else "price not listed"
    )
    cost = f"${status.cost_usd_7d:.2f}" if status.cost_usd_7d is not None else "unknown cost"
    paragraphs = [
        f"**Evaluations and audits run on Hugging Face Jobs** ({escape_markdown(status.flavor)}, {price}; "
        f"at most {status.max_parallel_jobs} at once).",
        f"Last 7 days: **{status.gpu_hours_7d:.2f} GPU hours**, {cost}, of a weekly budget of "
        f"{status.budget_hours:g} GPU hours.",
    ]
    if status.budget_spent:
        paragraphs.append(
            "**The weekly GPU budget is spent: new evaluations wait until older Jobs leave the 7-day window.**"
        )
    if status.error:
        paragraphs.append(f"Last check of the Jobs failed: {escape_markdown(status.error)}")
    if status.checked_at is None and not status.running:
        paragraphs.append("The dispatcher has not checked the Jobs yet.")
        return "\n\n".join(paragraphs)
    paragraphs.append(f"Running Jobs: {len(status.running)}" + (":" if status.running else "."))
    if status.running:
        paragraphs.append("\n".join(_job_line(row) for row in status.running))
    if status.audits:
        paragraphs.append(f"Audits (R13): {escape_markdown(status.audits)}.")
    others = {rid: why for rid, why in status.held.items() if why != "the weekly GPU budget is spent"}
    if others:
        held = (f"- held: request {_code(rid)}: {escape_markdown(why)}" for rid, why in others.items())
        paragraphs.append("Held back (no new Job):\n\n" + "\n".join(held))
    return "\n\n".join(paragraphs)


def budget_sentence(workers: WorkersConfig) -> str:
    """For the About page: who evaluates, and the weekly GPU budget in jobs mode."""
    if workers.mode != "jobs":
        return "Evaluations run one at a time on the Space's own GPU."
    return (
        f"Evaluations run on Hugging Face Jobs ({workers.flavor}), at most {workers.max_parallel_jobs} at once, "
        f"within a budget of {workers.max_gpu_hours_per_week:g} GPU hours per 7 days; each result records its "
        "GPU seconds and their cost at the flavor's listed price. Audits run on the same Jobs when the queue is empty."
    )
