"""The contract every store backend must meet. Backends' test modules import `StoreContract` and provide a
`store` fixture built on the `clock` fixture; see test_local_store.py and test_hub_store.py. Leases expire by
moving the clock, never by sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.records import (
    Aggregate,
    BatchEvidence,
    DatasetScore,
    Hardware,
    PredictionRow,
    Progress,
    Request,
    Result,
    Status,
)
from core.store import LeaseLost, Refused, Store, StoreState


def make_request(n: int, submitted_at: str | None = None, **overrides: Any) -> Request:
    values: dict[str, Any] = {
        "request_id": f"req-{n:04d}",
        "model_id": f"org/model-{n}",
        "revision": "a" * 40,
        "requested_revision": "main",
        "precision": "float32",
        "submitter": "alice",
        "submitted_at": submitted_at or f"2026-11-27T09:{n // 60:02d}:{n % 60:02d}Z",
    }
    values.update(overrides)
    return Request(**values)


def make_result(request: Request) -> Result:
    score = DatasetScore(
        wer=0.1,
        wer_ci95=(0.05, 0.15),
        substitutions=1,
        deletions=0,
        insertions=0,
        ref_words=10,
        utterances=2,
        audio_s=4.0,
        time_s=1.0,
        rtf=0.25,
        rtfx=4.0,
        latency_p50_s=0.5,
        latency_p90_s=0.5,
        latency_p99_s=0.5,
        utterance_rtf_p99=0.3,
    )
    return Result(
        request_id=request.request_id,
        model_id=request.model_id,
        revision=request.revision,
        precision=request.precision,
        leaderboard_version="test-v1",
        official=True,
        datasets={"set": score},
        aggregate=Aggregate(avg_wer=0.1, rtf=0.25, rtfx=4.0, meets_realtime=True),
        batch_evidence=BatchEvidence(max_batch_size=1, forward_calls=2),
        warmup_utterances=0,
        hardware=Hardware(device="cpu", gpu_class="CPU"),
        software={"torch": "x"},
        started_at="2026-11-27T09:00:00Z",
        finished_at="2026-11-27T09:01:00Z",
        reproduce="python -m evaluator evaluate --model org/model",
    )


ROWS = [PredictionRow(id="u1", reference="hello world", prediction="Hello, world!", duration_s=2.0, time_s=0.5)]


class FakeClock:
    """A clock tests move by hand: `clock()` is the current aware UTC time, `advance(s)` moves it on."""

    def __init__(self, start: datetime = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class StoreContract:
    """Behaviour both backends share. Subclasses define the `store` fixture, using the `clock` fixture."""

    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock()

    def test_submit_claim_finish_round_trip(self, store: Store) -> None:
        request = store.submit(make_request(1))
        claimed = store.claim("w1", lease_s=60, max_attempts=3)
        assert claimed is not None and claimed.request_id == request.request_id
        assert claimed.status is Status.RUNNING and claimed.attempts == 1 and claimed.lease.worker == "w1"
        store.heartbeat(request.request_id, "w1", 60, Progress(eval_set="set", done=1, total=2))
        snap = store.snapshot()
        assert snap.requests[request.request_id].progress.done == 1
        store.finish(request.request_id, "w1", make_result(claimed), {"set": ROWS})
        snap = store.snapshot()
        assert snap.requests[request.request_id].status is Status.FINISHED
        assert [r.request_id for r in snap.finished_results()] == [request.request_id]
        assert store.predictions(request.request_id, "set") == ROWS
        assert [e.event for e in snap.log] == ["submitted", "claimed", "finished"]
        assert snap.verify_log().ok

    def test_claims_oldest_pending_first(self, store: Store) -> None:
        store.submit(make_request(2, submitted_at="2026-11-27T10:00:00Z"))
        store.submit(make_request(1, submitted_at="2026-11-27T09:00:00Z"))
        assert store.claim("w", 60, 3).request_id == "req-0001"
        assert store.claim("w", 60, 3).request_id == "req-0002"
        assert store.claim("w", 60, 3) is None

    def test_expired_lease_returns_to_pending_then_fails_after_max_attempts(
        self, store: Store, clock: FakeClock
    ) -> None:
        store.submit(make_request(1))
        for attempt in (1, 2):
            claimed = store.claim(f"w{attempt}", lease_s=60, max_attempts=2)
            assert claimed is not None and claimed.attempts == attempt
            clock.advance(59)
            assert store.claim("other", lease_s=60, max_attempts=2) is None  # not expired yet: nothing to take
            clock.advance(2)
        assert store.claim("w3", lease_s=60, max_attempts=2) is None
        request = store.snapshot().requests["req-0001"]
        assert request.status is Status.FAILED and "2 times" in request.error
        log = store.snapshot().log
        assert [e.event for e in log] == ["submitted", "claimed", "lease_expired", "claimed", "failed"]
        assert log[-1].at == "2026-11-27T09:02:02Z"  # stamped by the store's clock, not the wall clock

    def test_heartbeat_extends_the_lease_from_the_clock(self, store: Store, clock: FakeClock) -> None:
        store.submit(make_request(1))
        store.claim("w", lease_s=60, max_attempts=3)
        clock.advance(50)
        renewed = store.heartbeat("req-0001", "w", 60)
        assert renewed.lease.expires_at == "2026-11-27T09:01:50.000Z"
        clock.advance(50)  # 100 s after the claim, 50 s after the heartbeat: still held
        assert store.claim("other", 60, 3) is None
        clock.advance(11)
        assert store.claim("other", 60, 3).lease.worker == "other"

    def test_worker_that_lost_its_lease_cannot_finish(self, store: Store, clock: FakeClock) -> None:
        store.submit(make_request(1))
        first = store.claim("w1", lease_s=60, max_attempts=3)
        clock.advance(61)
        second = store.claim("w2", lease_s=60, max_attempts=3)
        assert second is not None and second.request_id == first.request_id and second.attempts == 2
        with pytest.raises(LeaseLost):
            store.finish(first.request_id, "w1", make_result(first), {"set": ROWS})
        with pytest.raises(LeaseLost):
            store.fail(first.request_id, "w1", "boom")
        store.finish(second.request_id, "w2", make_result(second), {"set": ROWS})
        assert store.snapshot().requests[first.request_id].status is Status.FINISHED

    def test_fail_keeps_reason_visible(self, store: Store) -> None:
        store.submit(make_request(1))
        store.claim("w", 60, 3)
        store.fail("req-0001", "w", "model folder has no safetensors weights")
        snap = store.snapshot()
        assert snap.requests["req-0001"].status is Status.FAILED
        assert snap.log[-1].event == "failed" and "safetensors" in snap.log[-1].detail["error"]

    def test_submit_check_runs_inside_transaction_and_refusal_writes_nothing(self, store: Store) -> None:
        store.submit(make_request(1))

        def no_duplicates(state: StoreState) -> None:
            if any(r.model_id == "org/model-1" for r in state.requests.values()):
                raise Refused("org/model-1 is already queued")

        with pytest.raises(Refused):
            store.submit(make_request(2, model_id="org/model-1"), check=no_duplicates)
        snap = store.snapshot()
        assert list(snap.requests) == ["req-0001"] and len(snap.log) == 1

    def test_snapshot_hides_results_of_unfinished_requests(self, store: Store) -> None:
        store.submit(make_request(1))
        assert store.snapshot().finished_results() == []
