"""The background scheduler: runs the step on its interval, never two at once, reports its state, stops."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from app import evaluator_step
from leaderboard.scheduler import ALREADY_RUNNING, EvalScheduler, SchedulerStatus, tick_seconds
from tests.markdown_render import shown_text


class MovedClock:
    """A clock the test moves by hand: the scheduler's times come only from it."""

    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 10, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_tick_seconds_from_the_environment() -> None:
    assert tick_seconds({}) == 30.0
    assert tick_seconds({"LEADERBOARD_TICK_S": "1"}) == 1.0
    with pytest.raises(ValueError, match="LEADERBOARD_TICK_S='soon' is not a number"):
        tick_seconds({"LEADERBOARD_TICK_S": "soon"})
    with pytest.raises(ValueError, match="must be above 0"):
        tick_seconds({"LEADERBOARD_TICK_S": "0"})


def test_a_tick_runs_the_step_and_records_its_outcome_at_the_clock_s_times() -> None:
    clock, changed = MovedClock(), []
    t0 = clock.now

    def step() -> str:
        clock.advance(90)  # the evaluation takes a minute and a half
        return "nothing pending"

    scheduler = EvalScheduler(step, 30, on_change=lambda: changed.append(1), clock=clock)
    assert scheduler.tick() == "nothing pending"
    status = scheduler.status()
    assert status.enabled and not status.running and status.last_outcome == "nothing pending"
    assert status.last_started_at == t0 and status.last_finished_at == t0 + timedelta(seconds=90)
    assert changed == [1]
    clock.advance(12)
    assert "last run 12 s ago: nothing pending" in status.describe(clock.now)


def test_a_tick_while_the_step_runs_does_not_run_it_again_and_shows_busy() -> None:
    clock = MovedClock()
    runs: list[str] = []
    seen_while_running: list[str] = []

    def step() -> str:
        runs.append("run")
        clock.advance(120)
        seen_while_running.append(scheduler.tick())  # the next interval fires while this one still runs
        seen_while_running.append(scheduler.status().describe(clock.now))
        return "done"

    scheduler = EvalScheduler(step, 30, clock=clock)
    assert scheduler.tick() == "done"
    assert runs == ["run"] and seen_while_running[0] == ALREADY_RUNNING
    assert "**busy**" in seen_while_running[1] and "for 2 min" in seen_while_running[1]
    assert scheduler.tick() == "done" and len(runs) == 2  # once finished, the next tick runs again


def test_a_failing_step_is_reported_and_the_next_tick_runs_again() -> None:
    calls: list[int] = []

    def step() -> str:
        calls.append(1)
        raise RuntimeError("boom")

    scheduler = EvalScheduler(step, 30, clock=MovedClock())
    assert scheduler.tick() == "error: RuntimeError: boom"
    assert scheduler.status().last_outcome == "error: RuntimeError: boom" and not scheduler.status().running
    scheduler.tick()
    assert len(calls) == 2


def test_apscheduler_is_wired_wake_runs_the_step_and_shutdown_does_not_wait_for_it() -> None:
    """The one test with apscheduler running: wake() reaches tick() on a daemon thread; shutdown returns while
    the step still runs (it is abandoned, its lease will expire). Waits are failure bounds only."""
    entered, release, finished = threading.Event(), threading.Event(), threading.Event()

    def step() -> str:
        entered.set()
        release.wait(30)
        finished.set()
        return "late"

    scheduler = EvalScheduler(step, 3600, first_run_after_s=3600)
    scheduler.start()
    try:
        assert scheduler.status().next_run_at is not None and not entered.is_set()
        scheduler.wake()
        assert entered.wait(30), "wake() did not run the step"
        scheduler.shutdown()
        scheduler.shutdown()  # idempotent
        assert not finished.is_set() and scheduler.status().next_run_at is None
    finally:
        release.set()


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
    assert "**idle**" in line and "every 30 s" in line and "12 s ago: org/m (float16) FINISHED" in shown_text(line)
    assert "next check in 18 s" in line
    assert "no run yet" in SchedulerStatus(enabled=True).describe(now)
    assert "off" in SchedulerStatus(enabled=False, note="runs elsewhere").describe(now)


def test_evaluator_step_describes_what_run_once_returned(tmp_path) -> None:
    from core.config import load_config
    from core.records import Status
    from core.store import LocalStore
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

    config = load_config(env={"LEADERBOARD_STORE": str(tmp_path)})
    step = evaluator_step(config, LocalStore(tmp_path), worker="w1", run_once=fake_run_once)
    assert step() == "nothing pending; no audit: no finished entry to audit"
    assert step() == "org/m (float16) FINISHED"
    assert step() == "org/x (float16) FAILED: no"
    assert seen == ["w1", "w1", "w1"]
