from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from openasr_core import layout
from openasr_core.records import Status
from openasr_core.store import LocalStore, Store
from tests.openasr_core.store_contract import FakeClock, StoreContract, make_request, make_result


class TestLocalStore(StoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path, clock: FakeClock) -> Store:
        return LocalStore(tmp_path / "store", clock=clock)


def _claim_all(root: str, worker: str, queue: multiprocessing.Queue) -> None:
    store = LocalStore(root)
    claimed = []
    while (request := store.claim(worker, lease_s=600, max_attempts=3)) is not None:
        claimed.append(request.request_id)
    queue.put(claimed)


def test_processes_claiming_at_once_each_request_claimed_once(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    for n in range(24):
        store.submit(make_request(n))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    workers = [ctx.Process(target=_claim_all, args=(str(tmp_path / "store"), f"w{i}", queue)) for i in range(4)]
    for process in workers:
        process.start()
    claimed = [queue.get(timeout=120) for _ in workers]
    for process in workers:
        process.join(timeout=60)
    every = [request_id for per_worker in claimed for request_id in per_worker]
    assert sorted(every) == sorted(f"req-{n:04d}" for n in range(24))  # each once, none lost
    snap = store.snapshot()
    assert all(r.status is Status.RUNNING and r.attempts == 1 for r in snap.requests.values())
    assert snap.verify_log().ok and len(snap.log) == 48


def test_no_temp_files_left_behind(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.submit(make_request(1))
    store.claim("w", 60, 3)
    assert not [p for p in (tmp_path / "store").rglob("*.tmp")]


def test_result_written_before_crash_is_finished_not_rerun(tmp_path: Path) -> None:
    """A worker that wrote its result but died before marking the request: lease expiry finishes it."""
    clock = FakeClock()
    store = LocalStore(tmp_path / "store", clock=clock)
    store.submit(make_request(1))
    claimed = store.claim("w", lease_s=60, max_attempts=3)
    # Simulate the crash window: the result file exists (its records line does not), the request says RUNNING.
    result = make_result(claimed)
    path = store.results_root / layout.result_path("req-0001")
    path.parent.mkdir(parents=True)
    path.write_bytes(result.to_json().encode())
    clock.advance(61)
    assert store.claim("w2", 60, 3) is None
    snap = store.snapshot()
    assert snap.requests["req-0001"].status is Status.FINISHED and snap.finished_results() == [result]


def test_a_crash_before_state_json_leaves_no_status_change_without_its_log_line(tmp_path: Path) -> None:
    """Shards and log chunks are written before `state.json`; a crash in between changes nothing readers see."""
    from openasr_core.store.requests_repo import requests_files

    store = LocalStore(tmp_path / "store")
    store.submit(make_request(1))
    claimed = store.claim("w", 60, 3)
    view = store._view(store.requests.head())
    files, _ = requests_files(view, [claimed.replace(status=Status.FINISHED, lease=None)], [], None, "crashed")
    for path, data in files.items():
        if path != layout.STATE_FILE:  # the process dies before writing the state
            (store.requests_root / path).parent.mkdir(parents=True, exist_ok=True)
            (store.requests_root / path).write_bytes(data)
    snap = LocalStore(tmp_path / "store").snapshot()
    assert snap.requests["req-0001"].status is Status.RUNNING
    assert [e.event for e in snap.log] == ["submitted", "claimed"]
    store.heartbeat("req-0001", "w", 60)  # the next write replaces the stray shard
    assert LocalStore(tmp_path / "store").snapshot().requests["req-0001"].status is Status.RUNNING
