"""The folder adapter's head: it moves with every commit and with a hand edit of a shard or table, and its cost
does not grow with the number of results (only the top two levels are stat'ed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from openasr_core.store.errors import Conflict
from openasr_core.store.repo import FolderLock, FolderRepo


def repo_at(tmp_path: Path) -> FolderRepo:
    return FolderRepo(tmp_path / "results", FolderLock(tmp_path / ".lock"))


def test_a_commit_moves_the_head_even_when_it_writes_only_below_the_top_two_levels(tmp_path: Path) -> None:
    repo = repo_at(tmp_path)
    first = repo.commit({"records/ab.jsonl": b"{}\n", "results/ab/r1.json": b"{}"}, repo.head(), "finish r1")
    assert first is not None
    deep = repo.commit({"predictions/ab/r1/set.jsonl": b"{}\n", "results/ab/r2.json": b"{}"}, first, "deep")
    assert deep is not None and deep != first
    with pytest.raises(Conflict):
        repo.commit({"records/ab.jsonl": b""}, first, "from a stale head")


def test_a_hand_edit_of_a_shard_moves_the_head(tmp_path: Path) -> None:
    repo = repo_at(tmp_path)
    head = repo.commit({"records/ab.jsonl": b"{}\n"}, repo.head(), "one")
    with open(tmp_path / "results" / "records" / "ab.jsonl", "ab") as shard:
        shard.write(b"garbage\n")
    assert repo.head() != head


def test_the_head_does_not_stat_every_result(tmp_path: Path) -> None:
    repo = repo_at(tmp_path)
    files = {f"results/ab/r{i}.json": b"{}" for i in range(50)} | {"records/ab.jsonl": b"{}\n"}
    repo.commit(files, repo.head(), "many")
    from openasr_core.store import repo as repo_module

    stamped = [path for path, _ in repo_module._top_levels(repo.root)]
    assert sorted(stamped) == ["records", "records/ab.jsonl", "results", "results/ab"]
