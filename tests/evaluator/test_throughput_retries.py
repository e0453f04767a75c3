"""Issue 26 item 6: the throughput run (R14) is crash-safe. Each attempt takes a lease in the public log
(`throughput_started`), an error is logged `throughput_failed` with its kind, spent attempts end in
`throughput_dropped`, a publication cut off before its event is finished by the next tick, and the one planner
(`openasr_core.audits.plan_work`) decides it the same in the Space and in the Jobs dispatcher. Clocks are moved, never
waited for; the ladder itself is faked (its own tests are in test_throughput.py)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import evaluator_step
from evaluator.throughput_eval import ThroughputEvaluation
from leaderboard.jobs.jobs_api import JobRequestSpec
from leaderboard.jobs.plan import THROUGHPUT, Launch, plan_audit_job, plan_tick
from openasr_core.config import ThroughputConfig, WorkersConfig, load_config
from openasr_core.records import THROUGHPUT_PUBLISHED, PredictionRow
from openasr_core.signing import sign_result, signing_key_for
from openasr_core.store import LocalStore, ThroughputTaken
from openasr_core.throughput_runs import THROUGHPUT_DROPPED, THROUGHPUT_FAILED, THROUGHPUT_STARTED
from testkit.factories import make_request, make_result, make_throughput

ROWS = {"ami": [PredictionRow("a", "hello", "hello", 2.0, 0.001)]}
WORKERS = WorkersConfig(mode="jobs", space_id="o/s", max_parallel_jobs=2, max_gpu_hours_per_week=10.0)
POLICY = ThroughputConfig(lease_minutes=60.0, max_attempts=3, retry_after_minutes=10.0)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def board(tmp_path: Path):
    """A local board with one finished request (`t1`) that asked for throughput; the store's clock is `clock`."""
    config = load_config(env={"LEADERBOARD_STORE": str(tmp_path / "store")})
    config = dataclasses.replace(config, throughput=POLICY)
    store = LocalStore(tmp_path / "store")
    clock = Clock()
    store.clock = clock
    store.submit(make_request("t1", "org/a").replace(throughput=True))
    claimed = store.claim("w0", 600, 3)
    assert claimed is not None
    store.finish("t1", "w0", make_result("t1", "org/a"), {"ami": ROWS["ami"] * 2})
    return config, store, clock


def _events(store: LocalStore, *names: str) -> list:
    return [e for e in store.snapshot().log if e.request_id == "t1" and e.event in names]


def _step(config, store, clock, worker: str = "space"):
    """The Space's scheduler step, with no batch-one work and no audits to do."""
    return evaluator_step(config, store, worker=worker, run_once=lambda *a, **k: None, clock=clock)


def _ladder(config, monkeypatch, outcomes: list) -> list[str]:
    """Fake the ladder: each call takes the next outcome (an exception to raise, or "ok" for a signed record)."""
    calls: list[str] = []

    def fake(config_, spec, **kwargs):
        calls.append(spec.request_id)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return ThroughputEvaluation(make_throughput(spec.request_id), dict(ROWS), 1.0)

    monkeypatch.setattr("evaluator.throughput_eval.evaluate_throughput", fake)
    return calls


def test_a_kill_between_record_and_event_is_republished_by_the_next_tick_and_shown_once(board, monkeypatch) -> None:
    config, store, clock = board
    calls = _ladder(config, monkeypatch, [])  # any ladder run would fail the test: the record is reused
    store.start_throughput("t1", "killed-worker", POLICY.lease_minutes * 60)
    record = sign_result(make_throughput("t1"), signing_key_for(config))
    store._store_throughput(record, ROWS)
    assert store.throughput_results() == {} and store.throughput_residue("t1") == record
    assert "held by killed-worker" in _step(config, store, clock)()  # its lease holds: nothing runs
    clock.now += timedelta(minutes=POLICY.lease_minutes)
    assert _step(config, store, clock)() == "throughput run of t1: published"
    assert calls == [] and list(store.throughput_results()) == ["t1"]
    assert [e.detail["attempt"] for e in _events(store, THROUGHPUT_STARTED)] == [1, 2]
    assert len(_events(store, THROUGHPUT_PUBLISHED)) == 1
    _step(config, store, clock)()  # nothing more is owed: no second event, the tab shows it once
    assert len(_events(store, THROUGHPUT_PUBLISHED)) == 1 and len(_events(store, THROUGHPUT_STARTED)) == 2
    assert store.publish_throughput(record, ROWS) == _events(store, THROUGHPUT_PUBLISHED)[0]  # idempotent


def test_a_crash_mid_run_is_retried_once_its_lease_runs_out(board, monkeypatch) -> None:
    config, store, clock = board
    calls = _ladder(config, monkeypatch, ["ok"])
    store.start_throughput("t1", "crashed-worker", POLICY.lease_minutes * 60)  # then SIGKILL: no record, no line
    clock.now += timedelta(minutes=POLICY.lease_minutes - 1)
    assert "held by crashed-worker" in _step(config, store, clock)() and calls == []
    clock.now += timedelta(minutes=1)
    assert _step(config, store, clock)() == "throughput run of t1: published" and calls == ["t1"]
    (started,) = [e for e in _events(store, THROUGHPUT_STARTED) if e.detail["attempt"] == 2]
    assert started.detail["worker"] == "space" and started.detail["lease_expires_at"].startswith("2026-11-27T14:00")
    assert list(store.throughput_results()) == ["t1"]


def test_three_failures_end_in_a_drop_with_the_reason(board, monkeypatch) -> None:
    config, store, clock = board
    calls = _ladder(config, monkeypatch, [RuntimeError(f"CUDA error {n}") for n in range(3)])
    for n in range(3):
        assert _step(config, store, clock)() == "throughput run of t1: not published (see the log)"
        if n < 2:
            assert "retried after" in _step(config, store, clock)()  # the pause after a failure
            clock.now += timedelta(minutes=POLICY.retry_after_minutes)
    failed = _events(store, THROUGHPUT_FAILED)
    assert [(e.detail["attempt"], e.detail["error_kind"]) for e in failed] == [(1, "bug"), (2, "bug"), (3, "bug")]
    assert "RuntimeError: CUDA error 2" in failed[-1].detail["reason"]
    outcome = _step(config, store, clock)()
    (dropped,) = _events(store, THROUGHPUT_DROPPED)
    assert "dropped" in outcome and dropped.detail["attempts"] == 3
    assert "3 throughput attempt(s)" in dropped.detail["reason"] and "CUDA error 2" in dropped.detail["reason"]
    assert len(calls) == 3 and "t1" not in _step(config, store, clock)()  # nothing owed any more
    assert store.throughput_results() == {} and store.snapshot().results["t1"].request_id == "t1"  # batch one kept


def test_two_workers_never_run_the_same_throughput_at_once(board, monkeypatch) -> None:
    config, store, clock = board
    calls = _ladder(config, monkeypatch, ["ok"])
    store.start_throughput("t1", "w1", POLICY.lease_minutes * 60)
    with pytest.raises(ThroughputTaken):
        store.start_throughput("t1", "w2", POLICY.lease_minutes * 60)
    from evaluator.job import throughput_step

    assert "not published" in throughput_step(config, store, "t1", "w2") and calls == []  # refused, ran nothing
    clock.now += timedelta(minutes=POLICY.lease_minutes)  # w1 is slow: its lease ran out, w2 takes the run over
    store.start_throughput("t1", "w2", POLICY.lease_minutes * 60)
    with pytest.raises(ThroughputTaken):  # w1 comes back with its record: it publishes nothing
        store.publish_throughput(make_throughput("t1"), ROWS, actor="w1", worker="w1")
    assert store.throughput_residue("t1") is None and store.throughput_results() == {}


def _both(config, store, clock, jobs=()) -> tuple[str, tuple[str | None, str | None, str, str | None]]:
    """What the Jobs dispatcher would do (launch kind and request, drop, reason), then the Space's step line."""
    snap = store.snapshot()
    plan = plan_tick(clock(), snap.requests, list(jobs), WORKERS, 6)
    asked = [r.request_id for r in snap.requests.values() if r.throughput and r.status.value == "FINISHED"]
    job = plan_audit_job(
        clock(),
        snap.requests,
        list(jobs),
        snap.log,
        entries=1,
        plan=plan,
        workers=WORKERS,
        policy=config.audit,
        max_jobs_per_request=6,
        seed=7,
        throughput_requested=asked,
        throughput_policy=config.throughput,
    )
    launched = None if job.launch is None else f"{job.launch.kind}:{job.launch.request_id}"
    return _step(config, store, clock)(), (launched, job.drop, job.reason, job.drop_kind if job.drop else None)


def test_both_modes_plan_the_owed_throughput_run_alike(board, monkeypatch) -> None:
    config, store, clock = board
    _ladder(config, monkeypatch, [RuntimeError("boom")] * 3)
    store.submit(make_request("p1", "org/b"))  # a pending submission goes first, in both modes
    space, (launched, drop, reason, _) = _both(config, store, clock)
    assert reason == "1 submission(s) waiting: evaluations go first" and launched is None
    store.claim("w", 600, 3)
    store.fail("p1", "w", "gone")
    for attempt in (1, 2, 3):
        space, (launched, drop, reason, _) = _both(config, store, clock)
        assert launched == f"{THROUGHPUT}:t1" and f"attempt {attempt} of 3" in reason and "not published" in space
        clock.now += timedelta(minutes=POLICY.retry_after_minutes)
    spec = JobRequestSpec("img", ("python", "-m", "evaluator", "run-once"), ("audit",), "a10g", {}, {}, {})
    assert spec.command_for(Launch("t1", 60, kind=THROUGHPUT))[-3:] == [
        "--request-id",
        "t1",
        "--throughput-only",
    ]
    space, (launched, drop, reason, kind) = _both(config, store, clock)
    assert (launched, drop, kind) == (None, "t1", THROUGHPUT) and f"dropped: {reason[:160]}" in space
