"""The Queue page's rows: positions, waiting times, progress, ETAs, failures with their reasons."""

from __future__ import annotations

from datetime import UTC, datetime

from leaderboard.queue_view import (
    format_ago,
    format_duration,
    queue_view,
    running_html,
    running_item,
    throughput_states,
    typical_duration,
)
from openasr_core.config import ThroughputConfig
from openasr_core.records import THROUGHPUT_PUBLISHED, Lease, LogEntry, Progress, Status
from openasr_core.throughput_runs import THROUGHPUT_DROPPED, THROUGHPUT_FAILED, THROUGHPUT_STARTED
from testkit.factories import make_request, make_result

NOW = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)


def requests_of(*requests):
    return {r.request_id: r for r in requests}


def test_format_duration() -> None:
    assert format_duration(None) == "—"
    assert format_duration(-1) == "—"
    assert format_duration(42) == "42 s"
    assert format_duration(200) == "3 min"
    assert format_duration(4000) == "1 h 7 min"


def test_format_ago() -> None:
    assert format_ago("2026-11-27T09:55:00Z", NOW) == "2026-11-27 09:55 UTC (5 min ago)"
    assert format_ago("2026-11-27T09:59:58Z", NOW).endswith("(just now)")
    assert format_ago(None, NOW) == "—"


def test_pending_rows_in_claim_order_with_positions() -> None:
    view = queue_view(
        requests_of(
            make_request("b", "org/b", submitted_at="2026-11-27T09:50:00Z", submitter="bob"),
            make_request("a", "org/a", submitted_at="2026-11-27T09:40:00Z"),
            make_request("c", "org/c", submitted_at="2026-11-27T09:50:00Z"),
        ),
        {},
        NOW,
    )
    assert list(view.pending["Request"]) == ["a", "b", "c"]
    assert list(view.pending["#"]) == [1, 2, 3]
    assert view.pending["Waiting since"].iloc[0] == "2026-11-27 09:40 UTC (20 min ago)"
    assert view.pending["Submitted by"].iloc[1] == "bob"
    assert list(view.pending["Est. start"]) == ["—", "—", "—"]  # no history yet: no guess


def test_estimated_start_from_the_median_of_recent_evaluations() -> None:
    finished = [
        make_request(f"f{i}", f"org/f{i}", status=Status.FINISHED, submitted_at="2026-11-27T08:00:00Z")
        for i in range(3)
    ]
    results = {
        "f0": make_result("f0", started_at="2026-11-27T09:00:00Z", finished_at="2026-11-27T09:02:00Z"),
        "f1": make_result("f1", started_at="2026-11-27T09:10:00Z", finished_at="2026-11-27T09:20:00Z"),
        "f2": make_result("f2", started_at="2026-11-27T09:30:00Z", finished_at="2026-11-27T09:34:00Z"),
    }
    assert typical_duration(list(results.values())) == 240
    view = queue_view(
        requests_of(*finished, make_request("p1", submitted_at="2026-11-27T09:40:00Z"), make_request("p2")),
        results,
        NOW,
    )
    assert list(view.pending["Request"]) == ["p2", "p1"]  # p2 was submitted first
    assert list(view.pending["Est. start"]) == ["now", "in ~4 min"]


def test_running_progress_and_eta_counted_down() -> None:
    request = make_request(
        "r",
        "org/r",
        status=Status.RUNNING,
        attempts=2,
        lease=Lease(worker="space:1", expires_at="2026-11-27T10:10:00Z"),
        progress=Progress(
            eval_set="ami",
            done=50,
            total=100,
            sets_done=1,
            sets_total=4,
            eta_s=300.0,
            updated_at="2026-11-27T09:59:00Z",
        ),
    )
    item = running_item(request, NOW)
    assert item.fraction == 0.375  # (1 set + half of the second) / 4
    assert item.eta_s == 240.0 and item.worker == "space:1" and item.attempt == 2
    html = running_html([item], max_attempts=3)
    assert (
        "org/r" in html and "width:38%" in html and "ami" in html and "ETA 4 min" in html and "attempt 2 of 3" in html
    )
    assert "(2 of 4)" in html


def test_running_without_progress_yet_is_loading() -> None:
    request = make_request("r", status=Status.RUNNING, lease=Lease(worker="w", expires_at="2026-11-27T10:10:00Z"))
    item = running_item(request, NOW)
    assert item.fraction == 0 and item.eta_s is None
    assert "loading the model" in running_html([item], 3)


def test_pending_start_waits_for_the_running_eta() -> None:
    running = make_request(
        "r",
        status=Status.RUNNING,
        submitted_at="2026-11-27T08:00:00Z",
        lease=Lease(worker="w", expires_at="2026-11-27T10:10:00Z"),
        progress=Progress(eval_set="ami", done=1, total=2, eta_s=120.0, updated_at="2026-11-27T10:00:00Z"),
    )
    done = make_request("f", status=Status.FINISHED)
    results = {"f": make_result("f", started_at="2026-11-27T09:00:00Z", finished_at="2026-11-27T09:05:00Z")}
    view = queue_view(
        requests_of(running, done, make_request("p1"), make_request("p2", submitted_at="2026-11-27T09:01:00Z")),
        results,
        NOW,
    )
    assert list(view.pending["Est. start"]) == ["in ~2 min", "in ~7 min"]


def test_nothing_running_shows_a_friendly_line() -> None:
    assert "Nothing is being evaluated" in running_html([], 3)


def test_finished_and_failed_rows() -> None:
    view = queue_view(
        requests_of(
            make_request("ok", "org/ok", status=Status.FINISHED),
            make_request("bad", "org/bad", status=Status.FAILED, attempts=3, error="CUDA out of memory: try float16"),
        ),
        {"ok": make_result("ok", "org/ok", wers={"x": 0.1234}, rtf=0.05)},
        NOW,
    )
    assert view.finished["Avg WER (%)"].iloc[0] == 12.34 and view.finished["RTF"].iloc[0] == 0.05
    assert view.failed["Reason"].iloc[0] == "CUDA out of memory: try float16"
    assert view.failed["Attempts"].iloc[0] == 3
    assert view.counts == {"pending": 0, "running": 0, "finished": 1, "failed": 1}


def test_empty_queue() -> None:
    view = queue_view({}, {}, NOW)
    assert view.pending.empty and view.failed.empty and view.finished.empty and view.running == ()
    assert list(view.pending.columns)[:2] == ["#", "Model"]


def _event(n: int, request_id: str, event: str, at: str, **detail: object) -> LogEntry:
    return LogEntry(seq=n, at=at, request_id=request_id, event=event, actor="w", detail=detail, prev_hash="", hash="")


def test_a_throughput_run_says_where_it_stands_from_the_log() -> None:
    """Issue 26, item 6: a run asked for is owed, running (whose lease until when), failed and retried when,
    stopped without an outcome, out of attempts, dropped (why) or measured; in the finished list."""
    policy = ThroughputConfig(lease_minutes=60, max_attempts=2, retry_after_minutes=10)
    asked = {rid: make_request(rid, status=Status.FINISHED, throughput=True) for rid in "abcdefg"}
    plain = make_request("h", status=Status.FINISHED)
    lease = "2026-11-27T10:30:00Z"
    log = [
        _event(1, "b", THROUGHPUT_STARTED, "2026-11-27T09:30:00Z", attempt=1, worker="space:x", lease_expires_at=lease),
        _event(2, "c", THROUGHPUT_STARTED, "2026-11-27T09:00:00Z", attempt=1, worker="job-1", lease_expires_at=lease),
        _event(3, "c", THROUGHPUT_FAILED, "2026-11-27T09:55:00Z", attempt=1, reason="CUDA out of memory"),
        _event(
            4,
            "d",
            THROUGHPUT_STARTED,
            "2026-11-27T08:00:00Z",
            attempt=1,
            worker="job-2",
            lease_expires_at="2026-11-27T09:00:00Z",
        ),
        _event(
            5,
            "e",
            THROUGHPUT_STARTED,
            "2026-11-27T07:00:00Z",
            attempt=1,
            worker="job-3",
            lease_expires_at="2026-11-27T08:00:00Z",
        ),
        _event(
            6,
            "e",
            THROUGHPUT_STARTED,
            "2026-11-27T08:00:00Z",
            attempt=2,
            worker="job-3",
            lease_expires_at="2026-11-27T09:00:00Z",
        ),
        _event(7, "f", THROUGHPUT_DROPPED, "2026-11-27T09:00:00Z", attempts=2, reason="out of memory twice"),
        _event(8, "g", THROUGHPUT_PUBLISHED, "2026-11-27T09:00:00Z", throughput_sha256="x"),
    ]
    states = throughput_states([*asked.values(), plain], log, NOW, policy)
    assert states["a"].startswith("⏳ owed")
    assert states["b"] == "🏭 running: attempt 1 of 2, this Space, lease until 10:30 UTC"
    assert states["c"] == "🔁 attempt 1 of 2 failed (CUDA out of memory): retried after 2026-11-27 10:05 UTC"
    assert states["d"] == "🔁 attempt 1 of 2 stopped without an outcome: retried now"
    assert "no attempt left, dropped at the next check" in states["e"]
    assert states["f"] == "✖️ dropped after 2 attempts: out of memory twice"
    assert states["g"].startswith("✅ measured") and "h" not in states
    view = queue_view({**asked, "h": plain}, {}, NOW, log=log, throughput=policy)
    shown = dict(zip(view.finished["Request"], view.finished["Throughput"], strict=True))
    assert shown["c"] == states["c"] and shown["h"] == ""
