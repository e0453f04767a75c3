"""What both tracks share (R7: one pipeline): an `EvalSpec` prepared for running, the eval sets at their pinned data
revisions and the model loaded under the rules, and the part of the record both tracks write alike.

`evaluator.evaluate` (batch one) and `evaluator.throughput_eval` (R14) each start from `prepare` and build their
record on `Prepared.record_fields`, so a batch-one result and its throughput record describe the same model, data,
rules and machine in the same words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from evaluator.eval_sets import EvalSet
from evaluator.fingerprint import hardware_fingerprint, is_official, software_fingerprint
from evaluator.models import ModelSource, Transcriber, check_revision, hub_license, resolve_model
from evaluator.spec import EvalSpec, reproduce_command
from openasr_core.config import LeaderboardConfig
from openasr_core.model_files import card_license, weight_file_hashes
from openasr_core.records import (
    EvalSetSource,
    Hardware,
    ModelInfo,
    PredictionRow,
    RecipeInfo,
    utc_now,
    write_jsonl,
)
from openasr_core.signing import predictions_sha256


class RecordFields(TypedDict):
    """The fields a batch-one `Result` and a `ThroughputResult` fill alike: what was measured (model, revision,
    precision, data), on what (hardware, software), under which rules, when, and how to measure it again."""

    request_id: str
    model_id: str
    revision: str
    precision: str
    leaderboard_version: str
    official: bool
    hardware: Hardware
    software: dict[str, str]
    started_at: str
    finished_at: str
    reproduce: str
    eval_sets: list[EvalSetSource]
    rules: dict[str, Any]
    predictions_sha256: dict[str, str]
    model: ModelInfo
    decoding: dict[str, Any]
    ignored_settings: list[str]
    recipe: RecipeInfo


@dataclass(frozen=True)
class Prepared:
    """An evaluation ready to run: its spec, the eval sets to stream, where the model came from, and the model
    loaded under the rules."""

    spec: EvalSpec
    sets: list[EvalSet]
    source: ModelSource
    transcriber: Transcriber

    def record_fields(
        self,
        config: LeaderboardConfig,
        started_at: str,
        predictions: Mapping[str, Sequence[PredictionRow]],
        track: str | None = None,
    ) -> RecordFields:
        """The shared part of the record of a run that started at `started_at` and produced `predictions` (by
        eval set); read now, after the run, so it says what the loaded model and this machine actually did.
        A run is official only on the board's hardware class and over whole eval sets (no sample cap)."""
        spec, source, transcriber = self.spec, self.source, self.transcriber
        hardware = hardware_fingerprint(transcriber.device)
        return RecordFields(
            request_id=spec.request_id,
            model_id=source.model_id,
            revision=source.revision,
            precision=spec.precision,
            leaderboard_version=config.version,
            official=is_official(hardware, config.rules.gpu_class) and not spec.max_samples,
            hardware=hardware,
            software=software_fingerprint(),
            started_at=started_at,
            finished_at=utc_now(),
            reproduce=reproduce_command(
                config,
                source.model_id,
                source.revision,
                spec.precision,
                spec.named_sets(config),
                spec.max_samples,
                track,
            ),
            eval_sets=[s.source for s in self.sets],
            rules=spec.rules_in_force(config),
            predictions_sha256={name: predictions_sha256(write_jsonl(rows)) for name, rows in predictions.items()},
            model=spec.model_info or model_info(source, transcriber),
            decoding=transcriber.decoding.settings,
            ignored_settings=list(transcriber.decoding.ignored),
            recipe=transcriber.recipe_record,
        )


def prepare(config: LeaderboardConfig, spec: EvalSpec, before_load: Callable[[Path], None] | None = None) -> Prepared:
    """The eval sets at their pinned data revisions and the model loaded under the rules, the same for both
    tracks (R7): `before_load` sees the model's folder (a Hub model is downloaded at its pinned SHA first) before
    any weight is loaded; the job checks the weight hashes recorded at submission there (R4)."""
    pins = spec.pinned_revisions or {}
    sets = [EvalSet(e, max_samples=spec.max_samples, pinned=pins.get(e.name)) for e in spec.chosen_sets(config)]
    source = resolve_model(spec.model, spec.revision, config.models_dir, spec.source)
    if before_load:
        before_load(source.folder)
    check_revision(source, spec.revision)
    transcriber = Transcriber(
        source,
        precision=spec.precision,
        device=spec.device,
        max_new_tokens=config.rules.max_new_tokens,
        utterance_timeout_s=config.rules.utterance_timeout_s,
    )
    return Prepared(spec=spec, sets=sets, source=source, transcriber=transcriber)


def model_info(source: ModelSource, transcriber: Transcriber) -> ModelInfo:
    """What an evaluation learns about the model from its files when no submission recorded it (a direct
    `python -m evaluator evaluate`): its license (card, else the Hub's), size, architecture and weight hashes."""
    license_ = card_license(source.folder) or (None if source.local else hub_license(source.model_id, source.revision))
    return ModelInfo(
        license=license_ or "unknown",
        parameters=transcriber.parameters,
        architecture=transcriber.architecture,
        weight_files=weight_file_hashes(source.folder),
    )
