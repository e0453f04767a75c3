"""`run_once` against a real LocalStore: claim, evaluate, publish; failures with reasons; lease loss."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from core.records import PredictionRow, Request, Status, read_jsonl
from core.store import LocalStore
from evaluator.job import LeaseKeeper, redact, run_once
from tests.core.store_contract import make_request
from tests.fixtures.audio import make_audiofolder, write_config


@pytest.fixture
def setup(tmp_path: Path, tiny_ctc: Path):
    models = tmp_path / "models"
    shutil.copytree(tiny_ctc, models / "org" / "tiny")
    config = write_config(
        tmp_path, {"s": make_audiofolder(tmp_path / "s", ["hello", "world", ""])}, models_dir=models, warmup=1
    )
    return config, LocalStore(config.store.local_root)


def _submit(store: LocalStore, n: int, model_id: str, revision: str = "main") -> Request:
    return store.submit(make_request(n, model_id=model_id, revision=revision))


def test_run_once_publishes_result_and_predictions(setup) -> None:
    config, store = setup
    _submit(store, 1, "org/tiny")
    request = run_once(config, store, worker="w")
    assert request is not None and request.status is Status.FINISHED, request
    snap = store.snapshot()
    (result,) = snap.finished_results()
    assert (
        result.request_id == "req-0001" and result.model_id == "org/tiny" and result.batch_evidence.max_batch_size == 1
    )
    rows = store.predictions("req-0001", "s")
    assert [r.reference for r in rows] == ["hello", "world"]
    raw = Path(store.predictions_url("req-0001", "s")).read_text()
    assert read_jsonl(PredictionRow, raw) == rows
    assert [e.event for e in snap.log] == ["submitted", "claimed", "finished"] and snap.verify_log().ok
    assert run_once(config, store, worker="w") is None


def test_missing_model_fails_with_a_reason(setup) -> None:
    config, store = setup
    _submit(store, 1, "org/missing-model")
    request = run_once(config, store, worker="w")
    assert request.status is Status.FAILED and "org/missing-model" in request.error
    assert store.snapshot().log[-1].event == "failed"


def test_changed_local_model_fails(setup) -> None:
    config, store = setup
    _submit(store, 1, "org/tiny", revision="f" * 40)
    request = run_once(config, store, worker="w")
    assert request.status is Status.FAILED and "files changed since submission" in request.error


def test_corrupt_audio_fails_naming_the_file(setup) -> None:
    config, store = setup
    (config.eval_sets[0].path / "utt001.flac").write_bytes(b"broken")
    _submit(store, 1, "org/tiny")
    request = run_once(config, store, worker="w")
    assert request.status is Status.FAILED and "utt001" in request.error
    assert store.snapshot().finished_results() == []


def test_lease_keeper_notices_a_lost_lease(setup) -> None:
    _, store = setup
    _submit(store, 1, "org/tiny")
    store.claim("w1", lease_s=0.1, max_attempts=3)
    time.sleep(0.2)
    store.claim("w2", lease_s=60, max_attempts=3)
    with LeaseKeeper(store, "req-0001", "w1", lease_s=0.1, interval_s=0.02) as keeper:
        deadline = time.monotonic() + 5
        while not keeper.lost() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert keeper.lost()


def test_secrets_are_redacted(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secretsecret123")
    assert redact("401 for token hf_secretsecret123") == "401 for token ***"
