"""The background scheduler: runs the step on its interval, never two at once, reports its state, stops."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from app import evaluator_step
from leaderboard.scheduler import ALREADY_RUNNING, EvalScheduler, SchedulerStatus, tick_seconds
from testkit.markdown_render import shown_text


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
    from openasr_core.config import load_config
    from openasr_core.records import Status
    from openasr_core.store import LocalStore
    from testkit.factories import make_request

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


def test_a_worker_that_fails_the_device_check_never_claims_and_logs_the_line_once(caplog) -> None:
    """R1: the check runs once (first tick); while it names a problem no step runs (no claim, no audit), the
    line is logged once, and the Queue page and the status line show it."""
    from leaderboard.pages.queue import scheduler_markdown

    checks: list[int] = []
    runs: list[int] = []

    def check() -> str:
        checks.append(1)
        return "the board's results are official only on A10G, and this machine's GPU is NVIDIA H100 (class H100)"

    scheduler = EvalScheduler(lambda: runs.append(1) or "ran", 30, clock=MovedClock(), device_problem=check)
    caplog.set_level("INFO", logger="leaderboard.scheduler")
    for _ in range(3):
        outcome = scheduler.tick()
    assert runs == [] and checks == [1]
    assert outcome.startswith("this Space cannot evaluate: the board's results are official only on A10G")
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warned) == 1 and "class H100" in warned[0]
    status = scheduler.status()
    assert status.blocked is not None and "class H100" in status.blocked
    page = shown_text(scheduler_markdown(status, MovedClock().now, []))
    assert page.startswith("Scheduler: this Space cannot evaluate: ") and "NVIDIA H100 (class H100)" in page
    assert "this Space cannot evaluate" in status.describe(MovedClock().now)


def test_a_worker_that_passes_the_device_check_runs_its_step_and_asks_only_once() -> None:
    checks: list[int] = []
    scheduler = EvalScheduler(
        lambda: "nothing pending", 30, clock=MovedClock(), device_problem=lambda: checks.append(1)
    )
    assert scheduler.tick() == "nothing pending" and scheduler.tick() == "nothing pending"
    assert checks == [1] and scheduler.status().blocked is None


def test_a_device_check_that_fails_itself_blocks_the_worker() -> None:
    def check() -> str:
        raise ImportError("libcudart.so.13: cannot open shared object file")

    runs: list[int] = []
    scheduler = EvalScheduler(lambda: runs.append(1) or "ran", 30, clock=MovedClock(), device_problem=check)
    assert "the device check failed (ImportError: libcudart" in scheduler.tick() and runs == []


def test_the_space_checks_its_device_in_space_mode_only(tmp_path, monkeypatch) -> None:
    """`build_app` gives the scheduler the evaluator's device check for the board's GPU class; in jobs mode the
    Space only dispatches, so its own hardware is not checked."""
    import dataclasses

    import app as app_module
    from evaluator import device_check
    from openasr_core.config import WorkersConfig, load_config

    h100 = device_check.DeviceProbe("2.13.0", "13.0", True, "NVIDIA H100 80GB HBM3")
    monkeypatch.setattr(device_check, "probe_device", lambda: h100)
    env = {"LEADERBOARD_STORE": str(tmp_path / "store"), "LEADERBOARD_SCHEDULER": "on"}
    official = load_config("configs/esb-v1.toml", env=env)
    built = app_module.build_app(official, env=env)
    assert built.scheduler is not None and built.dispatcher is None
    assert "class H100" in built.scheduler.tick() and built.scheduler.status().blocked
    local = app_module.build_app(load_config("configs/local.toml", env=env), env=env)
    assert local.scheduler is not None and local.scheduler._blocked() is None, "the local board runs anywhere"
    monkeypatch.setattr(app_module, "jobs_dispatcher", lambda *_args: SimpleNamespace(tick=lambda: "", status=None))
    jobs = dataclasses.replace(official, workers=WorkersConfig(mode="jobs", space_id="org/space"))
    assert app_module.build_app(jobs, env=env).scheduler._device_problem is None
