"""The Queue page's rows: positions, waiting times, progress, ETAs, failures with their reasons."""

from __future__ import annotations

from datetime import UTC, datetime

from leaderboard.queue_view import format_ago, format_duration, queue_view, running_html, running_item, typical_duration
from openasr_core.records import Lease, Progress, Status
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
