"""The page classes' own rules: the URL of each page, the Queue page's scheduler line and worker names, the
form's default precision, the memo per store version, and the controls that filter on every change."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import build_app
from leaderboard.data import VersionMemo
from leaderboard.pages.context import default_precision
from leaderboard.pages.queue import scheduler_markdown
from leaderboard.query import page_query
from leaderboard.queue_view import RunningItem, running_html, worker_text
from leaderboard.scheduler import SchedulerStatus
from openasr_core.config import load_config
from tests.leaderboard.test_app import make_env

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_page_query_for_every_page() -> None:
    assert page_query("q=tiny", "leaderboard", "r1") == "q=tiny"
    assert page_query("", None, None) == ""
    assert page_query("q=tiny", "plot", None) == "tab=plot&q=tiny"  # the plot shows the filtered view
    assert page_query("", "plot", None) == "tab=plot"
    assert page_query("q=tiny", "queue", "r1") == "tab=queue"
    assert page_query("q=tiny", "detail", "r 1/x") == "detail=r+1%2Fx"
    assert page_query("q=tiny", "detail", None) == "tab=detail"


def test_scheduler_line_never_says_busy_and_nothing_pending_together() -> None:
    busy = SchedulerStatus(
        enabled=True,
        running=True,
        interval_s=30,
        last_started_at=NOW - timedelta(seconds=40),
        last_finished_at=NOW - timedelta(seconds=50),
        last_outcome="nothing pending",
    )
    item = RunningItem("r1", "org/m", "float32", "space:vm:4669", 1, None, 0, 0, 0, 0, 0.0, None)
    evaluating = scheduler_markdown(busy, NOW, [item])
    assert "evaluating" in evaluating and "nothing pending" not in evaluating and "40 s" in evaluating
    checking = scheduler_markdown(busy, NOW, [])
    assert "checking the queue" in checking and "nothing pending" not in checking
    idle = SchedulerStatus(
        enabled=True,
        interval_s=30,
        last_finished_at=NOW - timedelta(seconds=5),
        last_outcome="nothing pending",
        next_run_at=NOW + timedelta(seconds=25),
    )
    line = scheduler_markdown(idle, NOW, [])
    assert "idle" in line and "nothing pending" in line and "next check in 25 s" in line
    assert "off" in scheduler_markdown(SchedulerStatus(enabled=False, note="runs elsewhere"), NOW, [])


def test_worker_ids_are_explained_not_shown_bare() -> None:
    own = worker_text("space:vm:4669")
    assert "this Space's background evaluator" in own and ">space:vm:4669<" not in own
    assert "title=" in own  # the raw id stays available on hover
    other = worker_text("gpu-box-12-ab12cd")
    assert "outside this Space" in other and "gpu-box-12-ab12cd" in other
    assert "&lt;b&gt;" in worker_text("<b>x</b>")
    item = RunningItem("r1", "org/m", "float32", "space:vm:4669", 1, None, 0, 0, 0, 0, 0.0, None)
    assert "· space:vm:4669" not in running_html([item], 3)


def test_default_precision_follows_the_hardware() -> None:
    local = load_config(Path("configs/local.toml"), env={})
    assert default_precision(local, has_gpu=False) == "float32"  # the CLI's default too
    assert default_precision(local, has_gpu=True) == "float16"
    official = load_config(Path("configs/esb-v1.toml"), env={})
    assert default_precision(official, has_gpu=False) == "float16"  # measured on the board's GPU class


def test_version_memo_computes_once_and_stays_bounded() -> None:
    memo = VersionMemo(size=2)
    calls: list[str] = []

    def compute(key: str) -> Any:
        return memo.get(key, lambda: calls.append(key) or key.upper())

    assert compute("a") == "A" and compute("a") == "A" and calls == ["a"]
    compute("b")
    compute("c")  # "a" is the least recently used: dropped
    compute("a")
    assert calls == ["a", "b", "c", "a"]


def test_version_memo_computes_a_key_once_for_visitors_asking_together() -> None:
    memo = VersionMemo()
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow() -> str:
        calls.append("page")
        started.set()
        release.wait(timeout=30)
        return "page"

    with ThreadPoolExecutor(max_workers=5) as pool:
        first = pool.submit(memo.get, "load", slow)
        assert started.wait(timeout=30)
        waiting = [pool.submit(memo.get, "load", slow) for _ in range(4)]
        assert memo.get("other", lambda: "not blocked") == "not blocked"  # another key does not wait
        while not all(w.running() for w in waiting):  # every visitor has arrived while the page is computed
            threading.Event().wait(0.001)
        release.set()
        assert first.result() == "page" and [w.result() for w in waiting] == ["page"] * 4
    assert calls == ["page"]


def test_version_memo_passes_a_failure_to_every_waiter_and_keeps_nothing() -> None:
    memo = VersionMemo()

    def broken() -> str:
        raise RuntimeError("store went away")

    with pytest.raises(RuntimeError, match="store went away"):
        memo.get("load", broken)
    assert memo.get("load", lambda: "page") == "page" and memo.computed == 1


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app of an empty board, built once for the module: its tests read its wiring and call its callbacks."""
    folder = tmp_path_factory.mktemp("empty-board")
    return build_app(env=make_env(folder, folder / "models")).ui


def test_search_and_numbers_filter_on_every_change(ui: Any) -> None:
    """Typing, pasting and clearing all change the value; `change` follows each (`input` missed pastes)."""
    triggers: dict[int, set[str]] = {}
    for fn in ui.demo.fns.values():
        if fn.name == "on_filters":
            for block, event in fn.targets:
                triggers.setdefault(block, set()).add(event)
    for control in (ui.board.search, ui.board.params_min, ui.board.params_max):
        assert "change" in triggers[control._id]


def test_an_empty_view_has_no_csv_button(ui: Any) -> None:
    update = ui.on_filters(None, "nothing matches", [], [], [], None, None, False, True, "avg_wer", [])
    assert update[ui.board.download]["visible"] is False and update[ui.board.download]["value"] is None
    assert update[ui.board.empty]["visible"] is True


def test_board_callbacks_return_only_their_outputs(ui: Any) -> None:
    """gradio rebuilds every output a callback leaves out: the page load fills all of its own."""
    assert set(ui.on_load()) == set(ui.load_outputs)
    assert set(ui.on_filters(None, "", [], [], [], None, None, False, True, "avg_wer", [])) == set(ui.view_outputs)
    assert len(ui.load_outputs) == len(set(ui.load_outputs)) and len(ui.restore_outputs) == len(set(ui.restore_outputs))


def test_in_space_mode_the_queue_has_no_jobs_section(ui: Any) -> None:
    assert ui.ctx.dispatch_status is None and not ui.queue.jobs.visible
    assert ui.queue.render()[ui.queue.jobs] == ""


def test_every_visitor_of_an_empty_board_reads_no_results_yet(ui: Any) -> None:
    """Issue 25 item 1: gradio pops `value` out of each property update it sends, so the memoized page-load answer
    reached the second visitor without the empty board's message (an empty box under the filters)."""
    from gradio.blocks import postprocess_update_dict

    for visitor in range(3):
        update = ui.on_load()
        empty = update[ui.board.empty]
        assert "No results yet" in empty["value"] and empty["visible"] is True, f"visitor {visitor + 1}: {empty}"
        postprocess_update_dict(ui.board.empty, empty, postprocess=False)  # what gradio does with the answer
