"""A store holding finished requests, for the leaderboard tests; the records come from `tests.factories`."""

from __future__ import annotations

from collections.abc import Sequence

from core.records import PredictionRow, Result
from core.store import Store
from tests.factories import SHA, make_request, make_result, score

__all__ = ["SHA", "finish_in_store", "make_request", "make_result", "score"]


def finish_in_store(store: Store, results: Sequence[Result], *, lease_s: float = 600) -> None:
    """Submit, claim and finish one request per result, with two prediction rows per eval set."""
    for result in results:
        store.submit(make_request(result.request_id, result.model_id, precision=result.precision))
    for _ in results:
        claimed = store.claim("worker-1", lease_s, 3)
        assert claimed is not None
        target = next(r for r in results if r.request_id == claimed.request_id)
        predictions = {
            name: [
                PredictionRow(
                    id=f"{name}-{i}", reference="hello world", prediction="Hello world!", duration_s=2.0, time_s=0.2
                )
                for i in range(2)
            ]
            for name in target.datasets
        }
        store.finish(claimed.request_id, "worker-1", target, predictions)
