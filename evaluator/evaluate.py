"""One evaluation, start to finish: load the model, warm up, run every eval set at batch size one, score.

This is what both `python -m evaluator evaluate` and the scheduled job run, so a maintainer's reproduction
measures exactly what the leaderboard measured.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluator.eval_sets import EvalSet
from evaluator.load_probe import BusyRule, LoadProbe, new_probe
from evaluator.metrics import aggregate, get_normalizer, score_eval_set
from evaluator.models import Transcriber
from evaluator.prepared import prepare
from evaluator.runner import CallProbe, run_set, warm_up
from evaluator.spec import EvalSpec
from openasr_core.config import LeaderboardConfig
from openasr_core.records import BatchEvidence, DatasetScore, PredictionRow, Progress, Result, utc_now


class InvalidResult(RuntimeError):
    """The evidence shows the rules were not followed (a batch above one); the result must not be published."""


@dataclass(frozen=True)
class Evaluation:
    result: Result
    predictions: dict[str, list[PredictionRow]]
    loop_wall_s: float
    timed_s: float

    @property
    def overhead_ratio(self) -> float:
        """Wall time of the evaluation loops over the summed timed utterance time (1.0 = no overhead)."""
        return self.loop_wall_s / self.timed_s if self.timed_s else float("inf")


def _progress_reporter(
    sets: Sequence[EvalSet], on_progress: Callable[[Progress], None] | None
) -> Callable[[int, int, int | None], None]:
    """A callback (set index, done in set, set total) that reports overall progress with an ETA."""
    totals = [s.total for s in sets]
    grand_total = sum(totals) if all(t is not None for t in totals) else None  # type: ignore[misc]
    started = time.perf_counter()

    def report(index: int, done: int, total: int | None) -> None:
        if not on_progress:
            return
        overall = sum(totals[:index]) + done if grand_total else done  # type: ignore[arg-type]
        elapsed = time.perf_counter() - started
        eta = (grand_total - overall) * elapsed / overall if grand_total and overall else None
        on_progress(
            Progress(
                eval_set=sets[index].name,
                done=done,
                total=total or 0,
                sets_done=index,
                sets_total=len(sets),
                eta_s=round(eta, 1) if eta is not None else None,
                updated_at=utc_now(),
            )
        )

    return report


@dataclass(frozen=True)
class _SetsRun:
    predictions: dict[str, list[PredictionRow]]
    scores: dict[str, DatasetScore]
    loop_wall_s: float


def _run_sets(
    config: LeaderboardConfig,
    transcriber: Transcriber,
    sets: Sequence[EvalSet],
    on_progress: Callable[[Progress], None] | None,
    should_stop: Callable[[], bool] | None,
    probe: CallProbe | None = None,
) -> _SetsRun:
    """Every eval set at batch size one, then scored (R3, R11)."""
    rules = config.rules
    normalize = get_normalizer(config.normalizer)
    report = _progress_reporter(sets, on_progress)
    predictions: dict[str, list[PredictionRow]] = {}
    scores: dict[str, DatasetScore] = {}
    loop_wall = 0.0
    for index, eval_set in enumerate(sets):
        run = run_set(
            transcriber,
            eval_set,
            name=eval_set.name,
            total=eval_set.total,
            timeout_s=rules.utterance_timeout_s,
            on_progress=lambda done, total, index=index: report(index, done, total),
            should_stop=should_stop,
            probe=probe,
        )
        loop_wall += run.wall_s
        predictions[eval_set.name] = run.rows
        scores[eval_set.name] = score_eval_set(
            run.rows,
            normalize,
            max_rtf=rules.max_rtf,
            bootstrap_samples=rules.bootstrap_samples,
            seed=rules.bootstrap_seed,
            skipped_empty_references=run.skipped_empty_references,
            excluded_references=run.excluded_references,
        )
    return _SetsRun(predictions=predictions, scores=scores, loop_wall_s=loop_wall)


def _batch_one_evidence(transcriber: Transcriber) -> BatchEvidence:
    """What the model's forward hook saw (R2); a batch above one anywhere makes the whole result invalid."""
    evidence = BatchEvidence(
        max_batch_size=transcriber.probe.max_batch_size, forward_calls=transcriber.probe.forward_calls
    )
    if evidence.max_batch_size > 1:
        raise InvalidResult(f"a forward call saw a batch of {evidence.max_batch_size}; only batch size one is allowed")
    return evidence


def evaluate(
    config: LeaderboardConfig,
    spec: EvalSpec,
    *,
    before_load: Callable[[Path], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    probe: LoadProbe | None = None,
) -> Evaluation:
    """Evaluate what `spec` names at batch size one under the config's rules.

    `before_load` gets the model's folder before any weight is loaded (`evaluator.prepared.prepare`); the job
    uses it to check the weight hashes recorded at submission (R4). `on_progress` hears each utterance, with an
    ETA; `should_stop` is asked before each one. `probe` watches how busy the machine was in the timed calls
    (an audit passes its own; by default a real one), and the result records what it saw (`Result.load`), so the
    board can say when two RTFs were measured under different load.
    """
    started_at = utc_now()
    prepared = prepare(config, spec, before_load)
    transcriber = prepared.transcriber
    warmup_done = warm_up(transcriber, prepared.sets[0], config.rules.warmup_utterances)
    probe = probe or new_probe(on_gpu=transcriber.device.type != "cpu")
    run = _run_sets(config, transcriber, prepared.sets, on_progress, should_stop, probe)
    evidence = _batch_one_evidence(transcriber)
    result = Result(
        **prepared.record_fields(config, started_at, run.predictions),
        datasets=run.scores,
        aggregate=aggregate(run.scores, config.rules.max_rtf, run.predictions),
        batch_evidence=evidence,
        warmup_utterances=warmup_done,
        load=probe.summary(BusyRule.of(config.audit)),
    )
    timed = sum(row.time_s for rows in run.predictions.values() for row in rows)
    return Evaluation(result=result, predictions=run.predictions, loop_wall_s=run.loop_wall_s, timed_s=timed)
