"""An audit attempt that fails ends after its attempts, in the public log (R13, issue 22): the Space's step and
an audit Job run the same `scheduled_audit`, and the same planner (`openasr_core.audits.plan_work`) decides."""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app import evaluator_step
from evaluator import audit
from evaluator.errors import ErrorKind, error_kind
from evaluator.evaluate import evaluate
from evaluator.recipes.base import DecodingStalled
from openasr_core.audits import open_audits
from openasr_core.config import LeaderboardConfig
from openasr_core.store import LocalStore, StoreUnavailable
from testkit.audio import make_audiofolder
from tests.evaluator.test_audit import _evaluated_board
from tests.fixtures.clock import use_step_clock
from tests.fixtures.load import StatedLoad


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def board(tmp_path: Path, tiny_ctc: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LeaderboardConfig, LocalStore]:
    use_step_clock(monkeypatch, 0.01)
    monkeypatch.setattr(audit, "new_probe", StatedLoad())
    return _evaluated_board(tmp_path, tiny_ctc, make_audiofolder(tmp_path / "s", ["hello", "world"]))


def _never_evaluates(*args, **kwargs):
    raise AssertionError("the step must not evaluate: nothing is pending")


def _step(config, store, clock, evaluate_fn):
    store.clock = clock  # the log's times and the planner's now from one injected clock
    run_audit = functools.partial(audit.scheduled_audit, evaluate_fn=evaluate_fn)
    return evaluator_step(config, store, worker="w", run_once=lambda *a, **k: None, run_audit=run_audit, clock=clock)


@pytest.mark.parametrize(
    "error", [DecodingStalled("generation ran past 448 tokens"), RuntimeError("CUDA out of memory"), KeyError("bug")]
)
def test_a_failing_requested_audit_ends_as_dropped_after_its_attempts_and_is_logged(board, error) -> None:
    """Space mode: each tick is one attempt, logged started and failed (with the error's kind); none runs before
    `retry_after_minutes`; after `max_attempts` (3) the planner drops it with the last reason, and stops."""
    config, store = board
    store.request_audit("req-0001", actor="someone")

    def fails(*args, **kwargs):
        raise error

    clock = Clock()
    step = _step(config, store, clock, fails)
    lines = []
    for _ in range(2):
        lines.append(step())
        assert "tried again after" in step()  # the next tick waits for the retry delay: no re-run every 30 s
        clock.now += timedelta(minutes=config.audit.retry_after_minutes)
    lines.append(step())  # the third and last attempt
    lines.append(step())  # spent: dropped at once
    events = [(e.event, e.detail.get("attempt")) for e in store.snapshot().log if e.event.startswith("audit_")]
    assert events == [
        ("audit_requested", None),
        *[(event, n) for n in (1, 2, 3) for event in ("audit_started", "audit_attempt_failed")],
        ("audit_dropped", None),
    ]
    failed = [e for e in store.snapshot().log if e.event == "audit_attempt_failed"]
    assert {e.detail["kind"] for e in failed} == {str(error_kind(error))}
    dropped = store.snapshot().log[-1]
    assert type(error).__name__ in dropped.detail["reason"] and dropped.detail["requested"] is True
    assert "3 attempt(s)" in dropped.detail["reason"] and "dropped" in lines[-1]
    assert open_audits(store.snapshot().log) == []
    assert "no audit" in step()  # closed: nothing more runs


def test_an_attempt_that_dies_is_counted_by_its_started_event(board) -> None:
    """A worker killed mid-audit logs nothing more; its `audit_started` still counts toward the attempts."""
    config, store = board
    store.request_audit("req-0001", actor="someone")
    for n in (1, 2, 3):
        store.log_audit_progress("req-0001", "audit_started", "audit:w", {"attempt": n})
    clock = Clock()
    line = _step(config, store, clock, _never_evaluates)()
    assert "dropped" in line and "ended without an outcome" in store.snapshot().log[-1].detail["reason"]


def test_an_inconclusive_random_audit_is_retried_on_the_same_entry_later(board) -> None:
    config, store = board
    store.log_audit_progress("req-0001", "audit_started", "audit:w", {"attempt": 1, "selection": "random"})
    store.log_audit_progress("req-0001", "audit_inconclusive", "audit:w", {"reason": "busy", "duration_s": 5.0})
    (waiting,) = open_audits(store.snapshot().log)
    assert not waiting.requested and waiting.attempts == 1
    clock = Clock()
    clock.now += timedelta(minutes=config.audit.retry_after_minutes)
    line = _step(config, store, clock, evaluate)()
    assert line == "audit of org/tiny (float32) passed", line
    (record,) = store.snapshot().published_audits()
    assert record.selection == "retry"
    started = [e for e in store.snapshot().log if e.event == "audit_started"]
    assert started[-1].detail["attempt"] == 2


def test_one_table_classifies_every_error() -> None:
    from evaluator.device_check import WrongDevice
    from evaluator.models import HubUnreachable, ModelLoadError
    from evaluator.runner import UtteranceTimeout
    from openasr_core.config import ConfigError
    from openasr_core.store import LeaseLost, StoreError
    from openasr_core.weights import WeightMismatch

    assert error_kind(StoreUnavailable("the Hub kept failing")) is ErrorKind.TRANSIENT
    assert error_kind(LeaseLost("x")) is ErrorKind.TRANSIENT
    assert error_kind(HubUnreachable("cannot download")) is ErrorKind.TRANSIENT  # a subclass of ModelLoadError
    assert error_kind(ConnectionResetError()) is ErrorKind.TRANSIENT
    for user in (ModelLoadError("x"), WeightMismatch("x"), UtteranceTimeout("x"), DecodingStalled("x")):
        assert error_kind(user) is ErrorKind.USER
    for cannot in (StoreError("x"), ConfigError("x"), WrongDevice("x"), audit.AuditUnavailable("x")):
        assert error_kind(cannot) is ErrorKind.CANNOT_RUN
    assert error_kind(ValueError("x")) is ErrorKind.BUG and error_kind(KeyError("x")) is ErrorKind.BUG
