"""The Queue page: what the background scheduler is doing, in jobs mode the Hugging Face Jobs (running ones
with links to their logs, GPU hours and cost of the last 7 days, the weekly budget), then running, pending,
failed and finished requests. It refreshes on a timer while it is the open tab."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import gradio as gr
import pandas as pd

from leaderboard.data import BoardSource
from leaderboard.jobs.status import DispatchStatus, jobs_markdown
from leaderboard.log_view import damaged_markdown
from leaderboard.pages.board import Update
from leaderboard.pages.serving import READ_ONLY
from leaderboard.queue_view import RunningItem, format_duration, queue_view, running_html
from leaderboard.scheduler import CANNOT_EVALUATE, SchedulerStatus
from openasr_core.activity import EVALUATION, KIND_LABELS, Work
from openasr_core.config import ThroughputConfig
from openasr_core.untrusted import md_text

QUEUE_REFRESH_S = 3.0
FAILED_WIDTHS = ["200px", "220px", "90px", "80px", "440px", "220px"]
#: Within a 1,400 px page: a running throughput run's words wrap in their column instead of pushing the
#: request id out of view.
FINISHED_WIDTHS = ["200px", "220px", "90px", "80px", "70px", "70px", "300px", "220px"]


def scheduler_markdown(
    status: SchedulerStatus, now: datetime, running: Sequence[RunningItem], work: Work | None = None
) -> str:
    """One line about the background scheduler that never contradicts itself: while it works, it says what
    it is doing (evaluating what the Running list shows, a throughput run or an audit (`work`), or checking
    the queue) and not the last run's outcome; when idle, the last outcome and the next check. A Space whose
    device check failed says only that it cannot evaluate, and why."""
    if not status.enabled:
        return f"**Scheduler:** off. {status.note or ''}".strip()
    if status.blocked:  # R1: the device check failed, so this Space claims nothing (leaderboard.scheduler)
        return f"**Scheduler:** {CANNOT_EVALUATE}: {md_text(status.blocked)}"
    every = f"checks the queue every {format_duration(status.interval_s)}"
    if status.running:
        since = status.last_started_at
        took = f" for {format_duration((now - since).total_seconds())}" if since else ""
        if work is not None and work.kind != EVALUATION:
            label = KIND_LABELS.get(work.kind, work.kind)
            doing = f"**running the {label} of {md_text(work.model_id)}**{took} (see Running below)"
        elif running or work is not None:
            doing = f"**evaluating**{took} (see Running below)"
        else:
            doing = f"**checking the queue**{took}"
        return f"**Scheduler:** {doing} · {every}."
    parts = [f"**Scheduler:** **idle**, {every}"]
    if status.last_finished_at:
        ago = format_duration((now - status.last_finished_at).total_seconds())
        parts.append(f"last check {ago} ago: {md_text(status.last_outcome or 'done')}")  # may quote an error
    else:
        parts.append("no check yet")
    if status.next_run_at:
        wait = (status.next_run_at - now).total_seconds()
        parts.append("next check now" if wait <= 0.5 else f"next check in {format_duration(wait)}")
    return " · ".join(parts) + "."


class QueuePage:
    """The components of the Queue tab; build inside its `gr.Tab`."""

    def __init__(
        self,
        source: BoardSource,
        scheduler_status: Callable[[], SchedulerStatus],
        max_attempts: int,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        dispatch_status: Callable[[], DispatchStatus] | None = None,
        current_work: Callable[[], Work | None] = lambda: None,
        throughput: ThroughputConfig | None = None,
    ) -> None:
        """`dispatch_status` is the Jobs dispatcher's (jobs mode); None where the Space evaluates itself.
        `current_work`: what the Space's own scheduler runs now (a throughput run or an audit holds no request).
        `throughput`: the throughput runs' retry policy, to say when a failed run is retried."""
        self.current_work = current_work
        self.throughput = throughput or ThroughputConfig()
        self.source, self.scheduler_status, self.max_attempts, self.clock = (
            source,
            scheduler_status,
            max_attempts,
            clock,
        )
        self.dispatch_status = dispatch_status
        self.scheduler = gr.Markdown(elem_id="queue-scheduler")
        self.jobs = gr.Markdown(elem_id="queue-jobs", visible=dispatch_status is not None)
        self.counts = gr.Markdown(elem_id="queue-counts")
        gr.Markdown("### Running")
        self.running = gr.HTML(elem_id="queue-running")
        gr.Markdown("### Pending")
        self.pending_empty = gr.HTML(visible=False)
        self.pending = gr.Dataframe(interactive=False, wrap=True, show_label=False, elem_id="queue-pending")
        gr.Markdown("### Failed\nFailures stay visible (R8); the reason says what to change before resubmitting.")
        self.failed_empty = gr.HTML(visible=False)
        self.failed = gr.Dataframe(
            interactive=False,
            wrap=True,
            show_label=False,
            elem_id="queue-failed",
            max_height=360,
            column_widths=FAILED_WIDTHS,
        )
        gr.Markdown("### Recently finished")
        self.finished_empty = gr.HTML(visible=False)
        self.finished = gr.Dataframe(
            interactive=False,
            wrap=True,
            show_label=False,
            elem_id="queue-finished",
            max_height=360,
            column_widths=FINISHED_WIDTHS,
        )
        self.timer = gr.Timer(QUEUE_REFRESH_S, active=False)

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [
            self.scheduler,
            self.jobs,
            self.counts,
            self.running,
            self.pending_empty,
            self.pending,
            self.failed_empty,
            self.failed,
            self.finished_empty,
            self.finished,
        ]

    def wire(self) -> None:
        self.timer.tick(self.render, outputs=self.outputs, show_progress="hidden", **READ_ONLY)

    def render(self) -> Update:
        loaded = self.source.get()
        now = self.clock()
        flagged = {e.request_id for e in loaded.board.entries if e.flagged}
        snapshot = loaded.snapshot
        view = queue_view(snapshot.requests, snapshot.results, now, flagged, snapshot.log, self.throughput)
        counts = view.counts
        work = self.current_work()
        background = (
            f"**1** {KIND_LABELS.get(work.kind, work.kind)} · " if work is not None and work.kind != EVALUATION else ""
        )
        summary = (
            f"**{counts['running']}** running · {background}**{counts['pending']}** pending · "
            f"**{counts['finished']}** finished · **{counts['failed']}** failed · refreshes every {QUEUE_REFRESH_S:g} s"
        )
        damaged = damaged_markdown(loaded.snapshot.damaged)
        summary += f"\n\n{damaged}" if damaged else ""
        return {
            self.scheduler: scheduler_markdown(self.scheduler_status(), now, view.running, work),
            self.jobs: jobs_markdown(self.dispatch_status() if self.dispatch_status else None),
            self.counts: summary,
            self.running: running_html(view.running, self.max_attempts, work, now),
            **self._box(
                self.pending_empty, self.pending, "The queue is empty — submit a model on the Submit tab.", view.pending
            ),
            **self._box(self.failed_empty, self.failed, "No failed requests.", view.failed),
            **self._box(self.finished_empty, self.finished, "Nothing has finished yet.", view.finished),
        }

    @staticmethod
    def _box(empty: gr.HTML, table: gr.Dataframe, text: str, frame: pd.DataFrame) -> Update:
        return {
            empty: gr.HTML(f'<div class="lb-empty">{text}</div>', visible=frame.empty),
            table: gr.Dataframe(value=frame, visible=not frame.empty),
        }
