"""`run_once` against a real LocalStore: claim, evaluate, publish; failures with reasons; lease loss."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from evaluator.job import LeaseKeeper, redact, run_once
from openasr_core.board_files import open_store
from openasr_core.model_files import local_revision, weight_file_hashes
from openasr_core.records import ModelInfo, PredictionRow, Request, Status, read_jsonl
from openasr_core.signing import public_key_for, verify_result
from openasr_core.store import LocalStore
from testkit.audio import make_audiofolder, write_config
from tests.openasr_core.store_contract import FakeClock, make_request


@pytest.fixture
def setup(tmp_path: Path, tiny_ctc: Path):
    models = tmp_path / "models"
    shutil.copytree(tiny_ctc, models / "org" / "tiny")
    config = write_config(
        tmp_path, {"s": make_audiofolder(tmp_path / "s", ["hello", "world", ""])}, models_dir=models, warmup=1
    )
    return config, open_store(config)


def _submit(
    store: LocalStore, n: int, model_id: str, revision: str | None = None, models: Path | None = None
) -> Request:
    """Submit as the Space does: the revision and the weight hashes recorded from the model's folder."""
    folder = models / model_id if models else None
    info = None
    if folder is not None and folder.is_dir():
        info = ModelInfo(
            license="mit", parameters=1, architecture="Wav2Vec2ForCTC", weight_files=weight_file_hashes(folder)
        )
        revision = revision or local_revision(folder)
    return store.submit(make_request(n, model_id=model_id, revision=revision or "main", model=info))


def test_run_once_publishes_result_and_predictions(setup) -> None:
    config, store = setup
    _submit(store, 1, "org/tiny", models=config.models_dir)
    request = run_once(config, store, worker="w")
    assert request is not None and request.status is Status.FINISHED, request
    snap = store.snapshot()
    (result,) = snap.finished_results()
    assert result.signature and verify_result(result, public_key_for(config))
    assert result.model.weight_files == request.model.weight_files
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
    _submit(store, 1, "org/tiny", revision="f" * 40, models=config.models_dir)
    request = run_once(config, store, worker="w")
    assert request.status is Status.FAILED and "files changed since submission" in request.error


def test_corrupt_audio_fails_naming_the_file(setup) -> None:
    config, store = setup
    (config.eval_sets[0].path / "utt001.flac").write_bytes(b"broken")
    _submit(store, 1, "org/tiny", models=config.models_dir)
    request = run_once(config, store, worker="w")
    assert request.status is Status.FAILED and "utt001" in request.error
    assert store.snapshot().finished_results() == []


def test_lease_keeper_notices_a_lost_lease(setup) -> None:
    _, store = setup
    _submit(store, 1, "org/tiny")
    store.clock = clock = FakeClock()  # the lease lapses by moving the store's clock, not by sleeping
    store.claim("w1", lease_s=60, max_attempts=3)
    clock.advance(61)
    store.claim("w2", lease_s=60, max_attempts=3)  # w1's lease lapsed: another worker took the request
    with LeaseKeeper(store, "req-0001", "w1", lease_s=60, interval_s=0.01) as keeper:
        for _ in range(6000):  # the keeper's first beat finds the lease gone (a hang guard, not a timing check)
            if keeper.lost():
                break
            threading.Event().wait(0.01)
    assert keeper.lost()


def test_lease_keeper_survives_any_exception_and_beats_again() -> None:
    """The real Hub client raises transient failures as many types; none may kill the renewal thread."""
    from huggingface_hub.errors import LocalEntryNotFoundError

    failures = [LocalEntryNotFoundError("5xx while offline"), RuntimeError("anything"), ValueError("bad json")]
    renewed = threading.Event()
    calls: list[str] = []

    class FlakyStore:
        def heartbeat(self, request_id: str, worker: str, lease_s: float, progress: object = None) -> None:
            calls.append(request_id)
            if failures:
                raise failures.pop(0)
            renewed.set()

    with LeaseKeeper(FlakyStore(), "req-0001", "w1", lease_s=60, interval_s=0.001) as keeper:  # type: ignore[arg-type]
        assert renewed.wait(timeout=30)
    assert not keeper.lost() and len(calls) >= 4 and not failures


def test_secrets_are_redacted(monkeypatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secretsecret123")
    assert redact("401 for token hf_secretsecret123") == "401 for token ***"


def test_weights_changed_after_submission_fail_naming_the_file(setup) -> None:
    config, store = setup
    _submit(store, 1, "org/tiny", models=config.models_dir)
    weights = config.models_dir / "org" / "tiny" / "model.safetensors"
    weights.write_bytes(weights.read_bytes() + b" ")
    request = run_once(config, store, worker="w")
    assert request.status is Status.FAILED and "model.safetensors" in request.error
    assert store.snapshot().finished_results() == []


def test_published_store_verifies_with_the_cli(setup, capsys) -> None:
    from evaluator.cli import main

    config, store = setup
    _submit(store, 1, "org/tiny", models=config.models_dir)
    run_once(config, store, worker="w")
    assert main(["verify", str(config.store.local_root)]) == 4  # the key came from the store's own card
    assert main(["verify", str(config.store.local_root), "--public-key", public_key_for(config)]) == 0
    before = store.snapshot()
    from openasr_core import layout

    results_root = config.store.local_root / "results"
    result_file = results_root / layout.result_path("req-0001")
    result_file.write_text(result_file.read_text().replace('"precision": "float32"', '"precision": "float16"'))
    records = results_root / layout.records_path(layout.shard("req-0001"))  # what the board reads
    records.write_text(records.read_text().replace('"precision":"float32"', '"precision":"float16"'))
    after = store.snapshot()
    assert after.version != before.version  # the Space rebuilds its board and stops ranking the edited result
    assert not verify_result(after.results["req-0001"], public_key_for(config))
    assert main(["verify", str(config.store.local_root)]) == 1
    assert "req-0001" in capsys.readouterr().out


def test_worker_that_lost_its_lease_publishes_nothing_and_says_so(setup, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime, timedelta

    from openasr_core.store import LeaseLost

    config, store = setup
    _submit(store, 1, "org/tiny", models=config.models_dir)
    real_finish = store.finish

    def paused_past_the_lease(request_id, worker, result, predictions):  # the process was stopped, then resumed
        store.clock = lambda: datetime.now(UTC) + timedelta(seconds=config.rules.lease_s + 60)
        assert store.claim("other", config.rules.lease_s, config.rules.max_attempts + 1) is not None
        return real_finish(request_id, worker, result, predictions)

    monkeypatch.setattr(store, "finish", paused_past_the_lease)
    with pytest.raises(LeaseLost, match="w lost its lease on req-0001"):
        run_once(config, store, worker="w")
    snap = store.snapshot()
    assert snap.finished_results() == [] and snap.requests["req-0001"].lease.worker == "other"


def test_a_worker_that_cannot_see_the_boards_gpu_claims_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evaluator.device_check as device_check

    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["hi"])}, gpu_class="A10G")
    store = open_store(config)
    store.submit(make_request(1))
    cpu_only = device_check.DeviceProbe(torch_version="2.13.0", torch_cuda=None, cuda_available=False)
    monkeypatch.setattr(device_check, "probe_device", lambda: cpu_only)
    with pytest.raises(device_check.WrongDevice, match="this worker cannot evaluate"):
        run_once(config, store, worker="w")
    assert store.snapshot().requests["req-0001"].status is Status.PENDING
