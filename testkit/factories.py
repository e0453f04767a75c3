"""The one place that makes request and result records with chosen numbers, for tests and benchmarks.

Store tests, leaderboard tests and the benchmarks all build their records here, so a new field of a record
is added once. Nothing here is measured: the numbers are whatever the caller asks for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from openasr_core.cost import throughput_cost
from openasr_core.records import (
    Aggregate,
    AuditCheck,
    AuditRecord,
    BatchEvidence,
    DatasetScore,
    EvalSetSource,
    Hardware,
    LadderStep,
    ModelInfo,
    PredictionRow,
    Request,
    Result,
    ThroughputAggregate,
    ThroughputEvidence,
    ThroughputResult,
    UtteranceDiff,
    Verdict,
)
from openasr_core.store import Store

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


def make_audit(**overrides: Any) -> AuditRecord:
    """A failed audit of `req-0001` with one check of each verdict; `overrides` replace any field."""
    values = {
        "audit_id": "20261128T060000Z-0123abcd",
        "request_id": "req-0001",
        "model_id": "org/model",
        "revision": "a" * 40,
        "precision": "float32",
        "leaderboard_version": "v1",
        "started_at": "2026-11-28T06:00:00Z",
        "finished_at": "2026-11-28T06:01:00Z",
        "duration_s": 60.0,
        "auditor": "audit:host:1",
        "selection": "random",
        "seed": 42,
        "hardware": Hardware(device="cpu", gpu_class="CPU", cpu="x86", cpu_count=2),
        "checks": [
            AuditCheck("weight files", "1 file(s)", "1 file(s)", "same sha256", Verdict.PASS),
            AuditCheck("predictions", 10, 10, "1 utterance(s) differ", Verdict.FAIL, "1 of 10 differ"),
            AuditCheck("RTF", 0.12, 0.125, "+4.2%", Verdict.PASS),
            AuditCheck("hardware class", "CPU", None, "not compared", Verdict.SKIPPED),
        ],
        "passed": False,
        "evidence": [UtteranceDiff("s", "utt1", "hello", "hello again")],
    }
    values.update(overrides)
    return AuditRecord(**values)


THROUGHPUT_PRICE = {"usd_per_hour": 1.0, "source": "pricing page", "date": "2026-11-28"}


def make_throughput(
    request_id: str, *, avg_wer: float = 0.01, rtfx: float = 500.0, official: bool = True, version: str = "v1"
) -> ThroughputResult:
    base = make_result(request_id, version=version, official=official)
    return ThroughputResult(
        request_id=request_id,
        model_id=base.model_id,
        revision=base.revision,
        precision=base.precision,
        leaderboard_version=version,
        official=official,
        chosen_batch_size=16,
        ladder=[
            LadderStep(1, 20.0, avg_wer, 120.0, 6.0, False, 1, [1]),
            LadderStep(16, rtfx, avg_wer, 120.0, 120.0 / rtfx, False, 16, [4, 16]),
            LadderStep(64, None, None, 0.0, 0.0, True, 16, [64]),
        ],
        datasets={"ami": score(avg_wer, 1 / rtfx)},
        batch_one_wer={"ami": avg_wer},
        aggregate=ThroughputAggregate(avg_wer, 1 / rtfx, rtfx, avg_wer, 0.0),
        batch_evidence=ThroughputEvidence([4, 16], 16, 30),
        warmup_batches=3,
        hardware=base.hardware,
        software=base.software,
        started_at=base.started_at,
        finished_at=base.finished_at,
        reproduce=base.reproduce + " --track throughput",
        usd_per_1000_audio_hours=throughput_cost(1.0, rtfx),
        rules={"hardware_price": THROUGHPUT_PRICE},
    )


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
