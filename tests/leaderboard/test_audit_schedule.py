"""The Space's step runs audits (R13) only when no submission waits, requested ones first, at the configured
cadence and within the daily budget; fakes stand in for the evaluator and a moved clock for time."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import evaluator_step
from openasr_core.config import AuditConfig, LeaderboardConfig, load_config
from openasr_core.records import Request, Status
from openasr_core.store import LocalStore, Refused
from testkit.factories import finish_in_store, make_audit, make_request, make_result


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def board(tmp_path: Path) -> tuple[LeaderboardConfig, LocalStore]:
    config = load_config(env={"LEADERBOARD_STORE": str(tmp_path / "store")})
    config = dataclasses.replace(config, version="v1", audit=AuditConfig(every_n_evaluations=2, max_minutes_per_day=10))
    store = LocalStore(tmp_path / "store")
    finish_in_store(store, [make_result("r1", "org/a"), make_result("r2", "org/b", wers={"ami": 0.5})])
    return config, store


class Fakes:
    """run_once returns what the queue holds (claiming it), run_audit records a passing audit of 90 s."""

    def __init__(self, store: LocalStore, clock: Clock) -> None:
        self.store, self.clock = store, clock
        self.audited: list[str | None] = []
        self.evaluated: list[str] = []

    def run_once(self, config: LeaderboardConfig, store: LocalStore, *, worker: str) -> Request | None:
        claimed = store.claim(worker, 60, 3)
        if claimed is None:
            return None
        self.evaluated.append(claimed.request_id)
        return store.fail(claimed.request_id, worker, "not evaluated in this test")

    def run_audit(self, config: LeaderboardConfig, store: LocalStore, *, request_id: str | None, auditor: str) -> str:
        self.audited.append(request_id)
        at = self.clock.now.isoformat(timespec="seconds").replace("+00:00", "Z")
        record = make_audit(
            audit_id=f"a{len(self.audited)}",
            request_id=request_id or "r1",
            passed=True,
            checks=[],
            evidence=[],
            duration_s=90.0,
            finished_at=at,
        )
        store.record_audit(record, actor=auditor)
        return f"audited {request_id}"

    def step(self, config: LeaderboardConfig) -> Callable[[], str]:
        return evaluator_step(
            config, self.store, worker="w", run_once=self.run_once, run_audit=self.run_audit, clock=self.clock
        )


def test_random_audit_when_due_then_waits_for_the_cadence(board) -> None:
    config, store = board
    clock = Clock()
    fakes = Fakes(store, clock)
    step = fakes.step(config)
    assert step() == "audited None"  # two evaluations finished, none audited yet: due
    assert "0 of 2 evaluations since the last audit" in step()
    assert fakes.audited == [None]


def test_a_pending_submission_goes_first_and_waits_for_one_audit_at_most(board) -> None:
    config, store = board
    clock = Clock()
    fakes = Fakes(store, clock)
    store.submit(make_request("r3", "org/c", submitted_at="2026-11-27T11:00:00Z"))
    step = fakes.step(config)
    assert "FAILED" in step() and fakes.evaluated == ["r3"] and fakes.audited == []  # evaluation, no audit
    store.submit(make_request("r4", "org/d", submitted_at="2026-11-27T11:01:00Z"))
    assert "FAILED" in step() and fakes.audited == []  # still one per tick, evaluations first


def test_requested_audits_are_served_first_and_skip_the_cadence(board) -> None:
    config, store = board
    clock = Clock()
    fakes = Fakes(store, clock)
    step = fakes.step(config)
    step()  # the due random audit
    store.request_audit("r2", "bob")
    assert step() == "audited r2"
    assert "0 of 2 evaluations" in step() and fakes.audited == [None, "r2"]
    events = [e.event for e in store.snapshot().log]
    assert events[-3:] == ["audit_passed", "audit_requested", "audit_passed"]


def test_the_daily_budget_holds_audits_until_the_clock_moves_on(board) -> None:
    config, store = board
    config = dataclasses.replace(config, audit=AuditConfig(every_n_evaluations=1, max_minutes_per_day=1))
    clock = Clock()
    fakes = Fakes(store, clock)
    step = fakes.step(config)
    assert step() == "audited None"  # 90 s used of a 60 s budget
    store.request_audit("r2", "bob")
    assert "audits used 1.5 of 1 minutes" in step() and fakes.audited == [None]
    clock.now += timedelta(hours=24, seconds=1)
    assert step() == "audited r2"


def test_audit_requests_are_refused_for_unfinished_entries_and_twice(board) -> None:
    _, store = board
    store.submit(make_request("r3", "org/c"))
    with pytest.raises(Refused, match="not a finished entry"):
        store.request_audit("r3", "bob")
    entry = store.request_audit("r1", "bob")
    assert entry.event == "audit_requested" and entry.detail["model_id"] == "org/a"
    with pytest.raises(Refused, match="already requested"):
        store.request_audit("r1", "carol")
    assert store.snapshot().verify_log().ok
    assert store.snapshot().requests["r3"].status is Status.PENDING


def test_an_audit_that_cannot_run_is_dropped_publicly_and_closes_its_request(board) -> None:
    """The real scheduled audit: an entry of another leaderboard version cannot be re-run by this config."""
    from evaluator.audit import scheduled_audit

    config, store = board
    store.request_audit("r1", "bob")
    other = dataclasses.replace(config, version="v2")
    line = scheduled_audit(other, store, request_id="r1", auditor="audit:w")
    assert "could not run" in line and "leaderboard version" in line
    last = store.snapshot().log[-1]
    assert last.event == "audit_dropped" and last.detail["requested"] is True
    assert not store.snapshot().published_audits()
    from openasr_core.audits import open_audit_requests

    assert open_audit_requests(store.snapshot().log) == []


def test_no_audit_runs_on_a_store_that_cannot_record_it(board) -> None:
    config, store = board
    store.writes_audits = False  # as a backend without audit records
    fakes = Fakes(store, Clock())
    assert "LocalStore cannot record audits yet" in fakes.step(config)() and fakes.audited == []
