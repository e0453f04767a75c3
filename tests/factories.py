"""The one place that makes request and result records with chosen numbers, for tests and benchmarks.

Store tests, leaderboard tests and `bench/table.py` all build their records here, so a new field of a record
is added once. Nothing here is measured: the numbers are whatever the caller asks for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.records import (
    Aggregate,
    BatchEvidence,
    DatasetScore,
    EvalSetSource,
    Hardware,
    ModelInfo,
    Request,
    Result,
)

SHA = "0123456789abcdef0123456789abcdef01234567"
#: `make_result(signature=AUTO)`: "sig" for an official result, none for an unofficial one.
AUTO = "auto"


def score(wer: float, rtf: float = 0.1, p90: float = 0.2) -> DatasetScore:
    """One eval set's numbers: `wer` with a CI of ±1 point, a minute of audio timed at `rtf`."""
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


def _hardware(gpu_class: str) -> Hardware:
    a10g = gpu_class == "A10G"
    return Hardware(
        device="cpu" if gpu_class.lower() == "cpu" else "cuda:0",
        gpu_class=gpu_class,
        gpu_name="NVIDIA A10G" if a10g else None,
        gpu_memory_bytes=24 * 2**30 if a10g else None,
        driver_version="550.54",
        cuda_version="12.4",
        cpu="AMD EPYC 7R32",
        cpu_count=8,
        platform="Linux-x86_64",
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
    revision: str = SHA,
    parameters: int = 39_000_000,
    license: str = "mit",
    architecture: str = "WhisperForConditionalGeneration",
    finished_at: str = "2026-11-27T10:00:00Z",
    started_at: str = "2026-11-27T09:58:00Z",
    gpu_class: str = "A10G",
    with_model: bool = True,
    p90: float = 0.2,
    signature: str | None = AUTO,
) -> Result:
    """A finished result: per-set WERs `wers` (average = their mean), RTF `rtf` everywhere."""
    wers = dict(wers or {"ami": 0.2, "librispeech": 0.05})
    avg = sum(wers.values()) / len(wers)
    return Result(
        request_id=request_id,
        model_id=model_id,
        revision=revision,
        precision=precision,
        leaderboard_version=version,
        official=official,
        datasets={name: score(wer, rtf, p90) for name, wer in wers.items()},
        aggregate=Aggregate(avg_wer=avg, rtf=rtf, rtfx=1 / rtf if rtf else float("inf"), meets_realtime=meets_realtime),
        batch_evidence=BatchEvidence(max_batch_size=1, forward_calls=24),
        warmup_utterances=10,
        hardware=_hardware(gpu_class),
        software={"torch": "2.13.0", "transformers": "5.24.0", "evaluator": "0.1.0"},
        started_at=started_at,
        finished_at=finished_at,
        reproduce=f"python -m evaluator evaluate --model {model_id} --revision {revision} --precision {precision}",
        eval_sets=[
            EvalSetSource(name=n, source="hf-audio/esb-datasets-test-only-sorted", revision="main") for n in wers
        ],
        model=ModelInfo(license=license, parameters=parameters, architecture=architecture, weight_files={})
        if with_model
        else None,
        signature=("sig" if official else None) if signature == AUTO else signature,
    )


def make_request(request_id: str, model_id: str = "org/model", **overrides: Any) -> Request:
    """A PENDING request for `model_id` at `SHA` in float16 by alice; `overrides` set any other field."""
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
