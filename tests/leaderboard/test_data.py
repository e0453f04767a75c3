"""The store is read once per refresh (cached for a TTL) and the board rebuilt only when the store changed."""

from __future__ import annotations

from pathlib import Path

from leaderboard.data import BoardSource
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_request, make_result


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CountingStore(LocalStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.snapshots = 0

    def snapshot(self):  # type: ignore[no-untyped-def]
        self.snapshots += 1
        return super().snapshot()


def test_one_snapshot_per_ttl_and_one_board_per_version(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    finish_in_store(store, [make_result("r1", "org/a", version="v1")])
    clock = Clock()
    source = BoardSource(store, version="v1", eval_sets=("ami",), ttl_s=2.0, clock=clock)
    first = source.get()
    for _ in range(50):
        assert source.get() is first
    assert store.snapshots == 1
    clock.now = 5.0
    second = source.get()
    assert store.snapshots == 2 and second.board is first.board  # same version: the board is reused
    store.submit(make_request("p1", "org/p"))
    clock.now = 10.0
    third = source.get()
    assert third.board is not first.board and third.snapshot.version != first.snapshot.version


def test_invalidate_forces_a_read(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "store")
    source = BoardSource(store, version="v1", eval_sets=(), ttl_s=60.0, clock=Clock())
    source.get()
    source.invalidate()
    source.get()
    assert store.snapshots == 2


def test_board_has_only_this_versions_finished_results_with_request_facts(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    finish_in_store(
        store,
        [
            make_result("r1", "org/a", version="v1", with_model=False),
            make_result("r2", "org/b", version="old"),
        ],
    )
    store.submit(make_request("p1", "org/pending"))
    source = BoardSource(store, version="v1", eval_sets=("ami",), is_local=lambda m: m == "org/a")
    board = source.get().board
    assert [e.request_id for e in board.entries] == ["r1"]
    entry = board.entries[0]
    assert entry.local and entry.license == "mit" and entry.family == "whisper"  # facts from the request


def test_a_failed_read_keeps_the_last_good_snapshot(tmp_path: Path) -> None:
    import pytest

    from openasr_core.store import StoreError

    store = CountingStore(tmp_path / "store")
    clock = Clock()
    source = BoardSource(store, version="v1", eval_sets=(), ttl_s=1.0, clock=clock)
    first = source.get()

    def broken():  # type: ignore[no-untyped-def]
        raise StoreError("the Hub answered 503")

    store.snapshot = broken  # type: ignore[method-assign]
    clock.now = 5.0
    assert source.get().snapshot is first.snapshot
    fresh = BoardSource(store, version="v1", eval_sets=())
    with pytest.raises(StoreError):
        fresh.get()


def test_a_slow_store_is_read_less_often(tmp_path: Path) -> None:
    clock = Clock()

    class SlowStore(CountingStore):
        def snapshot(self):  # type: ignore[no-untyped-def]
            clock.now += 3.0  # this read takes 3 s
            return super().snapshot()

    store = SlowStore(tmp_path / "store")
    source = BoardSource(store, version="v1", eval_sets=(), ttl_s=2.0, load_factor=5.0, clock=clock)
    source.get()
    assert source.effective_ttl_s == 15.0
    clock.now += 10.0
    source.get()
    assert store.snapshots == 1
    clock.now += 10.0
    source.get()
    assert store.snapshots == 2


def test_a_heartbeat_keeps_the_board_and_what_pages_derived_from_it(tmp_path: Path) -> None:
    """An evaluation in progress renews its lease every few seconds; that moves the store's version (the Queue
    shows progress) but not the board's, so visitors' pages are not rebuilt on every beat."""
    store = CountingStore(tmp_path / "store")
    finish_in_store(store, [make_result("r1", "org/a", version="v1")])
    store.submit(make_request("p1", "org/p"))
    assert store.claim("w", 600, 3) is not None
    clock = Clock()
    source = BoardSource(store, version="v1", eval_sets=("ami",), ttl_s=2.0, clock=clock)
    first = source.get()
    first.cached("view", lambda: "computed once")
    store.heartbeat("p1", "w", 600)
    clock.now = 5.0
    second = source.get()
    assert second.snapshot.version != first.snapshot.version  # the Queue sees the renewed lease
    assert second.board_version == first.board_version and second.board is first.board
    assert second.cached("view", lambda: "computed again") == "computed once"
    store.fail("p1", "w", "gave up")  # a status change is logged: the board (and its header) is rebuilt
    clock.now = 10.0
    assert source.get().board_version != first.board_version
