"""Audit evasion (R13, issue 26 item 8): deleting or gating a model after its result is published must not keep
the entry ranked by turning every audit into `audit_dropped`. The log says why a drop happened; the board
says "cannot be audited" and, by default, leaves the entry out of the ranking; audits of unranked entries
cannot be requested, and requests per entry are capped as well as per account."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leaderboard.about import about_markdown
from leaderboard.audit_request import ask_for_audit
from leaderboard.audit_view import audit_markdown
from leaderboard.data import BoardSource
from leaderboard.table import UNAVAILABLE_TEXT, Filters, badges, unranked_reason
from openasr_core.audits import UNAVAILABLE, unavailable_entries
from openasr_core.config import AuditConfig, ConfigError, load_config
from openasr_core.records import LogEntry
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_audit, make_result

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
GONE = "ModelUnavailable: model org/best does not exist on the Hub (or is private or gated); check the id"


class Clock:
    """The store's and the request limits' clock, moved by hand."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


def _event(seq: int, rid: str, event: str, **detail: object) -> LogEntry:
    at = (NOW + timedelta(minutes=seq)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return LogEntry(
        seq=seq, at=at, request_id=rid, event=event, actor="audit:w", detail=dict(detail), prev_hash="", hash=""
    )


def _attempts(rid: str, *unavailable: bool, start: int = 0) -> Iterator[LogEntry]:
    """Each attempt started then failed, marked unavailable or not (a Hub outage), then the drop."""
    seq = start
    for attempt, gone in enumerate(unavailable, start=1):
        yield _event(seq, rid, "audit_started", attempt=attempt)
        marks = {UNAVAILABLE: True} if gone else {}
        kind = "user" if gone else "transient"
        yield _event(seq + 1, rid, "audit_attempt_failed", attempt=attempt, kind=kind, reason=GONE, **marks)
        seq += 2
    yield _event(seq, rid, "audit_dropped", reason=f"3 attempt(s) ended without a verdict; last: {GONE}")


def test_a_drop_after_an_unavailable_attempt_marks_the_entry_until_an_audit_runs_again() -> None:
    log = list(_attempts("r1", True, True, True))
    (gone,) = unavailable_entries(log).values()
    assert gone.request_id == "r1" and gone.at == log[-1].at and GONE in gone.reason
    assert unavailable_entries([*log, _event(99, "r1", "audit_passed")]) == {}  # the model ran again
    assert unavailable_entries([*log, _event(99, "r1", "audit_failed")]) == {}  # ran: the flag takes over
    later_outage = list(_attempts("r1", False, start=50))
    assert "r1" in unavailable_entries([*log, *later_outage])  # a later drop for an outage proves nothing


def test_a_hub_outage_never_marks_an_entry_only_the_last_attempt_decides() -> None:
    assert unavailable_entries(list(_attempts("r1", False, False, False))) == {}
    assert unavailable_entries(list(_attempts("r1", True, True, False))) == {}  # the last attempt was an outage
    assert "r1" in unavailable_entries(list(_attempts("r1", False, False, True)))
    started_only = [
        *list(_attempts("r1", True))[:-1],
        _event(9, "r1", "audit_started"),
        _event(10, "r1", "audit_dropped"),
    ]
    assert unavailable_entries(started_only) == {}  # the last attempt died without saying why


def _store(tmp_path: Path, clock: Clock) -> LocalStore:
    store = LocalStore(tmp_path / "store", clock=clock)
    results = [
        make_result("best", "org/best", wers={"ami": 0.05}),
        make_result("next", "org/next", wers={"ami": 0.10}),
        make_result("third", "org/third", wers={"ami": 0.20}),
        make_result("unofficial", "org/unofficial", wers={"ami": 0.01}).replace(official=False),
    ]
    finish_in_store(store, results)
    return store


def _evade(store: LocalStore, rid: str = "best") -> None:
    """What the scheduler logs when the model was deleted after publication: three attempts, then the drop."""
    for attempt in (1, 2, 3):
        store.log_audit_progress(rid, "audit_started", "audit:w", {"attempt": attempt})
        detail = {"attempt": attempt, "kind": "user", "reason": GONE, "duration_s": 0.1, UNAVAILABLE: True}
        store.log_audit_progress(rid, "audit_attempt_failed", "audit:w", detail)
    store.drop_audit(rid, "audit:w", f"3 attempt(s) of the audit of {rid} ended without a verdict; last: {GONE}", False)


def test_an_entry_whose_model_is_gone_says_so_and_leaves_the_ranking(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock())
    source = BoardSource(store, version="v1", eval_sets=("ami",))
    assert source.get().board.entry("best").rank == 1
    _evade(store)
    source.invalidate()
    board = source.get().board
    best = board.entry("best")
    assert best.unavailable and best.rank is None and unranked_reason(best) == UNAVAILABLE_TEXT
    assert board.entry("next").rank == 1  # the next entry moves up
    assert "🚫 model no longer available at its pinned revision: cannot be audited" in badges(best)
    view = board.view(Filters())
    row = view.frame.iloc[list(view.request_ids).index("best")]  # still shown by default, unranked
    assert row["Last audit"].startswith("🚫 cannot be re-run 2026-12-01") and "🚫 model no longer" in row["Badges"]
    page = audit_markdown("best", [], store.snapshot().log)
    assert "Model no longer available at its pinned revision: cannot be audited" in page
    assert "left out of the ranking" in page and "does not exist on the Hub" in page
    assert "Not audited yet" not in page


def test_a_passing_audit_puts_it_back_and_the_config_can_keep_it_ranked(tmp_path: Path) -> None:
    store = _store(tmp_path, Clock())
    _evade(store)
    kept = BoardSource(store, version="v1", eval_sets=("ami",), rank_unavailable=True).get().board.entry("best")
    assert kept.rank == 1 and kept.unavailable and "cannot be audited" in badges(kept)
    assert "It stays ranked" in audit_markdown("best", [], store.snapshot().log, unavailable_unranked=False)
    store.record_audit(make_audit(request_id="best", passed=True, leaderboard_version="v1"), actor="audit:w")
    back = BoardSource(store, version="v1", eval_sets=("ami",)).get().board.entry("best")
    assert back.rank == 1 and not back.unavailable


def test_the_config_key_defaults_to_unranked_and_is_checked(tmp_path: Path) -> None:
    assert AuditConfig().unrankable_when_unavailable is True and AuditConfig().max_requests_per_entry == 3
    config = load_config(Path(__file__).parents[2] / "configs" / "local.toml")
    shipped = config.audit
    assert shipped.unrankable_when_unavailable is True and shipped.max_requests_per_entry == 3
    about = about_markdown(config, "r", "q", public_key=None)
    assert "**3** per entry in any 7\ndays" in about and "cannot be audited: it is marked 🚫" in about
    assert "left out of the ranking" in about
    text = (Path(__file__).parents[2] / "configs" / "local.toml").read_text("utf-8")
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace("max_requests_per_entry = 3", "max_requests_per_entry = -1"), "utf-8")
    with pytest.raises(ConfigError, match="max_requests_per_entry"):
        load_config(bad)
    bad.write_text(text.replace("unrankable_when_unavailable = true", 'unrankable_when_unavailable = "yes"'), "utf-8")
    with pytest.raises(ConfigError, match="unrankable_when_unavailable"):
        load_config(bad)


def test_audits_of_unranked_entries_are_refused(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    _evade(store)
    store.record_audit(make_audit(request_id="third", passed=False, leaderboard_version="v1"), actor="audit:w")
    board = BoardSource(store, version="v1", eval_sets=("ami",)).get().board
    ask = functools.partial(ask_for_audit, store, requester="bob", policy=AuditConfig(), now=clock, board=board)
    for rid, why in (
        ("best", "cannot be audited"),
        ("unofficial", "unofficial"),
        ("third", "latest audit failed"),
        ("nope", "not an entry of this leaderboard"),
    ):
        accepted, message = ask(rid)
        assert not accepted and message.startswith("❌ Not requested") and why in message, message
    unverified = BoardSource(store, version="v1", eval_sets=("ami",), verified=lambda r: False).get().board
    accepted, message = ask("next", board=unverified)
    assert not accepted and "only ranked entries" in message and "signature does not verify" in message
    assert ask("next")[0]  # ranked: accepted
    requested = [e.request_id for e in store.snapshot().log if e.event == "audit_requested"]
    assert requested == ["next"]


def test_requests_per_entry_are_capped_across_accounts(tmp_path: Path) -> None:
    clock = Clock()
    store = _store(tmp_path, clock)
    board = BoardSource(store, version="v1", eval_sets=("ami",)).get().board
    policy = AuditConfig(max_requests_per_week=5, max_requests_per_entry=2)

    def ask(who: str) -> tuple[bool, str]:
        return ask_for_audit(store, "best", who, policy, clock, board=board)

    for who in ("a", "b"):
        assert ask(who)[0], who
        store.drop_audit("best", "audit:w", "served", requested=True)  # served, so a new request may open
        clock.now += timedelta(hours=1)
    accepted, message = ask("c")  # a fresh account: its own limit is untouched, the entry's is spent
    assert not accepted and "requested 2 times in the last 7 days; the limit is 2 per entry per week" in message
    assert "ask again after 2026-12-08 12:00 UTC" in message
    assert ask_for_audit(store, "next", "c", policy, clock, board=board)[0]  # another entry is not capped
    clock.now = NOW + timedelta(days=7, minutes=1)
    assert ask("c")[0]  # the first request left the 7-day window
    closed = AuditConfig(max_requests_per_entry=0)
    accepted, message = ask_for_audit(store, "third", "d", closed, clock, board=board)
    assert not accepted and "max_requests_per_entry = 0" in message
