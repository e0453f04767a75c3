"""`app.build_app` wiring and the page callbacks, called directly (no server): who submits locally and on a
Space, the URL restoring the filters on load, and the filter callback producing the shareable query."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from app import build_app, scheduler_enabled
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_result


def make_env(tmp_path: Path, models_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "LEADERBOARD_STORE": str(tmp_path / "store"),
        "LEADERBOARD_MODELS_DIR": str(models_dir),
        "LEADERBOARD_SCHEDULER": "off",
        **extra,
    }


def test_scheduler_switch() -> None:
    assert scheduler_enabled({}) and scheduler_enabled({"LEADERBOARD_SCHEDULER": "on"})
    assert not scheduler_enabled({"LEADERBOARD_SCHEDULER": "off"}) and not scheduler_enabled(
        {"LEADERBOARD_SCHEDULER": "0"}
    )


def test_build_app_creates_the_models_folder(tmp_path: Path) -> None:
    models = tmp_path / "drop-models-here"
    app = build_app(env=make_env(tmp_path, models))
    assert models.is_dir() and app.scheduler is None


def test_local_run_submits_as_the_local_user(tmp_path: Path, models_dir: Path, place_model) -> None:
    place_model("test-org/tiny-whisper")
    app = build_app(env=make_env(tmp_path, models_dir, LEADERBOARD_LOCAL_USER="dev"))
    assert not any(type(b).__name__ == "LoginButton" for b in app.demo.blocks.values())  # no token needed locally
    ui = app.ui
    outputs = submit_callback(app)("test-org/tiny-whisper", "main", "float32", True, False, None)
    assert "Accepted" in outputs[ui.submit.result] and "#1 in the queue" in outputs[ui.submit.result]
    (request,) = LocalStore(tmp_path / "store").snapshot().requests.values()
    assert request.submitter == "dev"
    assert "**1** pending" in outputs[ui.queue.counts]  # the queue page refreshed with it


def submit_callback(app: Any) -> Any:
    """The submit button's callback as gradio calls it (with the OAuth profile argument)."""
    (fn,) = [f.fn for f in app.demo.fns.values() if f.name == "on_submit"]
    return fn


@pytest.fixture
def on_a_space(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a Space with `hf_oauth: true` provides, so gradio attaches its real OAuth routes (no network)."""
    import gradio.oauth

    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "org/space")
    for name, value in {
        "OAUTH_CLIENT_ID": "client",
        "OAUTH_CLIENT_SECRET": "secret",
        "OAUTH_SCOPES": "openid profile",
        "OPENID_PROVIDER_URL": "https://huggingface.co",
    }.items():
        monkeypatch.setattr(gradio.oauth, name, value)


def test_on_a_space_login_is_required(tmp_path: Path, models_dir: Path, place_model, on_a_space) -> None:
    pytest.importorskip("authlib", reason="gradio[oauth] (authlib, itsdangerous) is needed for the Space's login")
    place_model("test-org/tiny-whisper")
    app = build_app(env=make_env(tmp_path, models_dir, SPACE_ID="org/space"))
    assert any(type(b).__name__ == "LoginButton" for b in app.demo.blocks.values())
    submit = submit_callback(app)
    result = app.ui.submit.result
    refused = submit("test-org/tiny-whisper", "main", "float32", True, False, None)
    assert "Log in with Hugging Face first" in refused[result]
    assert not LocalStore(tmp_path / "store").snapshot().requests
    accepted = submit("test-org/tiny-whisper", "main", "float32", True, False, SimpleNamespace(username="alice"))
    assert "Accepted" in accepted[result]
    (request,) = LocalStore(tmp_path / "store").snapshot().requests.values()
    assert request.submitter == "alice"


@pytest.fixture(scope="module")
def populated(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two finished results, the app built once for the module: its tests only call the page callbacks."""
    folder = tmp_path_factory.mktemp("populated")
    store = LocalStore(folder / "store")
    finish_in_store(
        store,
        [
            make_result(
                "r1", "openai/whisper-tiny", wers={"ljspeech-sample": 0.2}, version="local-v1", precision="float32"
            ),
            make_result(
                "r2", "openai/whisper-base", wers={"ljspeech-sample": 0.1}, version="local-v1", precision="float16"
            ),
        ],
    )
    return build_app(env=make_env(folder, folder / "models"))


def test_page_load_restores_filters_from_the_url(populated: Any) -> None:
    board = populated.ui.board
    outputs = populated.ui.on_restore("q=tiny&precision=float32&sort=rtf&official=0")
    assert outputs[board.search] == "tiny" and outputs[board.precisions] == ["float32"]
    assert outputs[board.realtime] is False and outputs[board.official] is False
    assert outputs[board.sort].value == "rtf"
    assert outputs[board.rows] == ("r1",) and "Showing **1** of 2 entries" in outputs[board.status]
    assert outputs[board.filters_query] == "q=tiny&precision=float32&official=0&sort=rtf"


def test_page_load_with_a_detail_link_opens_that_model(populated: Any) -> None:
    ui = populated.ui
    outputs = ui.on_restore("?detail=r1")
    assert "openai/whisper-tiny" in outputs[ui.detail.header] and outputs[ui.tabs].selected == "detail"
    assert outputs[ui.tab] == "detail" and outputs[ui.detail.select].value == "r1"
    assert "?detail=r1" in outputs[ui.detail.link]


def test_plain_page_load_is_the_default_view_computed_once(populated: Any) -> None:
    ui = populated.ui
    first = ui.on_load()
    assert first[ui.board.rows] == ("r2", "r1") and first[ui.board.filters_query] == ""
    assert ui.board.search not in first and ui.tabs not in first  # the page was built with those defaults
    loaded = populated.ui.ctx.source.get()
    computed = loaded.memo.computed
    again = ui.on_load()
    assert again[ui.board.rows] == first[ui.board.rows] and loaded.memo.computed == computed


def test_the_parameter_filters_read_no_limit_not_zero(populated: Any) -> None:
    """Issue 25 item 6: gradio draws an empty Number as "0" until an event sets it, so "Params ≤ (M)" read as a
    limit of zero; the page load empties both boxes, which then show their "no limit" placeholder. A shared link
    still sets its own limit (`on_restore` runs after the load)."""
    ui = populated.ui
    assert [n.placeholder for n in ui.board.params] == ["no limit", "no limit"]
    assert set(ui.board.params) <= set(ui.load_outputs)
    loaded = ui.on_load()
    assert [loaded[n] for n in ui.board.params] == [None, None]
    restored = ui.on_restore("?pmin=50")
    assert restored[ui.board.params_min] == 50 and restored[ui.board.params_max] is None


def test_filter_callback_returns_rows_and_the_shareable_query(populated: Any) -> None:
    all_columns = [
        "badges",
        "avg_wer",
        "rtf",
        "rtfx",
        "latency_p90",
        "cost",
        "wer.ljspeech-sample",
        "params",
        "precision",
        "license",
        "audit",
    ]
    board = populated.ui.board
    outputs = populated.ui.on_filters(None, "", [], ["float16"], [], None, None, False, True, "avg_wer", all_columns)
    assert outputs[board.rows] == ("r2",) and outputs[board.filters_query] == "precision=float16"


def test_predictions_preview(populated: Any) -> None:
    preview = populated.ui.detail.preview
    frame = preview("r1", "ljspeech-sample")
    assert list(frame.columns) == ["id", "reference", "prediction", "duration_s", "time_s"] and len(frame) == 2
    assert "No stored predictions" in preview("r1", "missing-set").iloc[0, 0]


def test_jobs_mode_refuses_a_local_store_before_serving(tmp_path: Path) -> None:
    import dataclasses

    from openasr_core.config import ConfigError, WorkersConfig, load_config

    env = make_env(tmp_path, tmp_path / "models", LEADERBOARD_SCHEDULER="on", HF_TOKEN="hf_jobs_token_value")
    config = load_config(env=env)
    jobs = dataclasses.replace(config, workers=WorkersConfig(mode="jobs", space_id="org/space"))
    with pytest.raises(ConfigError, match="needs the Hub store"):
        build_app(jobs, env=env)
