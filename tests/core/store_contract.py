"""The contract every store backend must meet. Backends' test modules import `StoreContract` and provide a
`make_store(tmp_path)` fixture; see test_local_store.py and test_hub_store.py."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.records import PredictionRow, Progress, Request, Result, Status
from core.store import LeaseLost, Refused, Store, StoreState
from tests import factories


def make_request(n: int, submitted_at: str | None = None, **overrides: Any) -> Request:
    """Request number `n` (`req-000n` for `org/model-n`), as the store tests number them (`tests.factories`)."""
    values: dict[str, Any] = {
        "model_id": f"org/model-{n}",
        "revision": "a" * 40,
        "precision": "float32",
        "model": None,
        "submitted_at": submitted_at or f"2026-11-27T09:{n // 60:02d}:{n % 60:02d}Z",
    }
    return factories.make_request(f"req-{n:04d}", **{**values, **overrides})


def make_result(request: Request) -> Result:
    """An unsigned result for `request` on one eval set `set` (WER 0.1, RTF 0.25), from `tests.factories`."""
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


class StoreContract:
    """Behaviour both backends share. Subclasses define the `store` fixture."""

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

    def test_expired_lease_returns_to_pending_then_fails_after_max_attempts(self, store: Store) -> None:
        store.submit(make_request(1))
        for attempt in (1, 2):
            claimed = store.claim(f"w{attempt}", lease_s=0.05, max_attempts=2)
            assert claimed is not None and claimed.attempts == attempt
            time.sleep(0.1)
        assert store.claim("w3", lease_s=60, max_attempts=2) is None
        request = store.snapshot().requests["req-0001"]
        assert request.status is Status.FAILED and "2 times" in request.error
        events = [e.event for e in store.snapshot().log]
        assert events == ["submitted", "claimed", "lease_expired", "claimed", "failed"]

    def test_worker_that_lost_its_lease_cannot_finish(self, store: Store) -> None:
        store.submit(make_request(1))
        first = store.claim("w1", lease_s=0.05, max_attempts=3)
        time.sleep(0.1)
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
