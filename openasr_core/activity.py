"""What this process's background worker is doing now, and whether it was asked to stop.

The store shows a RUNNING request with its progress, but a throughput run (R14) and an audit (R13) run after
their request FINISHED, so a page reading the store alone said "Nothing is being evaluated" through minutes of
work. The worker reports here whatever it runs (`Work`: kind, entry, stage, fraction done, ETA), and the Queue
and detail pages read it. The same object carries the stop a signal asks for (SIGINT, SIGTERM: what a Space
restart sends): the running step polls `stop_requested` between utterances or batches and hands its request
back instead of being killed mid-call.

Thread-safe: the scheduler's step thread writes, page callbacks and the signal handler read. No torch, no
gradio: the evaluator and the Space both import it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from openasr_core.records import Progress

EVALUATION = "evaluation"
THROUGHPUT = "throughput"
AUDIT = "audit"
#: How each kind of work is named on the pages.
KIND_LABELS = {EVALUATION: "evaluation", THROUGHPUT: "throughput run (R14)", AUDIT: "audit (R13)"}


@dataclass(frozen=True)
class Work:
    """One piece of background work as the pages show it."""

    kind: str
    request_id: str
    model_id: str
    precision: str
    worker: str
    started_at: datetime
    stage: str = "loading the model and data"
    fraction: float = 0.0
    eta_s: float | None = None
    updated_at: datetime | None = None

    def eta_left(self, now: datetime) -> float | None:
        """The ETA counted down from when it was reported (never below zero)."""
        if self.eta_s is None:
            return None
        since = (now - (self.updated_at or self.started_at)).total_seconds()
        return max(0.0, self.eta_s - since)


class WorkTracker:
    """The current `Work` of one worker (None when idle) and its stop flag."""

    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._work: Work | None = None
        self._stop = threading.Event()
        self._stop_reason = ""

    def begin(self, kind: str, request_id: str, model_id: str, precision: str, worker: str) -> None:
        """Start showing `kind` of work on `request_id` (replaces whatever was shown)."""
        with self._lock:
            self._work = Work(kind, request_id, model_id, precision, worker, started_at=self.clock())

    def report(self, stage: str, fraction: float, eta_s: float | None) -> None:
        """Progress of the current work: what it is at, the share done (0..1), seconds left if known."""
        with self._lock:
            if self._work is not None:
                share = min(1.0, max(0.0, fraction))
                self._work = replace(self._work, stage=stage, fraction=share, eta_s=eta_s, updated_at=self.clock())

    def report_progress(self, progress: Progress, prefix: str = "") -> None:
        """An evaluation's `Progress` (eval set, utterances, ETA) as the current work's progress."""
        within = progress.done / progress.total if progress.total else 0.0
        sets = max(progress.sets_total, 1)
        stage = (
            f"{prefix}eval set {progress.eval_set} ({progress.sets_done + 1} of {sets}): "
            f"{progress.done}/{progress.total} utterances"
        )
        self.report(stage, (progress.sets_done + within) / sets, progress.eta_s)

    def end(self) -> None:
        with self._lock:
            self._work = None

    def current(self) -> Work | None:
        with self._lock:
            return self._work

    def request_stop(self, reason: str) -> None:
        """Ask the running work to stop at its next check (idempotent; the first reason is kept)."""
        with self._lock:
            if not self._stop.is_set():
                self._stop_reason = reason
                self._stop.set()

    def stop_requested(self) -> bool:
        return self._stop.is_set()

    @property
    def stop_reason(self) -> str:
        with self._lock:
            return self._stop_reason


class RateEta:
    """Seconds left from the rate so far: `(total - done) * elapsed / done`, None before the first unit."""

    def __init__(self, clock: Callable[[], float] = time.perf_counter) -> None:
        self.clock = clock
        self.started = clock()

    def restart(self) -> None:
        self.started = self.clock()

    def left(self, done: int, total: int) -> float | None:
        if done <= 0 or total <= done:
            return None if done <= 0 else 0.0
        return round((total - done) * (self.clock() - self.started) / done, 1)
