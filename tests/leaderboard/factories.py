"""Records for the leaderboard tests: results with chosen numbers, and a store holding finished requests."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from core.records import (
    Aggregate,
    BatchEvidence,
    DatasetScore,
    EvalSetSource,
    Hardware,
    ModelInfo,
    PredictionRow,
    Request,
    Result,
)
from core.store import Store

SHA = "0123456789abcdef0123456789abcdef01234567"


def score(wer: float, rtf: float = 0.1, p90: float = 0.2) -> DatasetScore:
    return DatasetScore(
        wer=wer,
        wer_ci95=(max(0.0, wer - 0.01), wer + 0.01),
        substitutions=5,
        deletions=2,
        insertions=1,
        ref_words=100,
        utterances=10,
        audio_s=60.0,
        time_s=60.0 * rtf,
        rtf=rtf,
        rtfx=1 / rtf if rtf else float("inf"),
        latency_p50_s=p90 / 2,
        latency_p90_s=p90,
        latency_p99_s=p90 * 1.5,
        utterance_rtf_p99=rtf * 2,
    )


def make_result(
    request_id: str,
    model_id: str = "org/model",
    *,
    wers: Mapping[str, float] | None = None,
    rtf: float = 0.1,
    official: bool = True,
    precision: str = "float16",
    meets_realtime: bool = True,
    version: str = "v1",
    parameters: int = 39_000_000,
    license: str = "mit",
    architecture: str = "WhisperForConditionalGeneration",
    finished_at: str = "2026-11-27T10:00:00Z",
    started_at: str = "2026-11-27T09:58:00Z",
    gpu_class: str = "A10G",
    with_model: bool = True,
    p90: float = 0.2,
) -> Result:
    wers = dict(wers or {"ami": 0.2, "librispeech": 0.05})
    avg = sum(wers.values()) / len(wers)
    return Result(
        request_id=request_id,
        model_id=model_id,
        revision=SHA,
        precision=precision,
        leaderboard_version=version,
        official=official,
        datasets={name: score(wer, rtf, p90) for name, wer in wers.items()},
        aggregate=Aggregate(avg_wer=avg, rtf=rtf, rtfx=1 / rtf if rtf else float("inf"), meets_realtime=meets_realtime),
        batch_evidence=BatchEvidence(max_batch_size=1, forward_calls=24),
        warmup_utterances=10,
        hardware=Hardware(
            device="cuda:0" if gpu_class != "cpu" else "cpu",
            gpu_class=gpu_class,
            gpu_name="NVIDIA A10G" if gpu_class == "A10G" else None,
            gpu_memory_bytes=24 * 2**30 if gpu_class == "A10G" else None,
            driver_version="550.54",
            cuda_version="12.4",
            cpu="AMD EPYC 7R32",
            cpu_count=8,
            platform="Linux-x86_64",
        ),
        software={"torch": "2.13.0", "transformers": "5.24.0", "evaluator": "0.1.0"},
        started_at=started_at,
        finished_at=finished_at,
        reproduce=f"python -m evaluator evaluate --model {model_id} --revision {SHA} --precision {precision}",
        eval_sets=[
            EvalSetSource(name=n, source="hf-audio/esb-datasets-test-only-sorted", revision="main") for n in wers
        ],
        model=ModelInfo(license=license, parameters=parameters, architecture=architecture, weight_files={})
        if with_model
        else None,
        signature="sig" if official else None,
    )


def make_request(request_id: str, model_id: str = "org/model", **overrides: Any) -> Request:
    values: dict[str, Any] = {
        "request_id": request_id,
        "model_id": model_id,
        "revision": SHA,
        "requested_revision": "main",
        "precision": "float16",
        "submitter": "alice",
        "submitted_at": "2026-11-27T09:00:00Z",
        "model": ModelInfo(
            license="mit", parameters=39_000_000, architecture="WhisperForConditionalGeneration", weight_files={}
        ),
    }
    values.update(overrides)
    return Request(**values)


def finish_in_store(store: Store, results: Sequence[Result], *, lease_s: float = 600) -> None:
    """Submit, claim and finish one request per result, with two prediction rows per eval set."""
    for result in results:
        store.submit(make_request(result.request_id, result.model_id, precision=result.precision))
    for _ in results:
        claimed = store.claim("worker-1", lease_s, 3)
        assert claimed is not None
        target = next(r for r in results if r.request_id == claimed.request_id)
        predictions = {
            name: [
                PredictionRow(
                    id=f"{name}-{i}", reference="hello world", prediction="Hello world!", duration_s=2.0, time_s=0.2
                )
                for i in range(2)
            ]
            for name in target.datasets
        }
        store.finish(claimed.request_id, "worker-1", target, predictions)
