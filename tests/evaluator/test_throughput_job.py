"""The queue side of R14: a request that asks for it gets a throughput record after its batch-one result."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evaluator import job
from evaluator.job import run_once
from openasr_core.board_files import open_store
from openasr_core.model_files import local_revision, weight_file_hashes
from openasr_core.records import ModelInfo, Status
from openasr_core.signing import public_key_for, verify_result
from testkit.audio import make_audiofolder, write_config
from tests.openasr_core.store_contract import make_request


@pytest.fixture
def setup(tmp_path: Path, tiny_ctc: Path):
    models = tmp_path / "models"
    shutil.copytree(tiny_ctc, models / "org" / "tiny")
    texts = ["hello", "world", "again", "once more", "five"]
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", texts)}, models_dir=models, warmup=1)
    store = open_store(config)
    folder = models / "org" / "tiny"
    info = ModelInfo(
        license="mit", parameters=1, architecture="Wav2Vec2ForCTC", weight_files=weight_file_hashes(folder)
    )

    def submit(n: int, throughput: bool) -> None:
        request = make_request(n, model_id="org/tiny", revision=local_revision(folder), model=info)
        store.submit(request.replace(throughput=throughput))

    return config, store, submit


def test_requested_throughput_runs_after_batch_one(setup) -> None:
    config, store, submit = setup
    submit(1, throughput=True)
    request = run_once(config, store, worker="w")
    assert request is not None and request.status is Status.FINISHED and request.throughput
    (result,) = store.snapshot().finished_results()
    record = store.throughput_results()["req-0001"]
    assert record.track == "throughput" and record.model_id == result.model_id == "org/tiny"
    assert record.batch_evidence.max_batch_size > 1 or record.chosen_batch_size == 1
    assert record.aggregate.batch_one_avg_wer == record.ladder[0].avg_wer
    assert record.signature and verify_result(record, public_key_for(config))
    assert result.batch_evidence.max_batch_size == 1  # the batch-one result is untouched by the batched run


def test_throughput_is_not_run_unless_asked_and_its_failure_spares_batch_one(setup, monkeypatch) -> None:
    config, store, submit = setup
    submit(1, throughput=False)
    run_once(config, store, worker="w")
    assert store.throughput_results() == {}

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the batched run crashed")

    monkeypatch.setattr("evaluator.throughput_eval.evaluate_throughput", broken)
    submit(2, throughput=True)
    request = run_once(config, store, worker="w")
    assert request is not None and request.status is Status.FINISHED
    assert store.throughput_results() == {} and len(store.snapshot().finished_results()) == 2
    assert job.run_throughput(config, store, request, None) is False
