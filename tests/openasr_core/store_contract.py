"""The contract every store backend must meet. Backends' test modules import `StoreContract` and provide a
`store` fixture built on the `clock` fixture; see test_local_store.py and test_hub_store.py. Leases expire by
moving the clock, never by sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from openasr_core.records import PredictionRow, Progress, Request, Result, Status
from openasr_core.store import LeaseLost, Refused, Store, StoreError, StoreState
from testkit import factories


def make_request(n: int, submitted_at: str | None = None, **overrides: Any) -> Request:
    """Request number `n` (`req-000n` for `org/model-n`), as the store tests number them (`testkit.factories`)."""
    values: dict[str, Any] = {
        "model_id": f"org/model-{n}",
        "revision": "a" * 40,
        "precision": "float32",
        "model": None,
        "submitted_at": submitted_at or f"2026-11-27T09:{n // 60:02d}:{n % 60:02d}Z",
    }
    return factories.make_request(f"req-{n:04d}", **{**values, **overrides})


def make_result(request: Request) -> Result:
    """An unsigned result for `request` on one eval set `set` (WER 0.1, RTF 0.25), from `testkit.factories`."""
    return factories.make_result(
        request.request_id,
        request.model_id,
        wers={"set": 0.1},
        rtf=0.25,
        precision=request.precision,
        revision=request.revision,
        version="test-v1",
        gpu_class="CPU",
        with_model=False,
        signature=None,
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

    def test_claim_of_a_named_request_takes_only_that_one(self, store: Store) -> None:
        store.submit(make_request(1))
        store.submit(make_request(2))
        claimed = store.claim("job-1", lease_s=60, max_attempts=3, request_id="req-0002")
        assert claimed is not None and claimed.request_id == "req-0002"  # not the oldest: the one named
        assert store.claim("job-2", lease_s=60, max_attempts=3, request_id="req-0002") is None  # held: exit
        assert store.claim("job-3", lease_s=60, max_attempts=3, request_id="req-0404") is None
        assert store.snapshot().requests["req-0001"].status is Status.PENDING

    def test_audit_record_and_its_log_event_are_written_together(self, store: Store) -> None:
        from openasr_core.signing import audit_hash
        from testkit.factories import make_audit

        store.submit(make_request(1))
        claimed = store.claim("w1", lease_s=60, max_attempts=3)
        store.finish("req-0001", "w1", make_result(claimed), {"set": ROWS})  # type: ignore[arg-type]
        record = make_audit(request_id="req-0001")
        entry = store.record_audit(record, actor="auditor")
        assert entry.event == "audit_failed" and entry.detail["audit_sha256"] == audit_hash(record)
        snap = store.snapshot()
        assert snap.published_audits() == [record] and snap.verify_log().ok
        with pytest.raises(StoreError, match="already recorded"):
            store.record_audit(record, actor="auditor")
        store.submit(make_request(2))
        with pytest.raises(StoreError, match="not a finished entry"):
            store.record_audit(make_audit(request_id="req-0002", audit_id="a-2"), actor="auditor")
        assert [e.event for e in store.snapshot().log][-2:] == ["audit_failed", "submitted"]
