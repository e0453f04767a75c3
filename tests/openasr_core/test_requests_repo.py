"""The requests repo in format 3: a small queue in `state.json`, submissions in `open/<xx>.jsonl`; format 2 read."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from openasr_core import layout
from openasr_core.records import ModelInfo, Status
from openasr_core.store import LocalStore
from openasr_core.store import requests_repo as repo
from testkit.hub_emulator import HubEmulator
from tests.openasr_core.store_contract import ROWS, make_request, make_result


def _state(store: LocalStore) -> dict:
    return json.loads((store.requests_root / layout.STATE_FILE).read_text())


def _big(n: int):
    """A request whose submission carries a lot (many weight files), as real model facts and claims do."""
    weights = {f"model-{i:05d}-of-00099.safetensors": "ab" * 32 for i in range(40)}
    return make_request(n).replace(
        model=ModelInfo(
            license="mit", parameters=10**9, architecture="WhisperForConditionalGeneration", weight_files=weights
        )
    )


def test_the_queue_stays_small_whatever_the_requests_carry_and_a_finish_leaves_the_open_shards(
    tmp_path: Path,
) -> None:
    store = LocalStore(tmp_path / "store")
    for n in range(1, 41):
        store.submit(_big(n))
    claimed = store.claim("w", 600, 3)
    opened = {p: p.read_bytes() for p in (store.requests_root / layout.OPEN_DIR).glob("*.jsonl")}
    state_size = len((store.requests_root / layout.STATE_FILE).read_bytes())
    assert state_size < 40 * 200, state_size  # the 40 submissions themselves are about 4 KB each
    assert sum(map(len, opened.values())) > 40 * 3000
    store.finish(claimed.request_id, "w", make_result(claimed), {"set": ROWS})
    assert {p: p.read_bytes() for p in (store.requests_root / layout.OPEN_DIR).glob("*.jsonl")} == opened
    snap = LocalStore(tmp_path / "store").snapshot()
    assert snap.requests["req-0002"] == _big(2)  # what was submitted, whole, read back from its shard
    assert snap.requests["req-0001"].status is Status.FINISHED and snap.requests["req-0001"].model == _big(1).model
    assert [e["request_id"] for e in _state(store)["queue"]][:2] == ["req-0002", "req-0003"]  # in queue order


def test_a_finished_requests_line_leaves_its_open_shard_with_the_next_submission_there(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.submit(make_request(1))
    claimed = store.claim("w", 600, 3)
    store.finish(claimed.request_id, "w", make_result(claimed), {"set": ROWS})
    path = store.requests_root / layout.open_path(layout.shard("req-0001"))
    assert b"req-0001" in path.read_bytes()  # a finish does not rewrite the open shard
    same = next(n for n in range(2, 3000) if layout.shard(f"req-{n:04d}") == layout.shard("req-0001"))
    store.submit(make_request(same))
    assert b"req-0001" not in path.read_bytes() and f"req-{same:04d}".encode() in path.read_bytes()


def test_a_crash_before_the_state_leaves_the_old_state_whole(tmp_path: Path) -> None:
    """An open shard is written before `state.json`: a submission that died in between is not in the queue,
    and a request the old state still holds open keeps its line."""
    store = LocalStore(tmp_path / "store")
    store.submit(make_request(1))
    same = next(n for n in range(2, 3000) if layout.shard(f"req-{n:04d}") == layout.shard("req-0001"))
    changes = store._view(store.requests.head())
    files, _ = repo.requests_files(changes, [make_request(same)], [], None, "crashed")
    for path, data in files.items():
        if path != layout.STATE_FILE:
            (store.requests_root / path).parent.mkdir(parents=True, exist_ok=True)
            (store.requests_root / path).write_bytes(data)
    snap = LocalStore(tmp_path / "store").snapshot()
    assert list(snap.requests) == ["req-0001"] and snap.requests["req-0001"] == make_request(1)
    assert not snap.damaged
    assert LocalStore(tmp_path / "store").claim("w", 600, 3).request_id == "req-0001"


def test_a_lost_open_line_is_rebuilt_from_the_log_reported_and_written_again(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    store.submit(_big(1))
    store.submit(make_request(2))
    path = store.requests_root / layout.open_path(layout.shard("req-0001"))
    path.write_bytes(b"")
    fresh = LocalStore(tmp_path / "store")
    snap = fresh.snapshot()
    assert snap.requests["req-0001"] == _big(1)  # from its `submitted` log event
    assert any(layout.open_path(layout.shard("req-0001")) in d for d in snap.damaged)
    assert fresh.claim("w", 600, 3).request_id == "req-0001"  # the next write stores the line again
    assert b"req-0001" in path.read_bytes() and LocalStore(tmp_path / "store").snapshot().damaged == ()


def _as_format_2(store: LocalStore) -> None:
    """Rewrite the store's state as format 2 wrote it: open requests whole in `state.json`, no open shards."""
    state, view = _state(store), store._view(store.requests.head())
    old = {
        "format": 2,
        "open": [
            view.requests[e["request_id"]].to_dict() for e in sorted(state["queue"], key=lambda e: e["request_id"])
        ],
        "closed": state["closed"],
        "log_length": state["log_length"],
        "log_chunks": state["log_chunks"],
        "results_commit": state["results_commit"],
        "txn": "format-2",
    }
    (store.requests_root / layout.STATE_FILE).write_text(json.dumps(old))
    shutil.rmtree(store.requests_root / layout.OPEN_DIR)


def test_a_format_2_store_is_read_as_it_is_and_written_as_format_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(repo, "FORMAT_2_LOG_CHUNK", 4)
    monkeypatch.setattr(layout, "LOG_CHUNK", 4)  # written with format 2's chunk size...
    store = LocalStore(tmp_path / "store")
    for n in range(1, 6):
        store.submit(make_request(n))
    claimed = store.claim("w", 600, 3)
    store.finish(claimed.request_id, "w", make_result(claimed), {"set": ROWS})
    before = store.snapshot()
    _as_format_2(store)
    monkeypatch.setattr(layout, "LOG_CHUNK", 3)  # ...read by a version whose new stores use another
    old = LocalStore(tmp_path / "store")
    snap = old.snapshot()
    assert dict(snap.requests) == dict(before.requests) and list(snap.log) == list(before.log)
    assert snap.verify_log().ok and not snap.damaged
    assert old.claim("w", 600, 3).request_id == "req-0002"
    state = _state(old)
    assert state["format"] == layout.FORMAT and state["log_chunk"] == 4  # the log keeps its chunks
    assert sorted(e["request_id"] for e in state["queue"]) == ["req-0002", "req-0003", "req-0004", "req-0005"]
    after = LocalStore(tmp_path / "store").snapshot()
    assert after.requests["req-0003"] == make_request(3) and after.verify_log().ok
    chunks = sorted((old.requests_root / layout.LOG_DIR).glob("*.jsonl"))
    assert state["log_length"] == 8 and [len(p.read_text().splitlines()) for p in chunks] == [4, 4]


def test_a_hub_job_claims_and_finishes_reading_only_its_own_open_shard(hub: HubEmulator) -> None:
    from tests.openasr_core.test_hub_store import make_hub_store

    seeder = make_hub_store(hub)
    for n in range(1, 30):
        seeder.submit(_big(n))
    first = seeder.claim("seeder", 600, 3)  # the board's first finish writes its whole table: not measured here
    seeder.finish(first.request_id, "seeder", make_result(first), {"set": ROWS})
    job = make_hub_store(hub)
    hub.reset_counts()
    claimed = job.claim("job", 600, 3, request_id="req-0007")
    job.finish(claimed.request_id, "job", make_result(claimed), {"set": ROWS})
    opened = [path for route, _, path in hub.calls if route == "resolve" and f"/{layout.OPEN_DIR}/" in path]
    assert len(opened) == 1 and layout.open_path(layout.shard("req-0007")) in opened[0]
    assert make_hub_store(hub).snapshot().requests["req-0007"].status is Status.FINISHED


@pytest.fixture
def hub():
    emulator = HubEmulator()
    with emulator.installed():
        yield emulator
