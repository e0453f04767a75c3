"""Issue 25: everything the scheduler runs is on the Queue page (kind, progress, ETA) and on the entry's detail
page; a run whose worker stopped is never shown as running; a flagged entry is not "official" on the Throughput
and Queue tabs; a clean stop waits for the running step."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app import build_app
from leaderboard.pages.queue import scheduler_markdown
from leaderboard.queue_view import queue_view, running_html
from leaderboard.scheduler import STOPPED, EvalScheduler, SchedulerStatus
from leaderboard.throughput_view import throughput_board, throughput_frame, tracks_markdown
from openasr_core.activity import AUDIT, THROUGHPUT, WorkTracker
from openasr_core.records import Lease, Progress, Status
from openasr_core.signing import local_private_key, sign_result
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_audit, make_throughput
from tests.leaderboard.test_app import make_env
from tests.leaderboard.test_throughput_ui import result as signed_result

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def tracker_at(now: datetime) -> WorkTracker:
    return WorkTracker(clock=lambda: now)


def test_a_throughput_run_and_an_audit_are_shown_on_the_queue_with_progress_and_eta() -> None:
    work = tracker_at(NOW)
    work.begin(THROUGHPUT, "r1", "org/tiny", "float32", "space:host:1-abc")
    work.report("batch size 4 (step 2 of at most 3): 10/32 utterances", 0.44, 90.0)
    html = running_html((), 3, work.current(), NOW + timedelta(seconds=30))
    assert "Nothing is being evaluated" not in html
    assert "Throughput run (R14)" in html and "org/tiny" in html and "44%" in html and "ETA 1 min" in html
    assert "batch size 4" in html and "this Space's background evaluator" in html
    busy = SchedulerStatus(enabled=True, running=True, last_started_at=NOW)
    line = scheduler_markdown(busy, NOW + timedelta(seconds=30), (), work.current())
    assert "throughput run (R14) of org/tiny" in line and "checking the queue" not in line
    work.begin(AUDIT, "r1", "org/tiny", "float32", "audit:space:host:1-abc")
    work.report_progress(Progress("ljspeech-sample", 3, 8, 0, 1, 12.0, None), "re-run 1: ")
    html = running_html((), 3, work.current(), NOW)
    assert "Audit (R13)" in html and "re-run 1: eval set ljspeech-sample (1 of 1): 3/8 utterances" in html
    assert "38%" in html and "ETA 12 s" in html
    assert "Nothing is being evaluated" in running_html((), 3, None, NOW)


def test_a_run_whose_lease_ran_out_is_not_shown_as_running() -> None:
    """After a kill and a restart the dead run said "38 % · ETA 0 s" until its lease ran out."""
    from testkit.factories import make_request

    lease = Lease(worker="space:old:1-abc", expires_at="2026-12-05T09:59:00Z")
    progress = Progress("ljspeech-sample", 3, 8, 0, 1, 20.0, "2026-12-05T09:58:00Z")
    request = make_request("r9", status=Status.RUNNING, lease=lease, progress=progress, attempts=1)
    view = queue_view({"r9": request}, {}, NOW)
    assert view.counts["running"] == 0
    html = running_html(view.running, 3, None, NOW)
    assert "Not running" in html and "lease ran out at 09:59:00 UTC" in html and "ETA" not in html
    alive = request.replace(lease=Lease(worker="space:new:1-abc", expires_at="2026-12-05T10:01:00Z"))
    view = queue_view({"r9": alive}, {}, NOW)
    assert view.counts["running"] == 1 and "Not running" not in running_html(view.running, 3, None, NOW)


def test_the_detail_page_says_a_throughput_run_or_audit_is_running(tmp_path: Path, models_dir: Path) -> None:
    key = local_private_key(tmp_path / "store")
    store = LocalStore(tmp_path / "store")
    finish_in_store(store, [signed_result("r1", "org/tiny", 0.2, 0.5, key)])
    app = build_app(env=make_env(tmp_path, models_dir))
    assert app.work is not None
    detail = app.ui.detail
    loaded = app.ui.ctx.source.get()
    idle = detail.render(loaded, "r1")
    assert "Submit form's tick box" in idle[detail.tracks] and "running" not in idle[detail.audit]
    app.work.begin(THROUGHPUT, "r1", "org/tiny", "float32", "space:w")
    app.work.report("batch size 1 (step 1 of at most 3): 2/8 utterances", 0.08, 60.0)
    tracks = detail.render(loaded, "r1")[detail.tracks]
    assert "Throughput run in progress" in tracks and "tick box" not in tracks and "batch size 1" in tracks
    app.work.begin(AUDIT, "r1", "org/tiny", "float32", "audit:space:w")
    audit = detail.render(loaded, "r1")[detail.audit]
    assert audit.startswith("### Audits (R13)\n\n⏳ **Audit running**")  # under its section's heading
    app.work.end()
    assert "tick box" in detail.render(loaded, "r1")[detail.tracks]


def test_a_throughput_request_never_asks_to_tick_the_box_it_ticked() -> None:
    from leaderboard.throughput_view import TrackPair

    pair = TrackPair(1.0, 0.1, None, True, None)
    assert "tick box" in tracks_markdown(pair)
    assert "tick box" not in tracks_markdown(pair, asked=True) and "asked for" in tracks_markdown(pair, asked=True)


def test_a_flagged_entry_is_not_official_on_the_throughput_and_queue_tabs(tmp_path: Path, models_dir: Path) -> None:
    key = local_private_key(tmp_path / "store")
    store = LocalStore(tmp_path / "store")
    finish_in_store(
        store, [signed_result("r1", "org/flagged", 0.1, 0.5, key), signed_result("r2", "org/ok", 0.2, 0.5, key)]
    )
    for request_id in ("r1", "r2"):
        record = make_throughput(request_id, rtfx=100.0, avg_wer=0.1, version="local-v1")
        model = store.snapshot().results[request_id].model_id
        store.publish_throughput(sign_result(record.replace(model_id=model), key), {"ljspeech-sample": []})
    store.record_audit(make_audit(audit_id="a1", request_id="r1", passed=False), actor="audit:test")
    app = build_app(env=make_env(tmp_path, models_dir))
    throughput = app.ui.on_tab("throughput")[app.ui.throughput.table]["value"]
    flagged = throughput[throughput["Model"] == "org/flagged"].iloc[0]
    assert flagged["Status"] == "🚩 flagged (failed audit), not ranked" and flagged["Rank"] == ""
    assert throughput[throughput["Model"] == "org/ok"].iloc[0]["Rank"] == 1
    finished = app.ui.on_tab("queue")[app.ui.queue.finished].value
    model, column = finished["headers"].index("Model"), finished["headers"].index("Official")
    official = {row[model]: row[column] for row in finished["data"]}
    assert official == {"org/flagged": "🚩 flagged (failed audit)", "org/ok": "yes"}


def test_throughput_board_ranks_no_flagged_entry() -> None:
    from testkit.factories import make_request

    records = [make_throughput("r1", avg_wer=0.1), make_throughput("r2", avg_wer=0.2)]
    requests = {i: make_request(i, status=Status.FINISHED) for i in ("r1", "r2")}
    rows = throughput_board(records, requests, leaderboard_version=records[0].leaderboard_version, flagged={"r1"})
    assert [(r.request_id, r.rank) for r in rows] == [("r2", 1), ("r1", None)]
    assert list(throughput_frame(rows)["Status"])[1].startswith("🚩")


def test_a_clean_stop_asks_the_step_to_stop_and_waits_for_it() -> None:
    work = WorkTracker()
    entered, outcome = threading.Event(), []

    def step() -> str:
        entered.set()
        while not work.stop_requested():  # what an evaluation does between two utterances
            threading.Event().wait(0.01)
        return "handed back"

    scheduler = EvalScheduler(step, 30.0, work=work)
    thread = threading.Thread(target=lambda: outcome.append(scheduler.tick()))
    thread.start()
    assert entered.wait(10)
    assert scheduler.stop("SIGTERM", grace_s=10) is True
    thread.join(10)
    assert outcome == ["handed back"] and work.stop_reason == "SIGTERM"
    assert scheduler.tick() == STOPPED  # nothing starts after a stop


def test_a_stop_that_the_step_ignores_reports_it() -> None:
    release = threading.Event()
    entered = threading.Event()

    def step() -> str:
        entered.set()
        release.wait(10)
        return "late"

    scheduler = EvalScheduler(step, 30.0, work=WorkTracker())
    thread = threading.Thread(target=scheduler.tick)
    thread.start()
    assert entered.wait(10)
    assert scheduler.stop("SIGINT", grace_s=0.05) is False
    release.set()
    thread.join(10)


def test_an_audit_re_run_shows_the_entry_it_re_runs_and_passes_its_spec_through() -> None:
    """`tracked_rerun` wraps the audit's `evaluate_fn`: the Queue page shows the entry (from the `EvalSpec`) with
    each re-run's progress, and the wrapped function gets the spec and the audit's own hooks unchanged."""
    from app import tracked_rerun
    from evaluator.spec import EvalSpec

    work = tracker_at(NOW)
    seen: list[tuple[EvalSpec, dict[str, object]]] = []

    def evaluate_fn(config: object, spec: EvalSpec, **hooks: object) -> str:
        seen.append((spec, hooks))
        on_progress = hooks["on_progress"]
        assert callable(on_progress)
        on_progress(Progress("ljspeech-sample", 3, 8, 0, 1, 12.0, None))
        return "evaluation"

    rerun = tracked_rerun(evaluate_fn, work, "audit:space:w")
    spec = EvalSpec("org/tiny", request_id="r1", precision="bfloat16")
    assert rerun(None, spec, probe="the probe") == "evaluation"
    current = work.current()
    assert current is not None and (current.kind, current.request_id) == (AUDIT, "r1")
    assert (current.model_id, current.precision, current.worker) == ("org/tiny", "bfloat16", "audit:space:w")
    assert current.stage.startswith("re-run 1: ")
    rerun(None, spec, probe="the probe")
    assert work.current().stage.startswith("re-run 2: ")  # type: ignore[union-attr]
    assert [s for s, _ in seen] == [spec, spec] and seen[0][1]["probe"] == "the probe"
    assert seen[0][1]["should_stop"] == work.stop_requested
