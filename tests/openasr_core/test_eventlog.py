from __future__ import annotations

import dataclasses
import itertools

from openasr_core.eventlog import GENESIS_HASH, next_entry, verify_chain


def _chain(n: int):
    entries = []
    for i in range(n):
        entries.append(
            next_entry(
                entries[-1] if entries else None, request_id=f"r{i}", event="submitted", actor="alice", detail={"i": i}
            )
        )
    return entries


def test_chain_links_and_verifies() -> None:
    entries = _chain(5)
    assert entries[0].prev_hash == GENESIS_HASH and [e.seq for e in entries] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    assert verify_chain(entries).ok


def test_editing_one_entry_is_pinpointed() -> None:
    entries = _chain(5)
    entries[2] = dataclasses.replace(entries[2], detail={"i": 99})
    check = verify_chain(entries)
    assert not check.ok and check.first_bad_seq == 3 and "edited" in check.reason


def test_rehashing_an_edit_breaks_the_next_link() -> None:
    entries = _chain(4)
    forged = next_entry(entries[0], request_id="r1", event="failed", actor="mallory")
    entries[1] = forged
    check = verify_chain(entries)
    assert not check.ok and check.first_bad_seq == 3 and "prev_hash" in check.reason


def test_dropping_an_entry_is_detected() -> None:
    entries = _chain(4)
    del entries[1]
    assert verify_chain(entries).first_bad_seq == 3
