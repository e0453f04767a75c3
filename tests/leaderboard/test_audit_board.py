"""The board and audits (R13): an entry whose latest audit failed is flagged, unranked and hidden by default
(a toggle, kept in the URL, shows it); a later passing audit clears the flag."""

from __future__ import annotations

from pathlib import Path

from leaderboard.data import BoardSource
from leaderboard.pages.format import status_line
from leaderboard.query import filters_from_query, filters_to_query
from leaderboard.table import BoardInput, Filters, build_board
from openasr_core.audits import latest_audits
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_audit, make_result

FAILED = make_audit(audit_id="a1", request_id="best", passed=False, finished_at="2026-11-28T06:01:00Z")
PASSED = make_audit(audit_id="a2", request_id="best", passed=True, finished_at="2026-11-29T06:01:00Z")


def _board(*audits):
    latest = latest_audits(audits)
    results = [make_result("best", "org/best", wers={"ami": 0.05}), make_result("next", "org/next")]
    return build_board([BoardInput(r, audit=latest.get(r.request_id)) for r in results], eval_sets=("ami",))


def test_a_failed_audit_flags_the_entry_out_of_the_ranking_and_the_default_view() -> None:
    board = _board(FAILED)
    best = board.entry("best")
    assert best is not None and best.flagged and best.rank is None
    assert board.entry("next").rank == 1  # the next entry moves up
    default = board.view(Filters())
    assert default.request_ids == ("next",) and default.flagged_hidden == 1
    assert "1 entry flagged by a failed audit hidden" in status_line(default, Filters())
    shown = board.view(Filters(show_flagged=True))
    assert set(shown.request_ids) == {"next", "best"} and shown.flagged_hidden == 0
    row = shown.frame.iloc[list(shown.request_ids).index("best")]
    assert row["Last audit"] == "🚩 failed 2026-11-28" and "🚩 failed audit" in row["Badges"]


def test_a_later_passing_audit_clears_the_flag() -> None:
    board = _board(PASSED, FAILED)  # order of the records does not matter, their times do
    best = board.entry("best")
    assert best is not None and not best.flagged and best.rank == 1
    assert board.view(Filters()).frame["Last audit"].iloc[0] == "✅ passed 2026-11-29"
    assert board.entry("next").audited_at is None and board.view(Filters()).frame["Last audit"].iloc[1] == ""


def test_the_toggle_is_kept_in_the_url() -> None:
    assert filters_to_query(Filters(show_flagged=True)) == "flagged=1"
    assert filters_from_query("flagged=1").show_flagged and not filters_from_query("").show_flagged
    assert filters_to_query(Filters()) == ""


def test_the_board_reads_published_audits_from_the_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    finish_in_store(store, [make_result("best", "org/best", wers={"ami": 0.05}), make_result("next", "org/next")])
    source = BoardSource(store, version="v1", eval_sets=("ami",))
    store.record_audit(FAILED, actor="audit:test")
    assert source.get().board.entry("best").flagged
    store.record_audit(PASSED, actor="audit:test")
    source.invalidate()  # as the scheduler does after each step
    assert not source.get().board.entry("best").flagged
    assert [e.event for e in store.snapshot().log][-2:] == ["audit_failed", "audit_passed"]  # nothing deleted
