"""The throughput track in the Space (R14), by component: the Throughput tab's own ranking and plot, the
cost column on the Leaderboard, both tracks on the detail page, and the Submit form's tick box."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from app import build_app
from leaderboard.table import COST_LABEL, Filters, csv_frame
from leaderboard.throughput_view import THROUGHPUT_COLUMNS, throughput_board, throughput_figure
from openasr_core import layout
from openasr_core.signing import local_private_key, sign_result
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_request, make_result, make_throughput
from tests.leaderboard.test_app import make_env, submit_callback

PRICE = {"usd_per_hour": 2.0, "source": "test price", "date": "2026-11-28"}
EVIL = "evil-org/<img src=x onerror=alert(1)>"


def result(request_id: str, model_id: str, wer: float, rtf: float, key: Any) -> Any:
    base = make_result(request_id, model_id, wers={"ljspeech-sample": wer}, version="local-v1", rtf=rtf)
    return sign_result(base.replace(rules={"hardware_price": PRICE}, signature=None), key)


def two_tracks(folder: Path) -> Any:
    """The app on a board in `folder` where r1 (whisper-tiny) and r2 (an id with markup) finished and signed,
    and both have throughput records."""
    key = local_private_key(folder / "store")
    store = LocalStore(folder / "store")
    finish_in_store(store, [result("r1", "openai/whisper-tiny", 0.2, 0.5, key), result("r2", EVIL, 0.1, 0.25, key)])
    rows = {"ljspeech-sample": []}
    for request_id, rtfx, wer in (("r1", 400.0, 0.21), ("r2", 50.0, 0.3)):
        record = make_throughput(request_id, rtfx=rtfx, avg_wer=wer, version="local-v1")
        store.publish_throughput(
            sign_result(record.replace(model_id=store.snapshot().results[request_id].model_id), key), rows
        )
    return build_app(env=make_env(folder, folder / "models"))


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """`two_tracks`, built once for the module's tests that only read it."""
    return two_tracks(tmp_path_factory.mktemp("two-tracks"))


def test_throughput_tab_has_its_own_ranking_and_plot(app: Any) -> None:
    page = app.ui.throughput
    outputs = app.ui.on_tab("throughput")
    table = outputs[page.table]
    assert table["visible"] is True and outputs[page.empty]["visible"] is False
    frame: pd.DataFrame = table["value"]
    assert list(frame.columns) == list(THROUGHPUT_COLUMNS)
    assert list(frame["Model"]) == ["openai/whisper-tiny", EVIL]  # ranked by its own WER, not batch one's
    assert list(frame["Rank"]) == [1, 2] and list(frame["Batch size"]) == [16, 16]
    assert frame[COST_LABEL].iloc[0] == "2.5"  # the record's own price (1 USD per hour) / RTFx 400 x 1000
    assert outputs[page.plot] is not None
    # The Leaderboard still ranks by batch one: r2 first there.
    assert app.ui.on_filters(None, *default_controls(app))[app.ui.board.rows] == ("r2", "r1")


def default_controls(app: Any) -> list[Any]:
    return ["", [], [], [], None, None, False, True, "avg_wer", None, False]


def test_throughput_plot_is_wer_against_rtfx_and_escapes_model_ids(app: Any) -> None:
    loaded = app.ui.ctx.source.get()
    rows = app.ui.throughput.rows(loaded)
    figure = throughput_figure(rows)
    (trace,) = figure.data
    assert list(trace.x) == [400.0, 50.0] and list(trace.y) == pytest.approx([21.0, 30.0])
    assert figure.layout.xaxis.type == "log" and "RTFx" in figure.layout.xaxis.title.text
    assert "<img" not in trace.hovertext[1] and "&lt;img src=x onerror=alert(1)&gt;" in trace.hovertext[1]
    assert throughput_figure(throughput_board([], {}, leaderboard_version="x")).data == ()


def test_empty_throughput_tab_says_how_to_ask(tmp_path: Path, models_dir: Path) -> None:
    app = build_app(env=make_env(tmp_path, models_dir))
    outputs = app.ui.on_tab("throughput")
    assert outputs[app.ui.throughput.empty]["visible"] is True
    assert outputs[app.ui.throughput.table]["visible"] is False


def test_leaderboard_has_a_cost_column_from_the_recorded_price(app: Any) -> None:
    loaded = app.ui.ctx.source.get()
    view = loaded.board.view(Filters())
    assert COST_LABEL in [c.label for c in loaded.board.columns]
    shown = dict(zip(view.request_ids, view.frame[COST_LABEL], strict=True))
    assert shown == {"r2": 500.0, "r1": 1000.0}  # price x RTF x 1000, the price each result recorded
    costs = dict(zip(view.raw["request_id"], view.raw["cost"], strict=True))
    assert costs == {"r2": 2.0 * 0.25 * 1000, "r1": 2.0 * 0.5 * 1000}
    assert list(csv_frame(view, loaded.board.eval_sets)["usd_per_1000_audio_hours"]) == [500.0, 1000.0]


def test_detail_page_shows_both_tracks_side_by_side(app: Any) -> None:
    detail = app.ui.detail
    tracks = app.ui.on_detail("r1")[detail.tracks]
    assert "| | Batch one (ranked) | Throughput (offline) |" in tracks
    assert "| Batch size | 1 | 16 (largest used 16) |" in tracks
    assert f"| {COST_LABEL} | 1,000 | 2.5 |" in tracks  # each from the price its record carries
    assert "| Meets real time | yes | — (batch one only) |" in tracks


def test_detail_page_without_throughput_says_so(tmp_path: Path, models_dir: Path) -> None:
    key = local_private_key(tmp_path / "store")
    finish_in_store(LocalStore(tmp_path / "store"), [result("r1", "openai/whisper-tiny", 0.2, 0.5, key)])
    app = build_app(env=make_env(tmp_path, models_dir))
    tracks = app.ui.on_detail("r1")[app.ui.detail.tracks]
    assert f"| {COST_LABEL} | 1,000 | — |" in tracks and "No throughput measurement" in tracks


def test_submit_tick_box_asks_for_the_throughput_track(tmp_path: Path, models_dir: Path, place_model) -> None:
    place_model("test-org/tiny-whisper")
    app = build_app(env=make_env(tmp_path, models_dir))
    assert app.ui.submit.throughput in app.ui.submit.inputs and app.ui.submit.throughput.value is False
    outputs = submit_callback(app)("test-org/tiny-whisper", "main", "float32", True, True, None)
    assert "Accepted" in outputs[app.ui.submit.result]
    (request,) = LocalStore(tmp_path / "store").snapshot().requests.values()
    assert request.throughput is True


def test_detail_page_says_when_the_throughput_signature_does_not_verify(tmp_path: Path) -> None:
    app = two_tracks(tmp_path)  # its own board: the test edits it
    assert "does not verify" not in app.ui.on_detail("r1")[app.ui.detail.tracks]
    path = app.store.results_root / layout.throughput_records_path(layout.shard("r1"))
    path.write_text(path.read_text().replace('"chosen_batch_size": 16', '"chosen_batch_size": 64'))
    fresh = build_app(env=make_env(tmp_path, tmp_path / "models"))  # a hand edit logs nothing: a new page reads it
    tracks = fresh.ui.on_detail("r1")[fresh.ui.detail.tracks]
    # The edited record's sha256 is not the one its `throughput_published` event names: it is not shown as data.
    assert "64" not in tracks and "| Batch size | 1 | — |" in tracks


def test_detail_page_says_a_failed_throughput_run_waits_for_its_retry(tmp_path: Path, models_dir: Path) -> None:
    """Issue 26, item 6: a run asked for, failed once and not yet retried is said as such, with the reason and
    when it is retried, not as a run that "runs right after the batch-one evaluation"."""
    key = local_private_key(tmp_path / "store")
    store = LocalStore(tmp_path / "store")
    store.submit(make_request("r1", "openai/whisper-tiny", throughput=True))
    claimed = store.claim("worker-1", 600, 3)
    assert claimed is not None
    store.finish("r1", "worker-1", result("r1", "openai/whisper-tiny", 0.2, 0.5, key), {"ljspeech-sample": []})
    store.start_throughput("r1", "job-1", 600)
    store.fail_throughput("r1", "job-1", 1, "CUDA out of memory", "transient")
    app = build_app(env=make_env(tmp_path, models_dir))
    tracks = app.ui.on_detail("r1")[app.ui.detail.tracks]
    assert "attempt 1 of 3 failed (CUDA out of memory): retried after" in tracks
    assert "runs right after the batch-one evaluation" not in tracks
    assert "failed (CUDA out of memory)" in str(app.ui.queue.render()[app.ui.queue.finished].value)
