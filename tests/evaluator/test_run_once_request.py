"""`python -m evaluator run-once --request-id ID`, as a Job runs it: claims exactly that request or exits
cleanly when someone else has it; its result records GPU seconds, flavor and cost from the Job's variables."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from evaluator.cli import main
from evaluator.job import run_once
from openasr_core.board_files import open_store
from openasr_core.compute import FLAVOR_ENV, PRICE_DATE_ENV, PRICE_ENV
from openasr_core.model_files import local_revision, weight_file_hashes
from openasr_core.records import ModelInfo, Status
from openasr_core.signing import public_key_for, verify_result
from testkit.audio import make_audiofolder, write_config
from tests.openasr_core.store_contract import make_request


@pytest.fixture
def board(tmp_path: Path, tiny_ctc: Path):
    models = tmp_path / "models"
    shutil.copytree(tiny_ctc, models / "org" / "tiny")
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["hello", "world"])}, models_dir=models)
    store = open_store(config)
    folder = models / "org" / "tiny"
    info = ModelInfo(
        license="mit", parameters=1, architecture="Wav2Vec2ForCTC", weight_files=weight_file_hashes(folder)
    )
    for n in (1, 2):
        store.submit(make_request(n, model_id="org/tiny", revision=local_revision(folder), model=info))
    return config, store


def test_run_once_claims_exactly_the_named_request_and_records_its_cost(board) -> None:
    config, store = board
    env = {FLAVOR_ENV: config.workers.flavor, PRICE_ENV: "0.016667", PRICE_DATE_ENV: "2026-11-27"}
    request = run_once(config, store, worker="job-1", request_id="req-0002", env=env)
    assert request is not None and request.request_id == "req-0002" and request.status is Status.FINISHED
    snap = store.snapshot()
    assert snap.requests["req-0001"].status is Status.PENDING, "the older request was left alone"
    result = snap.results["req-0002"]
    compute = result.compute
    assert compute.flavor == "a10g-small" and compute.gpu_seconds > 0 and compute.price_date == "2026-11-27"
    assert compute.billed_minutes == math.ceil(compute.gpu_seconds / 60), "a Job bills every started minute"
    assert compute.cost_usd == pytest.approx(compute.billed_minutes * 0.016667, abs=1e-6)
    assert verify_result(result, public_key_for(config)), "the compute record is covered by the signature"


def test_a_job_on_another_flavor_publishes_an_unofficial_result(board) -> None:
    config, store = board
    request = run_once(config, store, worker="job-2", request_id="req-0001", env={FLAVOR_ENV: "t4-small"})
    result = store.snapshot().results[request.request_id]
    assert result.compute.flavor == "t4-small" and result.compute.cost_usd is None and not result.official


def test_cli_run_once_request_id_exits_cleanly_when_someone_else_has_it(board, capsys) -> None:
    config, store = board
    store.claim("space-worker", 600, 3, request_id="req-0001")
    assert main(["run-once", "--config", str(config.path), "--request-id", "req-0001"]) == 0
    assert "req-0001 is RUNNING, not PENDING" in capsys.readouterr().out
    snap = store.snapshot()
    assert snap.requests["req-0001"].lease.worker == "space-worker" and snap.requests["req-0002"].attempts == 0
    assert main(["run-once", "--config", str(config.path), "--request-id", "req-9999"]) == 2
    assert "no request req-9999" in capsys.readouterr().err


def test_cli_run_once_request_id_evaluates_that_request(board, capsys) -> None:
    config, store = board
    assert main(["run-once", "--config", str(config.path), "--request-id", "req-0002"]) == 0
    assert "req-0002: FINISHED" in capsys.readouterr().out
    snap = store.snapshot()
    assert snap.requests["req-0001"].status is Status.PENDING and snap.results["req-0002"].compute.flavor is None
