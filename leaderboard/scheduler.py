"""The background scheduler: one apscheduler interval job that runs the evaluator's claim-and-evaluate step.

- `max_instances=1` and `coalesce=True`: never two evaluations at once in this process, and ticks missed
  while one ran collapse into one run instead of a burst.
- The job runs on a daemon thread, never on the UI's threads, so a page stays responsive while a model is
  evaluated. A clean stop (`stop`: SIGINT, or the SIGTERM of a Space restart) asks the running step to stop
  through the injected `WorkTracker` and waits a few seconds for it: the evaluation stops at its next
  utterance and hands its request back to the queue with a log event. Only a step that does not end in time
  is abandoned to its lease (`app.py` then hands its request back itself).
- Its state (running or idle, last run and outcome, next run) is kept in a small thread-safe object that the
  Queue page reads.
- R1: an injected device check runs on the first tick (once per process). When it names a problem (the board
  wants a GPU class this process cannot see), the step never runs: nothing is claimed or audited, the line is
  logged once and kept in the state (`blocked`), and the Queue page shows "this Space cannot evaluate: ...".

The step, the device check and the clock are injected: `app.py` hands in the evaluator's step and check (this
module never imports the evaluator), and tests call `tick()` directly with a fake step and a clock they move,
without apscheduler.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.schedulers.background import BackgroundScheduler

from leaderboard.queue_view import format_duration
from openasr_core.activity import WorkTracker
from openasr_core.untrusted import md_text

logger = logging.getLogger(__name__)

DEFAULT_TICK_S = 30.0
JOB_ID = "evaluate-next"
#: What `tick()` returns when the step was already running (apscheduler's `max_instances=1` makes it rare).
ALREADY_RUNNING = "already running"
#: What `tick()` returns once the scheduler was stopped.
STOPPED = "stopped"
#: How the Queue page and the tick's outcome introduce the device check's problem.
CANNOT_EVALUATE = "this Space cannot evaluate"


def utc_now() -> datetime:
    return datetime.now(UTC)


def tick_seconds(env: dict[str, str] | os._Environ[str] | None = None) -> float:
    """The interval from `LEADERBOARD_TICK_S` (seconds, default 30); a bad value names the fix."""
    env = os.environ if env is None else env
    raw = env.get("LEADERBOARD_TICK_S", "").strip()
    if not raw:
        return DEFAULT_TICK_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"LEADERBOARD_TICK_S={raw!r} is not a number of seconds; set it to e.g. 30") from None
    if not value > 0:
        raise ValueError(f"LEADERBOARD_TICK_S={raw!r} must be above 0 seconds; set it to e.g. 30")
    return value


@dataclass(frozen=True)
class SchedulerStatus:
    """What the Queue page shows about the scheduler."""

    enabled: bool
    running: bool = False
    interval_s: float = DEFAULT_TICK_S
    started_at: datetime | None = None
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_outcome: str | None = None
    next_run_at: datetime | None = None
    note: str | None = None
    blocked: str | None = None  # the device check's problem: this process does not evaluate at all

    def describe(self, now: datetime) -> str:
        """One markdown line: state, last run and outcome, next run."""
        if not self.enabled:
            return f"**Scheduler:** off. {self.note or ''}".strip()
        if self.blocked:
            return f"**Scheduler:** {CANNOT_EVALUATE}: {md_text(self.blocked)}"
        if self.running and self.last_started_at:
            state = f"**busy**, checking the queue, evaluating or auditing (for {format_duration((now - self.last_started_at).total_seconds())})"
        else:
            state = "**idle**"
        parts = [f"**Scheduler:** {state}, checks the queue every {format_duration(self.interval_s)}"]
        if self.last_finished_at:
            ago = format_duration((now - self.last_finished_at).total_seconds())
            parts.append(f"last run {ago} ago: {md_text(self.last_outcome or 'done')}")  # may quote an error
        else:
            parts.append("no run yet")
        if self.next_run_at and not self.running:
            wait = (self.next_run_at - now).total_seconds()
            parts.append("next check now" if wait <= 0.5 else f"next check in {format_duration(wait)}")
        return " · ".join(parts) + "."


class SchedulerState:
    """Thread-safe holder of the scheduler's state: the job thread writes, page callbacks read copies."""

    def __init__(self, enabled: bool, interval_s: float, note: str | None = None) -> None:
        self._lock = threading.Lock()
        self._status = SchedulerStatus(enabled=enabled, interval_s=interval_s, note=note)

    def snapshot(self) -> SchedulerStatus:
        with self._lock:
            return self._status

    def update(self, **changes: Any) -> None:
        with self._lock:
            self._status = replace(self._status, **changes)


class DaemonThreadExecutor(BaseExecutor):
    """Runs each job on its own daemon thread, so interpreter exit never waits for a long evaluation.

    apscheduler's thread pool uses `concurrent.futures`, whose workers are joined at exit; an evaluation can
    take many minutes, and a Space restart or Ctrl-C should not hang on it (the lease makes that safe).
    """

    def _do_submit_job(self, job: Any, run_times: list[datetime]) -> None:
        def target() -> None:
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)

        threading.Thread(target=target, name=f"apscheduler-{job.id}", daemon=True).start()


class EvalScheduler:
    """Runs `step` every `interval_s` seconds in the background; `step` returns a one-line outcome."""

    def __init__(
        self,
        step: Callable[[], str],
        interval_s: float,
        *,
        on_change: Callable[[], None] | None = None,
        first_run_after_s: float = 1.0,
        clock: Callable[[], datetime] = utc_now,
        device_problem: Callable[[], str | None] | None = None,
        work: WorkTracker | None = None,
    ) -> None:
        """`device_problem` (None: no check) returns None when this process may evaluate, else why not.
        `work`: what the step reports its work to, and through which `stop` asks it to stop."""
        self.step = step
        self.work = work
        self._device_problem = device_problem
        self._device_checked = False
        self.clock = clock
        self._tick_lock = threading.Lock()
        self.interval_s = interval_s
        self.on_change = on_change
        self.first_run_after_s = first_run_after_s
        self.state = SchedulerState(enabled=True, interval_s=interval_s)
        self._scheduler = BackgroundScheduler(
            executors={"default": DaemonThreadExecutor()},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": max(1, int(interval_s))},
            timezone=UTC,
            daemon=True,
        )
        self._stopped = False

    def start(self) -> None:
        """Schedule the job (first run shortly after start, so requests left from before a restart go on)."""
        now = self.clock()
        self._scheduler.add_job(
            self.tick,
            "interval",
            seconds=self.interval_s,
            id=JOB_ID,
            next_run_time=now + timedelta(seconds=self.first_run_after_s),
        )
        self._scheduler.start()
        self.state.update(started_at=now)
        self._refresh_next_run()
        logger.info("scheduler started: checking the queue every %s s", self.interval_s)

    def wake(self) -> None:
        """Run the job as soon as possible (after a submission), unless it is running already."""
        if self._stopped or self.state.snapshot().running:
            return
        job = self._scheduler.get_job(JOB_ID)
        if job is not None:
            job.modify(next_run_time=self.clock())
            self._refresh_next_run()

    def status(self) -> SchedulerStatus:
        self._refresh_next_run()
        return self.state.snapshot()

    def shutdown(self) -> None:
        """Stop scheduling; idempotent, safe from atexit and signal handlers. A running step is abandoned."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._scheduler.running:
                self._scheduler.shutdown(wait=False)
        except Exception:  # shutting down must never raise on the way out
            logger.exception("scheduler shutdown failed")
        self.state.update(next_run_at=None)
        logger.info("scheduler stopped")

    def stop(self, reason: str, grace_s: float) -> bool:
        """A clean stop: no tick starts any more, the running step is asked to stop (`reason` goes into the log
        event of the request it hands back), and up to `grace_s` seconds are waited for it. True when no step
        is left running."""
        if self.work is not None:
            self.work.request_stop(reason)
        self.shutdown()
        if not self._tick_lock.acquire(timeout=max(0.0, grace_s)):
            return False
        self._tick_lock.release()
        return True

    def _refresh_next_run(self) -> None:
        if self._stopped or not self._scheduler.running:
            return
        job = self._scheduler.get_job(JOB_ID)
        self.state.update(next_run_at=job.next_run_time if job else None)

    def tick(self) -> str:
        """One run of the step (what apscheduler calls on each interval): its outcome, recorded in the state
        with the clock's times. A tick while the step runs does nothing and returns `ALREADY_RUNNING`."""
        if not self._tick_lock.acquire(blocking=False):
            return ALREADY_RUNNING
        if self._stopped:  # a tick that fired as the process was stopping starts nothing
            self._tick_lock.release()
            return STOPPED
        try:
            self.state.update(running=True, last_started_at=self.clock())
            blocked = self._blocked()
            if blocked:
                outcome = f"{CANNOT_EVALUATE}: {blocked}"  # nothing claimed, nothing audited
            else:
                try:
                    outcome = self.step()
                except Exception as exc:  # keep ticking: one bad run must not stop the queue
                    logger.exception("scheduled evaluation step failed")
                    outcome = f"error: {type(exc).__name__}: {str(exc)[:200]}"
            self.state.update(running=False, last_finished_at=self.clock(), last_outcome=outcome)
        finally:
            self._tick_lock.release()
        self._refresh_next_run()
        if self.on_change is not None:
            try:
                self.on_change()
            except Exception:
                logger.exception("scheduler on_change callback failed")
        return outcome

    def _blocked(self) -> str | None:
        """The device check's problem, asked once per process (the hardware does not change under it) and
        logged once; a check that itself fails is a problem too (the evaluator could not run either)."""
        if self._device_problem is None:
            return None
        if not self._device_checked:
            self._device_checked = True
            try:
                problem = self._device_problem()
            except Exception as exc:
                logger.exception("the device check failed")
                problem = f"the device check failed ({type(exc).__name__}: {str(exc)[:200]})"
            if problem:
                logger.warning("%s: %s", CANNOT_EVALUATE, problem)
                self.state.update(blocked=problem)
        return self.state.snapshot().blocked
