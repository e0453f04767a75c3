"""One throughput-track evaluation (R14), start to finish: load, decode and sort, climb the ladder, record.

What both `python -m evaluator evaluate --track throughput` and the queue (after a request's batch-one
evaluation) run. The record is a `ThroughputResult`, kept apart from the batch-one `Result` in every way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evaluator.ladder import BatchTranscriber, Ladder, RungProgress, Scoring, climb, load_sorted
from evaluator.metrics import get_normalizer
from evaluator.prepared import Prepared, prepare
from evaluator.runner import warm_up
from evaluator.spec import EvalSpec
from openasr_core.config import LeaderboardConfig
from openasr_core.cost import throughput_cost
from openasr_core.families import Family
from openasr_core.records import (
    THROUGHPUT_TRACK,
    PredictionRow,
    ThroughputAggregate,
    ThroughputEvidence,
    ThroughputResult,
    utc_now,
)


@dataclass(frozen=True)
class ThroughputEvaluation:
    """The record, the transcripts at the chosen batch size, and how long the ladder took in all."""

    result: ThroughputResult
    predictions: dict[str, list[PredictionRow]]
    wall_s: float


def evaluate_throughput(
    config: LeaderboardConfig,
    spec: EvalSpec,
    *,
    before_load: Callable[[Path], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[RungProgress], None] | None = None,
    ladder_limit: int | None = None,
) -> ThroughputEvaluation:
    """Measure what `spec` names batched, under the config's rules.

    The model is loaded exactly as batch one loads it (`evaluator.prepared.prepare`: same `Transcriber`, same
    decoding config, R7) and the eval sets stream the same pinned data revisions. A family whose documented path
    cannot batch (`openasr_core.families.Family.batching`) stays at batch size one, and its record says why
    (`batching`). `ladder_limit` caps the batch sizes tried; `on_progress` hears each batch of the ladder
    (`RungProgress`), for the Queue page.
    """
    started_at, started = utc_now(), time.perf_counter()
    prepared = prepare(config, spec, before_load)
    batching = _unbatched_reason(prepared.transcriber.family)
    limit = 1 if batching is not None else ladder_limit
    ladder = _climb_ladder(config, prepared, limit, should_stop, on_progress)
    result = ThroughputResult(
        **prepared.record_fields(config, started_at, ladder.chosen.rows, track=THROUGHPUT_TRACK),
        chosen_batch_size=ladder.chosen.batch_size,
        ladder=ladder.steps,
        datasets=ladder.chosen.scores,
        batch_one_wer={name: score.wer for name, score in ladder.batch_one.scores.items()},
        aggregate=_aggregate(ladder),
        batch_evidence=_evidence(ladder),
        warmup_batches=len(ladder.steps),
        usd_per_1000_audio_hours=_cost(config, ladder),
        batching=batching,
    )
    return ThroughputEvaluation(result, ladder.chosen.rows, time.perf_counter() - started)


def _unbatched_reason(family: Family) -> str | None:
    """Why a family is measured at batch size one only (its documented path cannot batch), for the record's
    `batching`; None for a family that batches."""
    return None if family.batching else f"not batched: {family.model_type} {family.note}"


def _climb_ladder(
    config: LeaderboardConfig,
    prepared: Prepared,
    limit: int | None,
    should_stop: Callable[[], bool] | None,
    on_progress: Callable[[RungProgress], None] | None,
) -> Ladder:
    """Warm up, load every eval set sorted by length, and climb the batch-size ladder up to `limit`."""
    rules, transcriber = config.rules, prepared.transcriber
    batched = BatchTranscriber(transcriber, timeout_s=rules.utterance_timeout_s)
    warm_up(transcriber, prepared.sets[0], rules.warmup_utterances)
    loaded = [load_sorted(s, transcriber.sampling_rate, transcriber.max_audio_s) for s in prepared.sets]
    scoring = Scoring(get_normalizer(config.normalizer), rules.max_rtf, rules.bootstrap_samples, rules.bootstrap_seed)
    return climb(batched, batched.probe, loaded, scoring, limit=limit, should_stop=should_stop, on_progress=on_progress)


def _cost(config: LeaderboardConfig, ladder: Ladder) -> float | None:
    """USD per 1,000 audio hours at the chosen batch size and the config's hardware price; None without a price."""
    if config.price is None:
        return None
    return throughput_cost(config.price.usd_per_hour, ladder.chosen.rtfx)


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
