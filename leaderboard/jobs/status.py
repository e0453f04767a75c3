"""What the Queue page shows about Jobs (running Jobs with links to their logs, GPU hours and cost of the last
7 days, whether the weekly budget holds dispatch back) and the budget sentence of the About page.

`DispatchStatus` is plain data, built by the dispatcher after each tick; `jobs_markdown` renders it with every
untrusted string (model ids, Hub messages) escaped, so the UI only has to place the text.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from core.config import WorkersConfig
from leaderboard.queue import format_duration
from leaderboard.table import escape_markdown


@dataclass(frozen=True)
class JobRow:
    """One live Job: which request it evaluates, since when, and where its logs are."""

    job_id: str
    request_id: str
    model_id: str
    stage: str
    running_s: float
    timeout_s: float | None
    url: str


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

    @property
    def budget_spent(self) -> bool:
        return self.gpu_hours_7d >= self.budget_hours


def _job_line(row: JobRow) -> str:
    timeout = f" of at most {format_duration(row.timeout_s)}" if row.timeout_s else ""
    return (
        f"- **{escape_markdown(row.model_id)}** (request `{html.escape(row.request_id)}`): {row.stage.lower()}, "
        f"{format_duration(row.running_s)}{timeout} · [Job {html.escape(row.job_id)} and its logs]({row.url})"
    )


def jobs_markdown(status: DispatchStatus | None) -> str:
    """The Queue page's Jobs section, in markdown; empty when evaluations run in the Space itself."""
    if status is None:
        return ""
    price = (
        f"${status.price_usd_per_minute * 60:.2f}/h listed on {status.price_date}"
        if status.price_usd_per_minute is not None
        else "price not listed"
    )
    cost = f"${status.cost_usd_7d:.2f}" if status.cost_usd_7d is not None else "unknown cost"
    lines = [
        f"**Evaluations run on Hugging Face Jobs** ({html.escape(status.flavor)}, {price}; "
        f"at most {status.max_parallel_jobs} at once).",
        f"Last 7 days: **{status.gpu_hours_7d:.2f} GPU hours**, {cost}, of a weekly budget of "
        f"{status.budget_hours:g} GPU hours.",
    ]
    if status.budget_spent:
        lines.append(
            "**The weekly GPU budget is spent: new evaluations wait until older Jobs leave the 7-day window.**"
        )
    if status.error:
        lines.append(f"Last check of the Jobs failed: {escape_markdown(status.error)}")
    lines.append(f"Running Jobs: {len(status.running)}" + (":" if status.running else "."))
    lines.extend(_job_line(row) for row in status.running)
    others = {rid: why for rid, why in status.held.items() if why != "the weekly GPU budget is spent"}
    lines.extend(f"- held: request `{html.escape(rid)}`: {escape_markdown(why)}" for rid, why in others.items())
    return "\n".join(lines)


def budget_sentence(workers: WorkersConfig) -> str:
    """For the About page: who evaluates, and the weekly GPU budget in jobs mode."""
    if workers.mode != "jobs":
        return "Evaluations run one at a time on the Space's own GPU."
    return (
        f"Evaluations run on Hugging Face Jobs ({workers.flavor}), at most {workers.max_parallel_jobs} at once, "
        f"within a budget of {workers.max_gpu_hours_per_week:g} GPU hours per 7 days; each result records its "
        "GPU seconds and their cost at the flavor's listed price."
    )
