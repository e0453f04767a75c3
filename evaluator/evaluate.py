"""One evaluation, start to finish: load the model, warm up, run every eval set at batch size one, score.

This is what both `python -m evaluator evaluate` and the scheduled job run, so a maintainer's reproduction
measures exactly what the leaderboard measured.
"""

from __future__ import annotations

import hashlib
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from core.config import REPO_ROOT, EvalSetConfig, LeaderboardConfig
from core.model_files import card_license, weight_file_hashes
from core.records import BatchEvidence, ModelInfo, PredictionRow, Progress, Result, utc_now, write_jsonl
from evaluator.eval_sets import EvalSet
from evaluator.fingerprint import hardware_fingerprint, is_official, software_fingerprint
from evaluator.metrics import aggregate, get_normalizer, score_eval_set
from evaluator.models import ModelSource, Transcriber, check_revision, hub_license, resolve_model
from evaluator.runner import run_set, warm_up


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


def predictions_sha256(rows: Sequence[PredictionRow]) -> str:
    """sha256 of the predictions file exactly as the store writes it; the signature covers it (R9)."""
    return hashlib.sha256(write_jsonl(rows).encode("utf-8")).hexdigest()


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
    before_load: Callable[[Path], None] | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Evaluation:
    """Evaluate `model` on `eval_sets` (default: all of the config's) under the config's rules.

    `before_load` gets the model's folder (a Hub model is downloaded at its pinned SHA first) before any weight
    is loaded; the job uses it to check the weight hashes recorded at submission (R4).
    """
    rules = config.rules
    started_at = utc_now()
    chosen = list(eval_sets) if eval_sets is not None else list(config.eval_sets)
    sets = [EvalSet(e, max_samples=max_samples) for e in chosen]
    normalize = get_normalizer(config.normalizer)
    source = resolve_model(model, revision, config.models_dir)
    if before_load:
        before_load(source.folder)
    check_revision(source, revision)
    transcriber = Transcriber(
        source,
        precision=precision,
        device=device,
        max_new_tokens=rules.max_new_tokens,
        utterance_timeout_s=rules.utterance_timeout_s,
    )
    warmup_done = warm_up(transcriber, sets[0], rules.warmup_utterances)

    totals = [s.total for s in sets]
    grand_total = sum(totals) if all(t is not None for t in totals) else None  # type: ignore[misc]
    done_before = 0
    loop_started = time.perf_counter()

    def progress_for(index: int) -> Callable[[int, int | None], None]:
        def report(done: int, total: int | None) -> None:
            if not on_progress:
                return
            overall = done_before + done
            elapsed = time.perf_counter() - loop_started
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

    predictions: dict[str, list[PredictionRow]] = {}
    scores = {}
    loop_wall = 0.0
    for index, eval_set in enumerate(sets):
        run = run_set(
            transcriber,
            eval_set,
            name=eval_set.name,
            total=eval_set.total,
            timeout_s=rules.utterance_timeout_s,
            on_progress=progress_for(index),
            should_stop=should_stop,
        )
        loop_wall += run.wall_s
        done_before += len(run.rows)
        predictions[eval_set.name] = run.rows
        scores[eval_set.name] = score_eval_set(
            run.rows,
            normalize,
            max_rtf=rules.max_rtf,
            bootstrap_samples=rules.bootstrap_samples,
            seed=rules.bootstrap_seed,
            skipped_empty_references=run.skipped_empty_references,
        )

    evidence = BatchEvidence(
        max_batch_size=transcriber.probe.max_batch_size, forward_calls=transcriber.probe.forward_calls
    )
    if evidence.max_batch_size > 1:
        raise InvalidResult(f"a forward call saw a batch of {evidence.max_batch_size}; only batch size one is allowed")
    hardware = hardware_fingerprint(transcriber.device)
    rules_in_force = {**rules.to_dict(), "normalizer": config.normalizer, "device_requested": device}
    if config.price is not None:  # R14: the cost is computed from the price recorded here, never today's config
        rules_in_force["hardware_price"] = config.price.to_dict()
    if max_samples:
        rules_in_force["max_samples"] = max_samples
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
        datasets=scores,
        aggregate=aggregate(scores, rules.max_rtf),
        batch_evidence=evidence,
        warmup_utterances=warmup_done,
        hardware=hardware,
        software=software_fingerprint(),
        started_at=started_at,
        finished_at=utc_now(),
        reproduce=reproduce_command(config, source.model_id, source.revision, precision, explicit_sets, max_samples),
        eval_sets=[s.source for s in sets],
        rules=rules_in_force,
        predictions_sha256={name: predictions_sha256(rows) for name, rows in predictions.items()},
        model=model_info or _model_info(source, transcriber),
    )
    timed = sum(row.time_s for rows in predictions.values() for row in rows)
    return Evaluation(result=result, predictions=predictions, loop_wall_s=loop_wall, timed_s=timed)
