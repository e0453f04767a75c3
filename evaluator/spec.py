"""What one evaluation measures, the same for both tracks: the model at its revision and precision, the device,
the eval sets with their data pins and sample cap, and the request the result answers.

`EvalSpec` is what `evaluator.evaluate.evaluate` (batch one) and `evaluator.throughput_eval.evaluate_throughput`
(R14) take; `EvalSpec.from_record` is the one place a stored record becomes an evaluation (the job's two tracks,
an audit's re-run). This module imports neither torch nor transformers, so the job, the audit CLI and the Space
can build a spec before anything heavy is loaded.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from openasr_core.config import REPO_ROOT, EvalSetConfig, LeaderboardConfig
from openasr_core.records import ModelInfo, Request, Result


@dataclass(frozen=True)
class EvalSpec:
    """What to evaluate (how to report progress or stop is the caller's, passed beside it).

    `model` is a Hub id or a local folder, as `evaluator.models.resolve_model` takes it, at `revision` (None: the
    Hub's main branch, or the local folder's digest). `source` is where a submission found it ("hub" or "local",
    `Request.source`), the only place it is looked for; None (a direct run, an audit, a request recorded before
    the source was) tries a folder first, then the Hub. `eval_sets` None means every eval set of the config.
    `pinned_revisions` (eval set name -> commit SHA) are the board version's data pins: a Hub set streams that
    commit (see `evaluator.eval_sets.pinned_revisions`). `model_info` is what the Space recorded at submission;
    None lets the evaluator read it from the model's files. `max_samples` caps each set (a partial result is
    never official).
    """

    model: str
    request_id: str
    revision: str | None = None
    precision: str = "float32"
    device: str = "auto"
    eval_sets: Sequence[EvalSetConfig] | None = None
    max_samples: int | None = None
    model_info: ModelInfo | None = None
    pinned_revisions: Mapping[str, str] | None = None
    source: str | None = None

    def __post_init__(self) -> None:
        # Frozen all the way down: the sets and pins are copied into read-only containers.
        if self.eval_sets is not None:
            object.__setattr__(self, "eval_sets", tuple(self.eval_sets))
        if self.pinned_revisions is not None:
            object.__setattr__(self, "pinned_revisions", MappingProxyType(dict(self.pinned_revisions)))

    @classmethod
    def from_record(
        cls,
        record: Request | Result,
        *,
        eval_sets: Sequence[EvalSetConfig] | None = None,
        pinned_revisions: Mapping[str, str] | None = None,
    ) -> EvalSpec:
        """The evaluation a stored record stands for: a submitted `Request` as it was submitted (its pinned
        revision, precision, model facts and where the model was found), or a published `Result` as it was
        measured, for an audit's re-run (also the device it asked for and its sample cap, from the rules it
        recorded).

        Which data is the caller's to say, since only it knows: the board version's pins for a request
        (`pinned_revisions`), the sets a result recorded, each at its recorded revision, for a re-run
        (`eval_sets`)."""
        rules = record.rules if isinstance(record, Result) else {}
        return cls(
            model=record.model_id,
            request_id=record.request_id,
            revision=record.revision,
            precision=record.precision,
            device=str(rules.get("device_requested", "auto")),
            eval_sets=eval_sets,
            max_samples=rules.get("max_samples"),
            model_info=record.model,
            pinned_revisions=pinned_revisions,
            source=record.source if isinstance(record, Request) else None,
        )

    def chosen_sets(self, config: LeaderboardConfig) -> list[EvalSetConfig]:
        """The eval sets this evaluation runs: the ones named, else all of the config's, in order."""
        return list(self.eval_sets) if self.eval_sets is not None else list(config.eval_sets)

    def named_sets(self, config: LeaderboardConfig) -> list[str] | None:
        """The eval sets as `--eval-set` names them (a config's set by name, any other by its folder or source),
        or None when none was chosen, so the reproduce command runs all of the config's."""
        if self.eval_sets is None:
            return None
        return [e.name if e in config.eval_sets else str(e.path or e.source) for e in self.eval_sets]

    def rules_in_force(self, config: LeaderboardConfig) -> dict[str, object]:
        """The rules a record keeps beside its figures (R12): the config's, its normalizer, the device asked for,
        the hardware price (R14: a cost is computed from the price recorded here, never today's config) and the
        sample cap of a partial run."""
        rules: dict[str, object] = {
            **config.rules.to_dict(),
            "normalizer": config.normalizer,
            "device_requested": self.device,
        }
        if config.price is not None:
            rules["hardware_price"] = config.price.to_dict()
        if self.max_samples:
            rules["max_samples"] = self.max_samples
        return rules


def reproduce_command(
    config: LeaderboardConfig,
    model_id: str,
    revision: str,
    precision: str,
    eval_sets: Sequence[str] | None,
    max_samples: int | None,
    track: str | None = None,
) -> str:
    """The `python -m evaluator evaluate` command that measures this again (R12): the config by its path in the
    repository where it is one, `eval_sets` by name (None: all of the config's), `--track` for the throughput
    track (None: batch one, the command's default)."""
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
    if track is not None:
        parts += ["--track", track]
    return shlex.join(parts)
