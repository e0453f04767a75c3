"""One evaluation, start to finish: load the model, warm up, run every eval set at batch size one, score.

This is what both `python -m evaluator evaluate` and the scheduled job run, so a maintainer's reproduction
measures exactly what the leaderboard measured.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from evaluator.eval_sets import EvalSet
from evaluator.fingerprint import hardware_fingerprint, is_official, software_fingerprint
from evaluator.metrics import aggregate, get_normalizer, score_eval_set
from evaluator.models import ModelSource, Transcriber, check_revision, hub_license, resolve_model
from evaluator.runner import CallProbe, run_set, warm_up
from openasr_core.config import REPO_ROOT, EvalSetConfig, LeaderboardConfig
from openasr_core.model_files import card_license, weight_file_hashes
from openasr_core.records import (
    BatchEvidence,
    DatasetScore,
    ModelInfo,
    PredictionRow,
    Progress,
    Result,
    utc_now,
    write_jsonl,
)
from openasr_core.signing import predictions_sha256


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


def _model_info(source: ModelSource, transcriber: Transcriber) -> ModelInfo:
    """What a direct `evaluate` learns about the model (the Space records this at submission instead)."""
    license_ = card_license(source.folder) or (None if source.local else hub_license(source.model_id, source.revision))
    return ModelInfo(
        license=license_ or "unknown",
        parameters=transcriber.parameters,
        architecture=transcriber.architecture,
        weight_files=weight_file_hashes(source.folder),
    )


def reproduce_command(
    config: LeaderboardConfig,
    model_id: str,
    revision: str,
    precision: str,
    eval_sets: Sequence[str] | None,
    max_samples: int | None,
) -> str:
    try:
        config_arg = str(config.path.relative_to(REPO_ROOT))
    except ValueError:
        config_arg = str(config.path)
    parts = ["python", "-m", "evaluator", "evaluate", "--config", config_arg, "--model", model_id]
    parts += ["--revision", revision, "--precision", precision]
    for name in eval_sets or []:
        parts += ["--eval-set", name]
    if max_samples:
        parts += ["--max-samples", str(max_samples)]
    parts += ["--out", f"reproduce/{Path(model_id).name}"]
    return shlex.join(parts)


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


def _rules_in_force(config: LeaderboardConfig, device: str, max_samples: int | None) -> dict[str, object]:
    rules: dict[str, object] = {**config.rules.to_dict(), "normalizer": config.normalizer, "device_requested": device}
    if config.price is not None:  # R14: the cost is computed from the price recorded here, never today's config
        rules["hardware_price"] = config.price.to_dict()
    if max_samples:
        rules["max_samples"] = max_samples
    return rules


def prepare(
    config: LeaderboardConfig,
    model: str,
    revision: str | None,
    precision: str,
    device: str,
    chosen: Sequence[EvalSetConfig],
    max_samples: int | None,
    pinned_revisions: Mapping[str, str] | None,
    before_load: Callable[[Path], None] | None,
) -> tuple[list[EvalSet], ModelSource, Transcriber]:
    """The eval sets at their pinned data revisions and the model loaded under the rules, the same for both
    tracks (R7): `before_load` sees the model's folder before any weight is loaded (the R4 hash check)."""
    pins = pinned_revisions or {}
    sets = [EvalSet(e, max_samples=max_samples, pinned=pins.get(e.name)) for e in chosen]
    source = resolve_model(model, revision, config.models_dir)
    if before_load:
        before_load(source.folder)
    check_revision(source, revision)
    transcriber = Transcriber(
        source,
        precision=precision,
        device=device,
        max_new_tokens=config.rules.max_new_tokens,
        utterance_timeout_s=config.rules.utterance_timeout_s,
    )
    return sets, source, transcriber


def evaluate(
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
    pinned_revisions: Mapping[str, str] | None = None,
    before_load: Callable[[Path], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    probe: CallProbe | None = None,
) -> Evaluation:
    """Evaluate `model` on `eval_sets` (default: all of the config's) under the config's rules.

    `pinned_revisions` (eval set name -> commit SHA) are the board version's data pins: a Hub set streams that
    commit (see `evaluator.eval_sets.pinned_revisions`). `before_load` gets the model's folder (a Hub model
    is downloaded at its pinned SHA first) before any weight is loaded; the job uses it to check the weight
    hashes recorded at submission (R4). `probe` (an audit's) watches how busy the machine was in the timed calls.
    """
    rules = config.rules
    started_at = utc_now()
    chosen = list(eval_sets) if eval_sets is not None else list(config.eval_sets)
    sets, source, transcriber = prepare(
        config, model, revision, precision, device, chosen, max_samples, pinned_revisions, before_load
    )
    warmup_done = warm_up(transcriber, sets[0], rules.warmup_utterances)
    run = _run_sets(config, transcriber, sets, on_progress, should_stop, probe)

    evidence = BatchEvidence(
        max_batch_size=transcriber.probe.max_batch_size, forward_calls=transcriber.probe.forward_calls
    )
    if evidence.max_batch_size > 1:
        raise InvalidResult(f"a forward call saw a batch of {evidence.max_batch_size}; only batch size one is allowed")
    hardware = hardware_fingerprint(transcriber.device)
    explicit_sets = (
        [e.name if e in config.eval_sets else str(e.path or e.source) for e in chosen]
        if eval_sets is not None
        else None
    )
    result = Result(
        request_id=request_id,
        model_id=source.model_id,
        revision=source.revision,
        precision=precision,
        leaderboard_version=config.version,
        official=is_official(hardware, rules.gpu_class) and not max_samples,
        datasets=run.scores,
        aggregate=aggregate(run.scores, rules.max_rtf, run.predictions),
        batch_evidence=evidence,
        warmup_utterances=warmup_done,
        hardware=hardware,
        software=software_fingerprint(),
        started_at=started_at,
        finished_at=utc_now(),
        reproduce=reproduce_command(config, source.model_id, source.revision, precision, explicit_sets, max_samples),
        eval_sets=[s.source for s in sets],
        rules=_rules_in_force(config, device, max_samples),
        predictions_sha256={name: predictions_sha256(write_jsonl(rows)) for name, rows in run.predictions.items()},
        model=model_info or _model_info(source, transcriber),
        decoding=transcriber.decoding.settings,
        ignored_settings=list(transcriber.decoding.ignored),
        recipe=transcriber.recipe_record,
    )
    timed = sum(row.time_s for rows in run.predictions.values() for row in rows)
    return Evaluation(result=result, predictions=run.predictions, loop_wall_s=run.loop_wall_s, timed_s=timed)
