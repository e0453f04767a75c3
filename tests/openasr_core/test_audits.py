"""Choosing the entry to audit and deciding when to audit: pure functions, injected clock and seeds."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from openasr_core.audits import (
    AuditLedger,
    Candidate,
    audit_ledger,
    candidates,
    pick_entry,
    selection_weights,
    should_audit,
)
from openasr_core.config import AuditConfig
from openasr_core.eventlog import next_entry
from openasr_core.records import LogEntry
from tests.openasr_core.store_contract import make_request, make_result

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _entries(n: int, days_apart: float = 0.0) -> list[Candidate]:
    return [Candidate(f"req-{i:04d}", i, NOW - timedelta(days=days_apart * i)) for i in range(1, n + 1)]


def test_same_seed_same_choice_whatever_the_input_order() -> None:
    results = [make_result(make_request(i)) for i in range(1, 6)]
    a = pick_entry(candidates(results), 1234, 30.0)
    b = pick_entry(candidates(list(reversed(results))), 1234, 30.0)
    assert a == b
    assert len({pick_entry(candidates(results), seed, 30.0).request_id for seed in range(50)}) > 1


def test_candidates_rank_official_entries_by_wer_and_unofficial_last() -> None:
    base = make_result(make_request(1))
    good = base.replace(request_id="b", aggregate=base.aggregate.__class__(0.05, 0.1, 10.0, True))
    bad = base.replace(request_id="a", aggregate=base.aggregate.__class__(0.20, 0.1, 10.0, True))
    unofficial = base.replace(request_id="c", official=False)
    ranks = {c.request_id: c.rank for c in candidates([bad, unofficial, good])}
    assert ranks == {"b": 1, "a": 2, "c": None}


def test_weights_favour_the_top_and_recent_entries() -> None:
    top_first = selection_weights(_entries(4), 30.0)
    assert top_first == sorted(top_first, reverse=True) and top_first[0] == pytest.approx(2 * top_first[3])
    same_rank = [Candidate("old", 1, NOW - timedelta(days=30)), Candidate("new", 1, NOW)]
    assert selection_weights(same_rank, 30.0) == pytest.approx([0.5, 1.0])
    unranked = [Candidate("r", 1, NOW), Candidate("u", None, NOW)]
    assert selection_weights(unranked, 30.0) == pytest.approx([1.0, 2**-0.5])


def test_picks_follow_the_weights() -> None:
    entries = _entries(4)
    counts = Counter(pick_entry(entries, seed, 30.0).request_id for seed in range(2000))
    assert counts["req-0001"] > counts["req-0002"] > counts["req-0004"] > 0


def test_no_entries_cannot_be_picked() -> None:
    with pytest.raises(ValueError, match="no finished entry"):
        pick_entry([], 1, 30.0)


def _log(*events: tuple[str, datetime, dict]) -> list[LogEntry]:
    entries: list[LogEntry] = []
    for event, at, detail in events:
        iso = at.isoformat().replace("+00:00", "Z")
        entries.append(
            next_entry(entries[-1] if entries else None, request_id="r", event=event, actor="a", detail=detail, at=iso)
        )
    return entries


def test_ledger_counts_evaluations_since_the_last_audit_and_time_in_the_last_day() -> None:
    log = _log(
        ("finished", NOW - timedelta(days=3), {}),
        ("audit_passed", NOW - timedelta(hours=30), {"duration_s": 500.0}),  # older than 24 h: not counted
        ("finished", NOW - timedelta(hours=20), {}),
        ("audit_failed", NOW - timedelta(hours=10), {"duration_s": 120.0}),
        ("finished", NOW - timedelta(hours=5), {}),
        ("submitted", NOW - timedelta(hours=4), {}),
        ("finished", NOW - timedelta(hours=1), {}),
    )
    assert audit_ledger(log, NOW) == AuditLedger(evaluations_since_last_audit=2, audit_seconds_last_day=120.0, audits=2)
    assert audit_ledger(log, NOW + timedelta(hours=15)).audit_seconds_last_day == 0.0


POLICY = AuditConfig(every_n_evaluations=2, max_minutes_per_day=10.0)
DUE = AuditLedger(evaluations_since_last_audit=2, audit_seconds_last_day=0.0, audits=0)


@pytest.mark.parametrize(
    ("pending", "running", "entries", "ledger", "run", "reason"),
    [
        (0, 0, 3, DUE, True, "due"),
        (1, 0, 3, DUE, False, "waiting"),
        (0, 1, 3, DUE, False, "running"),
        (0, 0, 0, DUE, False, "no finished entry"),
        (0, 0, 3, AuditLedger(1, 0.0, 1), False, "1 of 2 evaluations"),
        (0, 0, 3, AuditLedger(5, 600.0, 1), False, "10.0 of 10 minutes"),
        (0, 0, 3, AuditLedger(5, 599.0, 1), True, "due"),
    ],
)
def test_should_audit(pending: int, running: int, entries: int, ledger: AuditLedger, run: bool, reason: str) -> None:
    decision = should_audit(pending=pending, running=running, entries=entries, ledger=ledger, policy=POLICY)
    assert decision.run is run and reason in decision.reason
