"""The background scheduler: runs the step on its interval, never two at once, reports its state, stops."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from leaderboard.scheduler import EvalScheduler, SchedulerStatus, evaluator_step, tick_seconds


def wait_until(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


def test_tick_seconds_from_the_environment() -> None:
    assert tick_seconds({}) == 30.0
    assert tick_seconds({"LEADERBOARD_TICK_S": "1"}) == 1.0
    with pytest.raises(ValueError, match="LEADERBOARD_TICK_S='soon' is not a number"):
        tick_seconds({"LEADERBOARD_TICK_S": "soon"})
    with pytest.raises(ValueError, match="must be above 0"):
        tick_seconds({"LEADERBOARD_TICK_S": "0"})


def test_runs_on_its_interval_and_reports_the_outcome() -> None:
    calls = []
    changed = threading.Event()
    scheduler = EvalScheduler(
        lambda: calls.append(1) or "nothing pending", 0.1, on_change=changed.set, first_run_after_s=0
    )
    scheduler.start()
    try:
        wait_until(lambda: len(calls) >= 3)
        status = scheduler.status()
        assert status.enabled and status.last_outcome == "nothing pending" and status.last_finished_at is not None
        assert status.next_run_at is not None and changed.is_set()
    finally:
        scheduler.shutdown()


def test_never_two_runs_at_once_and_the_ui_thread_is_not_blocked() -> None:
    active, most = [0], [0]
    lock = threading.Lock()
    release = threading.Event()

    def slow_step() -> str:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
        release.wait(5)
        with lock:
            active[0] -= 1
        return "done"

    scheduler = EvalScheduler(slow_step, 0.05, first_run_after_s=0)
    started = time.monotonic()
    scheduler.start()
    assert time.monotonic() - started < 1.0  # start() returns at once
    try:
        wait_until(lambda: scheduler.status().running)
        time.sleep(0.4)  # several ticks pass while the step runs
        assert most[0] == 1
        assert "busy" in scheduler.status().describe(datetime.now(UTC))
        release.set()
        wait_until(lambda: scheduler.status().last_outcome == "done")
    finally:
        release.set()
        scheduler.shutdown()


def test_a_failing_step_is_reported_and_the_scheduler_keeps_going() -> None:
    calls = []

    def step() -> str:
        calls.append(1)
        raise RuntimeError("boom")

    scheduler = EvalScheduler(step, 0.1, first_run_after_s=0)
    scheduler.start()
    try:
        wait_until(lambda: len(calls) >= 2)
        assert scheduler.status().last_outcome == "error: RuntimeError: boom"
    finally:
        scheduler.shutdown()


def test_shutdown_is_idempotent_and_does_not_wait_for_a_running_step() -> None:
    release = threading.Event()
    scheduler = EvalScheduler(lambda: release.wait(10) and "late", 0.05, first_run_after_s=0)
    scheduler.start()
    wait_until(lambda: scheduler.status().running)
    started = time.monotonic()
    scheduler.shutdown()
    scheduler.shutdown()
    assert time.monotonic() - started < 2.0
    assert scheduler.status().next_run_at is None
    release.set()


def test_wake_runs_the_job_soon() -> None:
    calls = []
    scheduler = EvalScheduler(lambda: calls.append(1) or "ok", 3600, first_run_after_s=3600)
    scheduler.start()
    try:
        time.sleep(0.2)
        assert calls == []
        scheduler.wake()
        wait_until(lambda: calls == [1])
    finally:
        scheduler.shutdown()


def test_status_lines() -> None:
    now = datetime(2026, 11, 27, 10, tzinfo=UTC)
    idle = SchedulerStatus(
        enabled=True,
        interval_s=30,
        last_finished_at=now - timedelta(seconds=12),
        last_outcome="org/m (float16) FINISHED",
        next_run_at=now + timedelta(seconds=18),
    )
    line = idle.describe(now)
    assert "**idle**" in line and "every 30 s" in line and "12 s ago: org/m (float16) FINISHED" in line
    assert "next check in 18 s" in line
    assert "no run yet" in SchedulerStatus(enabled=True).describe(now)
    assert "off" in SchedulerStatus(enabled=False, note="runs elsewhere").describe(now)


def test_evaluator_step_describes_what_run_once_returned(monkeypatch) -> None:
    import evaluator.job
    from core.records import Status
    from tests.leaderboard.factories import make_request

    answers = [
        None,
        make_request("r", "org/m", status=Status.FINISHED),
        make_request("f", "org/x", status=Status.FAILED, error="no"),
    ]
    seen = []

    def fake_run_once(config, store, *, worker=None):
        seen.append(worker)
        return answers.pop(0)

    monkeypatch.setattr(evaluator.job, "run_once", fake_run_once)
    step = evaluator_step(object(), object(), worker="w1")  # type: ignore[arg-type]
    assert step() == "nothing pending"
    assert step() == "org/m (float16) FINISHED"
    assert step() == "org/x (float16) FAILED: no"
    assert seen == ["w1", "w1", "w1"]
