"""Issue 26, item 6: a throughput run longer than its lease keeps it. The attempt renews its lease in the public
log (`throughput_renewed`) every third of a lease through the same keeper as batch one's heartbeat, so no other
worker takes the run over mid-run; a renewal of an attempt that is no longer the run's is refused and extends
nothing, and that attempt stops without logging a failure of a run that is not its own."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest

from evaluator.job import throughput_step
from evaluator.throughput_eval import ThroughputEvaluation
from openasr_core.config import ThroughputConfig
from openasr_core.records import LogEntry
from openasr_core.store import ThroughputTaken
from openasr_core.throughput_runs import (
    THROUGHPUT_FAILED,
    THROUGHPUT_RENEWED,
    THROUGHPUT_STARTED,
    owed_run,
)
from testkit.factories import make_throughput
from tests.evaluator.test_throughput_retries import ROWS, _events
from tests.evaluator.test_throughput_retries import board as board

SHORT = ThroughputConfig(lease_minutes=0.01, max_attempts=3, retry_after_minutes=10.0)  # 0.6 s: renewed every 0.2 s


def _wait_for(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_ladder_longer_than_its_lease_is_not_taken_over(board, monkeypatch) -> None:
    config, store, clock = board
    config = dataclasses.replace(config, throughput=SHORT)
    refused: list[str] = []

    def long_ladder(config_, spec, **kwargs):
        clock.now += timedelta(minutes=SHORT.lease_minutes * 5)  # far past the lease it started with
        assert _wait_for(lambda: len(_events(store, THROUGHPUT_RENEWED)) >= 2)  # renewed from "now"
        try:
            store.start_throughput("t1", "other-worker", 60)
        except ThroughputTaken as exc:
            refused.append(str(exc))
        return ThroughputEvaluation(make_throughput(spec.request_id), dict(ROWS), 1.0)

    monkeypatch.setattr("evaluator.throughput_eval.evaluate_throughput", long_ladder)
    assert throughput_step(config, store, "t1", "w1") == "throughput run of t1: published"
    assert refused and "holds the throughput run" in refused[0]
    assert all(e.detail["worker"] == "w1" and e.detail["attempt"] == 1 for e in _events(store, THROUGHPUT_RENEWED))


def test_an_attempt_taken_over_stops_and_logs_no_failure(board, monkeypatch) -> None:
    config, store, clock = board
    config = dataclasses.replace(config, throughput=SHORT)

    def stalled_ladder(config_, spec, should_stop, **kwargs):
        with store._lock:  # a paused process: no renewal gets through while another worker takes the run over
            clock.now += timedelta(minutes=SHORT.lease_minutes * 5)
            store.start_throughput("t1", "other-worker", 3600)
        assert _wait_for(should_stop)
        raise_stop()

    def raise_stop():
        from evaluator.runner import Stopped

        raise Stopped("asked to stop")

    monkeypatch.setattr("evaluator.throughput_eval.evaluate_throughput", stalled_ladder)
    assert "not published" in throughput_step(config, store, "t1", "w1")
    assert _events(store, THROUGHPUT_FAILED) == []  # attempt 2 (other-worker's) is not marked failed
    run = owed_run("t1", store.snapshot().log)
    assert run is not None and run.attempts == 2 and run.worker == "other-worker" and run.failed_at is None


def _entry(n: int, event: str, **detail: object) -> LogEntry:
    return LogEntry(n, "2026-11-27T10:00:00Z", "t1", event, "w", detail, "", "")


@pytest.mark.parametrize(
    ("renewal", "extended"),
    [
        ({"attempt": 2, "worker": "w2"}, True),
        ({"attempt": 1, "worker": "w1"}, False),  # a late renewal of the superseded attempt
        ({"attempt": 2, "worker": "w1"}, False),
    ],
)
def test_only_the_latest_attempt_s_renewal_extends_the_lease(renewal: dict, extended: bool) -> None:
    log = [
        _entry(1, THROUGHPUT_STARTED, attempt=1, worker="w1", lease_expires_at="2026-11-27T10:10:00Z"),
        _entry(2, THROUGHPUT_STARTED, attempt=2, worker="w2", lease_expires_at="2026-11-27T11:00:00Z"),
        _entry(3, THROUGHPUT_RENEWED, lease_expires_at="2026-11-27T12:00:00Z", **renewal),
    ]
    run = owed_run("t1", log)
    assert run is not None and run.lease_expires_at is not None
    assert (run.lease_expires_at.hour == 12) is extended
