"""Issue 25 item 3: Ctrl-C (SIGINT) or a Space restart (SIGTERM) during an evaluation stops `python app.py`
cleanly: the running request goes back to the queue at once with a `released` log event (its attempt not
counted), the process exits 0 without "terminate called without an active exception / Aborted", and the next
start evaluates it again. A real subprocess, a tiny Whisper from tests/fixtures on a few hundred short clips."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from openasr_core.board_files import open_store
from openasr_core.config import LeaderboardConfig
from openasr_core.model_files import local_revision, weight_file_hashes
from openasr_core.records import ModelInfo, Request, Status
from openasr_core.store import Store
from testkit.app_process import app_process, log_tail
from testkit.audio import make_audiofolder, write_config
from tests.openasr_core.store_contract import make_request

#: Two real `python app.py` runs (each about 10 s: start, first claim, evaluation, exit): a slow test. The quick
#: run keeps the same hand-back in one process (`tests/evaluator/test_clean_stop.py`); this one proves the signals.
pytestmark = pytest.mark.slow

MODEL = "test-org/tiny-whisper"
CLIPS = 300  # about ten seconds of evaluation for the tiny model: long enough to stop it in the middle
WAIT_S = 90.0


@pytest.fixture
def board(tmp_path: Path, tiny_model_sources: dict[str, Path]) -> LeaderboardConfig:
    models = tmp_path / "models"
    shutil.copytree(tiny_model_sources["whisper"], models / MODEL)
    clips = make_audiofolder(tmp_path / "many", [f"clip {i}" for i in range(CLIPS)], seconds=0.3)
    config = write_config(tmp_path, {"many": clips}, models_dir=models, warmup=1, max_new_tokens=16)
    folder = models / MODEL
    info = ModelInfo(
        license="mit",
        parameters=1,
        architecture="WhisperForConditionalGeneration",
        weight_files=weight_file_hashes(folder),
    )
    open_store(config).submit(make_request(1, model_id=MODEL, revision=local_revision(folder), model=info))
    return config


def _wait_for_progress(store: Store, process: subprocess.Popen[bytes], log: Path) -> Request:
    """The request once the app's evaluation has persisted its progress (it is mid-evaluation)."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        request = store.snapshot().requests["req-0001"]
        if request.status is Status.RUNNING and request.progress is not None and request.progress.done > 0:
            return request
        assert process.poll() is None, f"app.py exited early:\n{log_tail(log)}"
        assert request.status is not Status.FINISHED, "the evaluation finished before it could be stopped"
        time.sleep(0.2)
    raise AssertionError(f"no progress within {WAIT_S:g} s:\n{log_tail(log)}")


def _stop_during_evaluation(config: LeaderboardConfig, log: Path, signum: signal.Signals) -> None:
    settings = {"LEADERBOARD_CONFIG": str(config.path), "LEADERBOARD_TICK_S": "1"}
    store = open_store(config)
    with app_process(settings, log, startup_timeout_s=WAIT_S) as (process, _url):
        _wait_for_progress(store, process, log)
        process.send_signal(signum)
        code = process.wait(timeout=30)
    text = log_tail(log, 20_000)
    assert code == 0, f"{signum.name}: exit {code}\n{text}"
    assert "terminate called" not in text and "Aborted" not in text and "Traceback" not in text, text


def test_sigint_and_sigterm_hand_the_running_request_back_and_exit_0(board: LeaderboardConfig, tmp_path: Path) -> None:
    store = open_store(board)
    for round_, signum in enumerate((signal.SIGINT, signal.SIGTERM), start=1):
        _stop_during_evaluation(board, tmp_path / f"app-{signum.name}.log", signum)
        snap = open_store(board).snapshot()
        request = snap.requests["req-0001"]
        assert request.status is Status.PENDING and request.attempts == 0 and request.lease is None, request
        released = [e for e in snap.log if e.event == "released"]
        assert len(released) == round_ and signum.name in str(released[-1].detail["reason"])
        assert snap.verify_log().ok
    events = [e.event for e in store.snapshot().log]
    assert events == ["submitted", "claimed", "released", "claimed", "released"]
