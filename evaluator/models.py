"""Loading a speech-recognition model safely (R4-R7) and transcribing one utterance at a time (R2).

One pipeline for every model and every eval set: greedy decoding, English transcription, no timestamps, and
for a prompted family its one fixed transcription request. How each family builds inputs, decodes and turns
output into text is its recipe (`evaluator.recipes`, chosen by `openasr_core.families`); this module loads the model
under the rules (safetensors only, no custom code, the declared dtype) and watches every call (R2).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import transformers
from transformers import AutoConfig, AutoProcessor, GenerationConfig, PreTrainedModel
from transformers import logging as transformers_logging

from evaluator.decoding import Decoding
from evaluator.recipes import recipe_class
from evaluator.recipes.base import DecodingStalled, Limits, Loaded
from openasr_core.families import (
    Family,
    available_families,
    family_conflict,
    family_for,
    missing_package_message,
    supported_list,
)
from openasr_core.model_files import (
    UNSAFE_WEIGHT_SUFFIXES,
    WEIGHT_SUFFIXES,
    hub_card_license,
    local_revision,
    model_files,
)
from openasr_core.records import HUB_REPO_ID, PRECISIONS, RecipeInfo

__all__ = ["DecodingStalled", "ModelLoadError", "Transcriber"]

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelLoadError(ValueError):
    """The model cannot be evaluated; the message says what to fix."""


class ModelUnavailable(ModelLoadError):
    """The model cannot be fetched at all at the revision asked for: the Hub repo is deleted, gated, private or
    disabled, the revision is gone, or a local folder no longer exists. Still the submitter's to fix (a
    `ModelLoadError`), but an audit that meets it marks the entry as one that cannot be re-run (R13), which a
    Hub outage (`HubUnreachable`) never does."""


class LocalModelMissing(ModelUnavailable):
    """A model submitted from the board's local models folder (`Request.source` "local") whose folder is gone:
    permanent and the submitter's to fix (put the folder back, submit again), never looked up on the Hub nor
    retried as a Hub outage."""


@dataclass(frozen=True)
class ModelSource:
    """The model's files on disk: a local folder, or a Hub repo downloaded at its pinned commit."""

    model_id: str
    location: str
    revision: str
    local: bool

    @property
    def folder(self) -> Path:
        return Path(self.location)


#: Files never downloaded from a Hub repo: other weight formats (R6: safetensors only) and code (no remote code).
HUB_IGNORE_PATTERNS = [f"*{suffix}" for suffix in UNSAFE_WEIGHT_SUFFIXES] + ["*.py", "*.onnx", "*.gguf"]


def resolve_model(
    model: str, revision: str | None = None, models_dir: Path | None = None, source: str | None = None
) -> ModelSource:
    """Find `model`: an existing folder, a `<org>/<name>` folder under `models_dir`, or a Hub repo id.

    `source` is where the submission found it (`Request.source`) and the only place looked: "local" the folder
    under `models_dir` (a missing one is `LocalModelMissing`, never a Hub lookup), "hub" the Hub. None (a direct
    run, an audit, a request recorded before the source was) tries a folder first, then the Hub.

    A local folder's revision is its content digest (see `check_revision`). A Hub revision (branch, tag or SHA) is resolved to a
    commit SHA and exactly that commit is downloaded, so the files checked against the hashes recorded at
    submission (R4) are the files that get loaded.
    """
    if source == "local":
        return _submitted_folder(model, models_dir)
    found = _existing_folder(model, models_dir) if source != "hub" else None
    if found is not None:
        return found
    if not HUB_REPO_ID.match(model):
        where = f" or under {models_dir}" if models_dir and source != "hub" else ""
        raise ModelUnavailable(f"model {model!r} is not a folder{where}, nor a Hub id like `openai/whisper-base`")
    try:
        sha = _resolve_hub_revision(model, revision or "main")
    except ModelLoadError as exc:
        if source == "hub" or models_dir is None or not models_dir.is_dir():
            raise
        # Where it was found is not recorded (an older request, an audit): a local model whose folder was deleted
        # or moved ends here too, so the missing folder is said first, the Hub's answer after it.
        raise type(exc)(
            f"no folder {models_dir / model} (a local model's folder deleted or moved after submission? put it "
            f"back); on the Hub: {exc}"
        ) from exc
    return ModelSource(model_id=model, location=str(_download(model, sha)), revision=sha, local=False)


def _folder_source(model: str, folder: Path) -> ModelSource:
    return ModelSource(model_id=model, location=str(folder.resolve()), revision=local_revision(folder), local=True)


def _existing_folder(model: str, models_dir: Path | None) -> ModelSource | None:
    """`model` as a folder: the path itself, else `<models_dir>/<org>/<name>`; None when neither exists."""
    candidates = [Path(model).expanduser()]
    if models_dir is not None and HUB_REPO_ID.match(model):
        candidates.append(models_dir / model)
    return next((_folder_source(model, folder) for folder in candidates if folder.is_dir()), None)


def _submitted_folder(model: str, models_dir: Path | None) -> ModelSource:
    """A model submitted from the local models folder: its folder there, or `LocalModelMissing` saying where to
    put it back (the Hub is never asked: a Hub repo of the same id is another model)."""
    if models_dir is None or not HUB_REPO_ID.match(model):
        raise LocalModelMissing(
            f"local model {model!r} was submitted from a local models folder, and this board has none "
            "configured (`models_dir`) to find it in; the maintainer must set it"
        )
    folder = models_dir / model
    if not folder.is_dir():
        raise LocalModelMissing(
            f"local model {model}: its folder {folder} no longer exists (deleted or moved after submission). "
            f"Put the model's folder back at {folder} and submit it again"
        )
    return _folder_source(model, folder)


def check_revision(source: ModelSource, requested: str | None) -> None:
    """A local folder is evaluated at the revision asked for only if its content digest still matches."""
    if source.local and requested not in (None, "main", source.revision):
        raise ModelLoadError(
            f"local model {source.model_id} is at revision {source.revision}, not {requested}: its files changed "
            "since submission; submit it again, or pass --revision main to evaluate what is there now"
        )


class HubUnreachable(ModelLoadError):
    """The Hub could not be reached, or answered 429/5xx: nothing is wrong with the model, try again later
    (`evaluator.errors` counts it as transient, never as the submitter's fault)."""


def _hub_outage(exc: BaseException) -> bool:
    """Whether `exc` is the network or the Hub failing (no answer, a timeout, 429 or 5xx), not a refusal."""
    import httpx

    if isinstance(exc, (ConnectionError, TimeoutError, httpx.TransportError)):
        return True
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return isinstance(status, int) and (status == 429 or status >= 500)


def _gone(exc: BaseException) -> bool:
    """Whether `exc` is the Hub saying the repo or revision cannot be had: not found, gated, private, disabled
    (401, 403, 404, 410), never an outage."""
    from huggingface_hub.errors import DisabledRepoError, RepositoryNotFoundError, RevisionNotFoundError

    if isinstance(exc, (RepositoryNotFoundError, RevisionNotFoundError, DisabledRepoError)):
        return True
    status = getattr(getattr(exc, "response", None), "status_code", None)
    return status in (401, 403, 404, 410)


def _hub_error(exc: BaseException) -> type[ModelLoadError]:
    """The error class a Hub failure becomes: an outage is transient, a refusal means the model is unavailable."""
    if _hub_outage(exc):
        return HubUnreachable
    return ModelUnavailable if _gone(exc) else ModelLoadError


def _download(model_id: str, sha: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, revision=sha, ignore_patterns=HUB_IGNORE_PATTERNS))
    except Exception as exc:
        raise _hub_error(exc)(f"cannot download {model_id}@{sha}: {type(exc).__name__}: {exc}") from exc


def _resolve_hub_revision(model_id: str, revision: str) -> str:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        sha = HfApi().model_info(model_id, revision=revision).sha
    except RepositoryNotFoundError as exc:
        raise ModelUnavailable(
            f"model {model_id} does not exist on the Hub (or is private or gated); check the id"
        ) from exc
    except RevisionNotFoundError as exc:
        raise ModelUnavailable(
            f"model {model_id} has no revision {revision!r}; use a branch, tag or commit SHA"
        ) from exc
    except Exception as exc:
        error = _hub_error(exc)
        what = "the Hub refused" if error is ModelUnavailable else "cannot reach the Hub to resolve"
        raise error(f"{what} {model_id}@{revision}: {type(exc).__name__}") from exc
    if not sha:
        raise ModelLoadError(f"the Hub returned no commit SHA for {model_id}@{revision}")
    return sha


def hub_license(model_id: str, revision: str) -> str | None:
    """The license in a Hub model's card metadata, or None when it has none or the Hub is unreachable."""
    from huggingface_hub import HfApi

    try:
        info = HfApi().model_info(model_id, revision=revision)
    except Exception:
        return None
    return hub_card_license(info)


def check_model_folder(folder: Path) -> None:
    """R6 on the files about to be loaded: safetensors weights, a config, no custom code."""
    names = [p.name for p in model_files(folder)]
    if not any(n.endswith(WEIGHT_SUFFIXES) for n in names):
        other = [n for n in names if n.endswith(UNSAFE_WEIGHT_SUFFIXES)]
        hint = f" (found {', '.join(other)}: convert them to safetensors)" if other else ""
        raise ModelLoadError(f"model folder {folder} has no .safetensors weights{hint}; only safetensors are loaded")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"model folder {folder} has no config.json; save the model with save_pretrained")
    if any(n.endswith(".py") for n in names) or "auto_map" in json.loads((folder / "config.json").read_text("utf-8")):
        raise ModelLoadError(f"model {folder} ships custom code (Python files or `auto_map`); that is not allowed (R6)")


def utterances_in_call(args: tuple[Any, ...], kwargs: dict[str, Any], rows: tuple[int, ...]) -> int:
    """How many utterances one model call holds: the largest batch dimension of its tensor inputs, counted in
    utterances (R2). A family that cuts a long utterance into chunks on the batch axis (`rows`: rows per
    utterance) still holds one utterance per chunk group; a batch dimension the rows do not explain counts as it
    is, so nothing unexplained can hide."""
    return max((_utterances(v, rows) for v in (*args, *kwargs.values()) if _batched(v)), default=0)


def _batched(value: object) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() >= 2  # 1-D inputs (cache_position) are not batched


def _utterances(value: torch.Tensor, rows: tuple[int, ...]) -> int:
    size = int(value.shape[0])
    return len(rows) if rows and size == sum(rows) else size


@dataclass
class BatchProbe:
    """A forward pre-hook: the most utterances any model call held, and how many calls were made (R2).

    `rows` is set by the transcriber before each call: the rows each utterance of the call takes on the batch
    axis (see `utterances_in_call`).
    """

    max_batch_size: int = 0
    forward_calls: int = 0
    input_dtypes: set[str] = field(default_factory=set)
    rows: tuple[int, ...] = ()

    def __call__(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # Runs once per decoding step, inside the timed call: one pass over the inputs.
        self.forward_calls += 1
        for value in (*args, *kwargs.values()):
            if _batched(value):
                self.max_batch_size = max(self.max_batch_size, _utterances(value, self.rows))
                if value.is_floating_point():
                    self.input_dtypes.add(str(value.dtype).removeprefix("torch."))

    def reset(self) -> None:
        self.max_batch_size, self.forward_calls = 0, 0
        self.input_dtypes.clear()


def family_of(architecture: str) -> Family:
    """The supported family of `architecture`, with its packages installed, or the refusal naming what to do."""
    family = family_for(architecture)
    if family is None:
        raise ModelLoadError(
            f"architecture {architecture or '(none in config.json)'} has no recipe on this board (R6); the "
            f"supported families are: {supported_list(available_families())}"
        )
    missing = family.missing_packages()
    if missing:
        raise ModelLoadError(missing_package_message(family, missing))
    return family


def fp32_exceptions(model: PreTrainedModel, dtype: torch.dtype, precision: str) -> list[str]:
    """R5: every parameter in the declared dtype, except in the modules the family keeps in float32 by design
    (transformers' `_keep_in_fp32_modules` at float16, `_keep_in_fp32_modules_strict` at float16 and bfloat16).
    Returns those modules' patterns, as recorded in the result; raises for anything else."""
    keep: set[str] = set()
    if dtype in (torch.float16, torch.bfloat16):
        keep |= set(getattr(model, "_keep_in_fp32_modules_strict", None) or ())
    if dtype == torch.float16:
        keep |= set(getattr(model, "_keep_in_fp32_modules", None) or ())
    used: set[str] = set()
    wrong: set[str] = set()
    for name, parameter in model.named_parameters():
        if not parameter.is_floating_point() or parameter.dtype == dtype:
            continue
        kept = [k for k in keep if parameter.dtype == torch.float32 and re.search(k.replace("*", ".*"), name)]
        used.update(kept)
        if not kept:
            wrong.add(str(parameter.dtype))
    if wrong:
        raise ModelLoadError(f"model did not load in {precision}: found parameters in {sorted(wrong)}")
    return sorted(used)


class Transcriber:
    """One loaded model that turns waveforms into text through its family's recipe; `transcribe` is timed (R3)."""

    def __init__(
        self,
        source: ModelSource,
        precision: str = "float32",
        device: str = "auto",
        max_new_tokens: int = 440,
        utterance_timeout_s: float | None = None,
    ) -> None:
        if precision not in DTYPES:
            raise ModelLoadError(f"unknown precision {precision!r}; use one of {', '.join(PRECISIONS)}")
        self.source = source
        self.precision = precision
        self.dtype = DTYPES[precision]
        self.device = torch.device(_pick_device(device))
        check_model_folder(source.folder)
        # generate() warns about its own defaults on every call; at one call per utterance that floods the logs
        # and costs time inside the timed region. Set here, when a model is loaded, never on import.
        transformers_logging.set_verbosity_error()
        config = _load(AutoConfig.from_pretrained, source)
        declared = (getattr(config, "architectures", None) or [""])[0]
        conflict = family_conflict(declared, getattr(config, "model_type", None))
        if conflict:
            raise ModelLoadError(conflict)
        self.family = family_of(declared)
        recipe = recipe_class(self.family)
        self.processor = _load(AutoProcessor.from_pretrained, source)
        # The model's own generation_config.json is not loaded: R7 decoding is built by the recipe, and that
        # file's validation would otherwise reject the model for settings the evaluator ignores anyway.
        self.model: PreTrainedModel = _load(
            getattr(transformers, self.family.architecture).from_pretrained,
            source,
            dtype=self.dtype,
            use_safetensors=True,
            generation_config=GenerationConfig(),
        )
        self.model.to(self.device).eval()
        #: The class that runs, recorded as the model's architecture and family (what the board shows).
        self.architecture = type(self.model).__name__
        self.fp32_modules = fp32_exceptions(self.model, self.dtype, precision)
        loaded = Loaded(self.family, source.folder, self.model, self.processor, self.device, self.dtype)
        self.recipe = recipe(loaded, Limits.of(max_new_tokens, utterance_timeout_s))
        self.sampling_rate = loaded.sampling_rate
        self.probe = BatchProbe()
        for module in self.recipe.hooked_modules():
            module.register_forward_pre_hook(self.probe, with_kwargs=True)

    @property
    def decoding(self) -> Decoding:
        return self.recipe.decoding

    @property
    def recipe_record(self) -> RecipeInfo:
        """What the result records of how this model was run (R6, R12): the family of the class that ran."""
        family = family_for(self.architecture) or self.family
        return RecipeInfo(
            name=self.recipe.name,
            version=self.recipe.version,
            family=family.model_type,
            kind=family.kind.value,
            prompt=str(self.decoding.settings.get("prompt", family.prompt)),
            fp32_modules=self.fp32_modules,
        )

    @property
    def max_audio_s(self) -> float | None:
        """The longest utterance this model can take whole, or None when any length is transcribed whole."""
        return self.recipe.max_audio_s

    def generation_config(self, long_form: bool = False) -> GenerationConfig | None:
        """The R7 config `generate` runs with (its long-form twin past 30 s on Whisper); None without generate.

        The throughput track (R14) decodes its batches with these same objects, so both tracks decode alike.
        """
        return self.recipe.generation_config(long_form)

    def long_form(self, waveform: np.ndarray) -> bool:
        """Whether the recipe decodes this waveform by a separate long-form path (Whisper past 30 s)."""
        return self.recipe.long_form(waveform)

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def transcribe(self, waveform: np.ndarray) -> str:
        """Features, host-to-device copy, forward or generate, decode to text; the device synchronized at the end."""
        return self.transcribe_batch([waveform])[0]

    @torch.inference_mode()
    def transcribe_batch(
        self, waveforms: Sequence[np.ndarray], config: Callable[[bool], GenerationConfig | None] | None = None
    ) -> list[str]:
        """One call of the recipe over `waveforms` (batch one: a list of one). `config` picks the generation
        config from the batch's long-form flag (default: the recipe's own)."""
        inputs = self.recipe.inputs(waveforms)
        self.probe.rows = inputs.rows
        choose = config or self.recipe.generation_config
        texts = self.recipe.run(inputs, choose(inputs.long_form))
        synchronize(self.device)
        return texts


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer stopped after this measures the work itself (R3)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _pick_device(device: str) -> str:
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu")
    if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
        raise ModelLoadError(f"unknown device {device!r}; use auto, cpu or cuda")
    return device


def _load(loader: Any, source: ModelSource, **kwargs: Any) -> Any:
    try:
        return loader(source.location, trust_remote_code=False, **kwargs)
    except ModelLoadError:
        raise
    except OSError as exc:
        raise ModelLoadError(f"cannot load {source.model_id}@{source.revision}: {exc}") from exc
    except ImportError as exc:  # a backend the processor or model needs is missing
        raise ModelLoadError(f"cannot load {source.model_id}: a Python package it needs is missing: {exc}") from exc
    except ValueError as exc:
        raise ModelLoadError(f"cannot load {source.model_id}: {exc}") from exc
