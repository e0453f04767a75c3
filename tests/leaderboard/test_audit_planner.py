"""One planner for both modes (R13, issue 22): the Space's step and the Jobs dispatcher decide "evaluate, else
audit" with `openasr_core.audits.plan_work`, from the same log, with the same attempts and the same reasons."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import evaluator_step
from leaderboard.jobs.plan import plan_audit_job, plan_tick
from openasr_core.audits import plan_work
from openasr_core.config import AuditConfig, WorkersConfig, load_config
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_request, make_result

WORKERS = WorkersConfig(mode="jobs", space_id="o/s", max_parallel_jobs=2, max_gpu_hours_per_week=10.0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def _board(tmp_path: Path):
    config = load_config(env={"LEADERBOARD_STORE": str(tmp_path / "store")})
    config = dataclasses.replace(config, version="v1", audit=AuditConfig(every_n_evaluations=2, max_attempts=2))
    store = LocalStore(tmp_path / "store")
    clock = Clock()
    store.clock = clock
    finish_in_store(store, [make_result("r1", "org/a"), make_result("r2", "org/b", wers={"ami": 0.5})])
    return config, store, clock


def _both(config, store, clock) -> tuple[str, tuple[str | None, str | None, str]]:
    """What the Jobs dispatcher would do (launch, drop, reason), then what the Space's step does (its line)."""
    snap = store.snapshot()
    plan = plan_tick(clock(), snap.requests, [], WORKERS, 6)
    job = plan_audit_job(
        clock(),
        snap.requests,
        [],
        snap.log,
        entries=2,
        plan=plan,
        workers=WORKERS,
        policy=config.audit,
        max_jobs_per_request=6,
        seed=7,
    )
    launched = None if job.launch is None else (job.launch.request_id or "random")
    audited: list[str | None] = []

    def run_audit(config, store, *, request_id, auditor):
        audited.append(request_id)
        store.log_audit_progress(request_id or "r1", "audit_started", auditor, {"attempt": 1})
        store.log_audit_progress(request_id or "r1", "audit_inconclusive", auditor, {"reason": "busy"})
        return f"audited {request_id or 'random'}"

    step = evaluator_step(config, store, worker="w", run_once=lambda *a, **k: None, run_audit=run_audit, clock=clock)
    return step(), (launched, job.drop, job.reason)


def test_both_modes_take_the_same_decisions_from_the_same_log(tmp_path: Path) -> None:
    config, store, clock = _board(tmp_path)
    space, (launched, drop, reason) = _both(config, store, clock)  # two evaluations since none: a random audit
    assert space == "audited random" and launched == "random" and drop is None
    # the random pick was inconclusive on r1: both retry r1 later, not a new pick, and wait the same
    space, (launched, drop, reason) = _both(config, store, clock)
    assert launched is None and "the audit of r1 is tried again after" in reason and reason in space
    clock.now += timedelta(minutes=config.audit.retry_after_minutes)
    space, (launched, drop, reason) = _both(config, store, clock)
    assert space == "audited r1" and launched == "r1" and "attempt 2 of 2" in reason
    # two attempts, both inconclusive: both drop it, with the same reason, which the Space logs
    space, (launched, drop, reason) = _both(config, store, clock)
    assert drop == "r1" and launched is None and "2 attempt(s)" in reason
    dropped = store.snapshot().log[-1]
    assert dropped.event == "audit_dropped" and dropped.detail["reason"] == reason and not dropped.detail["requested"]
    # a pending submission: both evaluate first
    store.submit(make_request("r3", "org/c"))
    space, (launched, drop, reason) = _both(config, store, clock)
    assert reason == "1 submission(s) waiting: evaluations go first" and launched is None


@pytest.mark.parametrize("minutes", [0, 59])
def test_the_planner_waits_retry_after_minutes_between_attempts(tmp_path: Path, minutes: int) -> None:
    config, store, clock = _board(tmp_path)
    store.request_audit("r2", "bob")
    store.log_audit_progress("r2", "audit_started", "w", {"attempt": 1})
    store.log_audit_progress("r2", "audit_attempt_failed", "w", {"reason": "StoreUnavailable: x", "kind": "transient"})
    clock.now += timedelta(minutes=minutes)
    decide = {"pending": 0, "running": 0, "entries": 2, "now": clock(), "policy": config.audit}
    assert plan_work(log=store.snapshot().log, **decide).action == "idle"
    clock.now += timedelta(minutes=60 - minutes)
    plan = plan_work(log=store.snapshot().log, now=clock(), **{k: v for k, v in decide.items() if k != "now"})
    assert (plan.action, plan.request_id, plan.attempt, plan.requested) == ("audit", "r2", 2, True)
