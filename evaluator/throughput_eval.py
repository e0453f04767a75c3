"""One throughput-track evaluation (R14), start to finish: load, decode and sort, climb the ladder, record.

What both `python -m evaluator evaluate --track throughput` and the queue (after a request's batch-one
evaluation) run. The record is a `ThroughputResult`, kept apart from the batch-one `Result` in every way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluator.evaluate import _model_info, _rules_in_force, prepare, reproduce_command
from evaluator.fingerprint import hardware_fingerprint, is_official, software_fingerprint
from evaluator.ladder import BatchTranscriber, Ladder, RungProgress, Scoring, climb, load_sorted
from evaluator.metrics import get_normalizer
from evaluator.runner import warm_up
from openasr_core.config import EvalSetConfig, LeaderboardConfig
from openasr_core.cost import throughput_cost
from openasr_core.records import (
    ModelInfo,
    PredictionRow,
    ThroughputAggregate,
    ThroughputEvidence,
    ThroughputResult,
    utc_now,
    write_jsonl,
)
from openasr_core.signing import predictions_sha256


@dataclass(frozen=True)
class ThroughputEvaluation:
    """The record, the transcripts at the chosen batch size, and how long the ladder took in all."""

    result: ThroughputResult
    predictions: dict[str, list[PredictionRow]]
    wall_s: float


def evaluate_throughput(
    config: LeaderboardConfig,
    model: str,
    *,
    request_id: str,
    revision: str | None = None,
    precision: str = "float32",
    device: str = "auto",
    eval_sets: Sequence[EvalSetConfig] | None = None,
    max_samples: int | None = None,
    model_info: ModelInfo | None = None,
    before_load: Callable[[Path], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    ladder_limit: int | None = None,
    pinned_revisions: Mapping[str, str] | None = None,
    on_progress: Callable[[RungProgress], None] | None = None,
) -> ThroughputEvaluation:
    """Measure `model` batched on `eval_sets` (default: all of the config's) under the config's rules.

    The model is loaded exactly as batch one loads it (same `Transcriber`, same decoding config, R7) and the
    eval sets stream the same pinned data revisions (`pinned_revisions`, as `evaluate` takes them). A family
    whose documented path cannot batch (`openasr_core.families.Family.batching`) stays at batch size one, and its record
    says why (`batching`). `on_progress` hears each batch of the ladder (`RungProgress`), for the Queue page.
    """
    rules = config.rules
    started_at, started = utc_now(), time.perf_counter()
    chosen_sets = list(eval_sets) if eval_sets is not None else list(config.eval_sets)
    sets, source, transcriber = prepare(
        config, model, revision, precision, device, chosen_sets, max_samples, pinned_revisions, before_load
    )
    batched = BatchTranscriber(transcriber, timeout_s=rules.utterance_timeout_s)
    family = transcriber.family
    batching = None if family.batching else f"not batched: {family.model_type} {family.note}"
    if batching is not None:
        ladder_limit = 1
    warm_up(transcriber, sets[0], rules.warmup_utterances)
    loaded = [load_sorted(s, transcriber.sampling_rate, transcriber.max_audio_s) for s in sets]
    scoring = Scoring(get_normalizer(config.normalizer), rules.max_rtf, rules.bootstrap_samples, rules.bootstrap_seed)
    ladder = climb(
        batched, batched.probe, loaded, scoring, limit=ladder_limit, should_stop=should_stop, on_progress=on_progress
    )
    hardware = hardware_fingerprint(transcriber.device)
    explicit = [e.name if e in config.eval_sets else str(e.path or e.source) for e in chosen_sets]
    reproduce = reproduce_command(
        config, source.model_id, source.revision, precision, explicit if eval_sets is not None else None, max_samples
    )
    result = ThroughputResult(
        request_id=request_id,
        model_id=source.model_id,
        revision=source.revision,
        precision=precision,
        leaderboard_version=config.version,
        official=is_official(hardware, rules.gpu_class) and not max_samples,
        chosen_batch_size=ladder.chosen.batch_size,
        ladder=ladder.steps,
        datasets=ladder.chosen.scores,
        batch_one_wer={name: score.wer for name, score in ladder.batch_one.scores.items()},
        aggregate=_aggregate(ladder),
        batch_evidence=_evidence(ladder),
        warmup_batches=len(ladder.steps),
        hardware=hardware,
        software=software_fingerprint(),
        started_at=started_at,
        finished_at=utc_now(),
        reproduce=f"{reproduce} --track throughput",
        usd_per_1000_audio_hours=throughput_cost(config.price.usd_per_hour, ladder.chosen.rtfx)
        if config.price is not None
        else None,
        eval_sets=[s.source for s in sets],
        rules=_rules_in_force(config, device, max_samples),
        predictions_sha256={name: predictions_sha256(write_jsonl(rows)) for name, rows in ladder.chosen.rows.items()},
        model=model_info or _model_info(source, transcriber),
        decoding=transcriber.decoding.settings,
        ignored_settings=list(transcriber.decoding.ignored),
        recipe=transcriber.recipe_record,
        batching=batching,
    )
    return ThroughputEvaluation(result, ladder.chosen.rows, time.perf_counter() - started)


def _evidence(ladder: Ladder) -> ThroughputEvidence:
    """The batch sizes the model's forward hook saw at the chosen rung (R14: what was actually run)."""
    chosen = ladder.chosen
    return ThroughputEvidence(
        batch_sizes_used=chosen.sizes_used,
        max_batch_size=max(chosen.sizes_used, default=0),
        forward_calls=chosen.forward_calls,
    )


def _aggregate(ladder: Ladder) -> ThroughputAggregate:
    """Pooled RTF/RTFx at the chosen size, and its average WER next to the batch-one average WER."""
    chosen, first = ladder.chosen, ladder.batch_one
    time_s = sum(s.time_s for s in chosen.scores.values())
    audio_s = sum(s.audio_s for s in chosen.scores.values())
    return ThroughputAggregate(
        avg_wer=chosen.avg_wer,
        rtf=time_s / audio_s if audio_s else float("inf"),
        rtfx=chosen.rtfx,
        batch_one_avg_wer=first.avg_wer,
        wer_change=chosen.avg_wer - first.avg_wer,
    )
