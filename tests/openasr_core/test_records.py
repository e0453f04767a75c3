from __future__ import annotations

import json

import pytest

from openasr_core.records import (
    SCHEMA_VERSION,
    Lease,
    LogEntry,
    ModelInfo,
    PredictionRow,
    Progress,
    Request,
    Result,
    Status,
    read_jsonl,
    write_jsonl,
)
from tests.openasr_core.store_contract import make_request, make_result


def test_request_round_trips_losslessly_with_nested_records() -> None:
    request = make_request(
        1,
        status=Status.RUNNING,
        attempts=2,
        lease=Lease(worker="w", expires_at="2026-11-27T10:00:00.000Z"),
        progress=Progress(eval_set="ami", done=3, total=10, sets_done=1, sets_total=8, eta_s=12.5, updated_at="x"),
        model=ModelInfo(
            license="mit",
            parameters=10,
            architecture="WhisperForConditionalGeneration",
            weight_files={"model.safetensors": "ab"},
        ),
    )
    data = json.loads(request.to_json())
    assert data["status"] == "RUNNING" and data["lease"]["worker"] == "w" and data["schema_version"] == SCHEMA_VERSION
    assert Request.from_json(request.to_json()) == request


def test_result_round_trips_and_keeps_the_public_field_names() -> None:
    result = make_result(make_request(1))
    data = json.loads(result.to_json())
    assert Result.from_dict(data) == result
    expected = {
        "request_id",
        "model_id",
        "revision",
        "precision",
        "leaderboard_version",
        "official",
        "datasets",
        "aggregate",
    }
    expected |= {
        "batch_evidence",
        "warmup_utterances",
        "hardware",
        "software",
        "started_at",
        "finished_at",
        "reproduce",
        "signature",
    }
    assert expected <= set(data)
    per_set = {
        "wer",
        "wer_ci95",
        "substitutions",
        "deletions",
        "insertions",
        "ref_words",
        "utterances",
        "audio_s",
        "time_s",
    }
    per_set |= {"rtf", "rtfx", "latency_p50_s", "latency_p90_s", "latency_p99_s", "utterance_rtf_p99"}
    assert per_set <= set(data["datasets"]["set"])
    assert set(data["aggregate"]) == {"avg_wer", "rtf", "rtfx", "meets_realtime"}
    assert isinstance(Result.from_dict(data).datasets["set"].wer_ci95, tuple)


def test_unknown_field_is_an_error_that_names_it() -> None:
    data = make_request(1).to_dict() | {"surprise": 1}
    with pytest.raises(ValueError, match="surprise"):
        Request.from_dict(data)


def test_jsonl_round_trip() -> None:
    rows = [PredictionRow("a", "ref", "Pred, raw!", 1.5, 0.25), PredictionRow("b", "", "", 0.1, 0.01)]
    assert read_jsonl(PredictionRow, write_jsonl(rows)) == rows
    entry = LogEntry(
        seq=1, at="t", request_id="r", event="submitted", actor="a", detail={"k": [1]}, prev_hash="0", hash="h"
    )
    assert read_jsonl(LogEntry, write_jsonl([entry])) == [entry]
