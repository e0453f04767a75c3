"""Loading a speech-recognition model safely (R4-R7) and transcribing one utterance at a time (R2).

One pipeline for every model and every eval set: greedy decoding, English, transcription, no timestamps,
no prompts. Seq2seq models go through `generate`; CTC models through a forward pass and argmax.
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from transformers import (
    AutoConfig,
    AutoModelForCTC,
    AutoModelForSpeechSeq2Seq,
    AutoProcessor,
    GenerationConfig,
    PreTrainedModel,
)
from transformers import logging as transformers_logging
from transformers.models.whisper.generation_whisper import WhisperGenerationMixin

from core.architectures import speech_architectures
from core.model_files import UNSAFE_WEIGHT_SUFFIXES, WEIGHT_SUFFIXES, hub_card_license, local_revision, model_files
from core.records import HUB_REPO_ID, PRECISIONS
from evaluator.decoding import Decoding, ctc_decoding, seq2seq_decoding, whisper_suppression

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
SEQ2SEQ_ARCHITECTURES = speech_architectures().seq2seq
CTC_ARCHITECTURES = speech_architectures().ctc


class ModelLoadError(ValueError):
    """The model cannot be evaluated; the message says what to fix."""


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


def resolve_model(model: str, revision: str | None = None, models_dir: Path | None = None) -> ModelSource:
    """Find `model`: an existing folder, a `<org>/<name>` folder under `models_dir`, or a Hub repo id.

    A local folder's revision is its content digest (see `check_revision`). A Hub revision (branch, tag or SHA) is resolved to a
    commit SHA and exactly that commit is downloaded, so the files checked against the hashes recorded at
    submission (R4) are the files that get loaded.
    """
    candidates = [Path(model).expanduser()]
    if models_dir is not None and HUB_REPO_ID.match(model):
        candidates.append(models_dir / model)
    for folder in candidates:
        if folder.is_dir():
            return ModelSource(
                model_id=model, location=str(folder.resolve()), revision=local_revision(folder), local=True
            )
    if not HUB_REPO_ID.match(model):
        where = f" or under {models_dir}" if models_dir else ""
        raise ModelLoadError(f"model {model!r} is not a folder{where}, nor a Hub id like `openai/whisper-base`")
    sha = _resolve_hub_revision(model, revision or "main")
    return ModelSource(model_id=model, location=str(_download(model, sha)), revision=sha, local=False)


def check_revision(source: ModelSource, requested: str | None) -> None:
    """A local folder is evaluated at the revision asked for only if its content digest still matches."""
    if source.local and requested not in (None, "main", source.revision):
        raise ModelLoadError(
            f"local model {source.model_id} is at revision {source.revision}, not {requested}: its files changed "
            "since submission; submit it again, or pass --revision main to evaluate what is there now"
        )


def _download(model_id: str, sha: str) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model_id, revision=sha, ignore_patterns=HUB_IGNORE_PATTERNS))
    except Exception as exc:
        raise ModelLoadError(f"cannot download {model_id}@{sha}: {type(exc).__name__}: {exc}") from exc


def _resolve_hub_revision(model_id: str, revision: str) -> str:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    try:
        sha = HfApi().model_info(model_id, revision=revision).sha
    except RepositoryNotFoundError as exc:
        raise ModelLoadError(f"model {model_id} does not exist on the Hub (or is private); check the id") from exc
    except RevisionNotFoundError as exc:
        raise ModelLoadError(f"model {model_id} has no revision {revision!r}; use a branch, tag or commit SHA") from exc
    except Exception as exc:
        raise ModelLoadError(f"cannot reach the Hub to resolve {model_id}@{revision}: {type(exc).__name__}") from exc
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


@dataclass
class BatchProbe:
    """A forward pre-hook: the largest batch dimension of any tensor input, and how many calls were made (R2)."""

    max_batch_size: int = 0
    forward_calls: int = 0
    input_dtypes: set[str] = field(default_factory=set)

    def __call__(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.forward_calls += 1
        for value in (*args, *kwargs.values()):
            if isinstance(value, torch.Tensor) and value.dim() >= 2:  # 1-D inputs (cache_position) are not batched
                self.max_batch_size = max(self.max_batch_size, int(value.shape[0]))
                if value.is_floating_point():
                    self.input_dtypes.add(str(value.dtype).removeprefix("torch."))

    def reset(self) -> None:
        self.max_batch_size, self.forward_calls = 0, 0
        self.input_dtypes.clear()


class DecodingStalled(ValueError):
    """Generation ran far past any honest length for the utterance; the evaluation fails instead of hanging."""


@dataclass
class CallBudget:
    """A forward pre-hook that stops one `generate` after `limit` model calls (None: unlimited).

    transformers' Whisper long-form loop seeks to the window's last timestamp; a window that ends on two equal
    timestamps (`<|0.00|><|0.00|>`) moves it by nothing, and the loop never ends. Every honest window advances,
    so one full window of tokens per second of audio is far beyond any honest need.
    """

    limit: int | None = None
    calls: int = 0
    what: str = ""

    def arm(self, limit: int, what: str) -> None:
        self.limit, self.calls, self.what = limit, 0, what

    def disarm(self) -> None:
        self.limit = None

    def __call__(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.calls += 1
        if self.limit is not None and self.calls > self.limit:
            raise DecodingStalled(
                f"{self.what}: generation made {self.calls} decoding steps without finishing, far more than any "
                "honest transcript needs (transformers' Whisper long-form loop can stall on a window that ends "
                "on repeated timestamps); the model cannot be evaluated on this utterance"
            )


class Transcriber:
    """One loaded model that turns one waveform into text; everything inside `transcribe` is timed (R3)."""

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
        architecture = (getattr(config, "architectures", None) or [""])[0]
        self.architecture = architecture
        self.kind: Literal["seq2seq", "ctc"]
        if architecture in SEQ2SEQ_ARCHITECTURES:
            self.kind, auto = "seq2seq", AutoModelForSpeechSeq2Seq
        elif architecture in CTC_ARCHITECTURES:
            self.kind, auto = "ctc", AutoModelForCTC
        else:
            raise ModelLoadError(
                f"architecture {architecture or '(none in config.json)'} is not a transformers speech-recognition "
                "class (seq2seq like WhisperForConditionalGeneration, or CTC like Wav2Vec2ForCTC)"
            )
        self.processor = _load(AutoProcessor.from_pretrained, source)
        # The model's own generation_config.json is not loaded: R7 decoding is built in `_decoding`, and that
        # file's validation would otherwise reject the model for settings the evaluator ignores anyway.
        self.model: PreTrainedModel = _load(
            auto.from_pretrained, source, dtype=self.dtype, use_safetensors=True, generation_config=GenerationConfig()
        )
        self.model.to(self.device).eval()
        wrong = {str(p.dtype) for p in self.model.parameters() if p.is_floating_point() and p.dtype != self.dtype}
        if wrong:
            raise ModelLoadError(f"model did not load in {precision}: found parameters in {sorted(wrong)}")
        self.sampling_rate = int(getattr(self.processor.feature_extractor, "sampling_rate", 16000))
        self.probe = BatchProbe()
        self.model.register_forward_pre_hook(self.probe, with_kwargs=True)
        if self.kind == "seq2seq":
            # generate() runs the encoder on its own, then the model once per decoding step: watch both.
            self.model.get_encoder().register_forward_pre_hook(self.probe, with_kwargs=True)
        #: Whisper's own generate() transcribes inputs longer than 30 s whole (sequential long-form).
        self.whisper = isinstance(self.model, WhisperGenerationMixin)
        self.budget = CallBudget()
        self.model.register_forward_pre_hook(self.budget, with_kwargs=True)
        self.decoding = self._decoding(max_new_tokens, utterance_timeout_s)

    def _decoding(self, max_new_tokens: int, timeout_s: float | None) -> Decoding:
        """R7: the evaluator's own decoding config, installed as the model's, so nothing of the model's leaks in."""
        if self.kind != "seq2seq":
            return ctc_decoding(self.source.folder)
        decoding = seq2seq_decoding(
            self.source.folder,
            self.model.config,
            max_new_tokens=max_new_tokens,
            max_target_positions=getattr(self.model.config, "max_target_positions", None),
            max_time_s=timeout_s if timeout_s and math.isfinite(timeout_s) else None,
            whisper=self.whisper,
            suppression=whisper_suppression(self.processor.tokenizer) if self.whisper else None,
        )
        # generate() fills unset settings from model.generation_config, and Whisper falls back to the model
        # config's forced_decoder_ids (prompt tokens): replace the one, clear the other.
        self.model.generation_config = decoding.generation_config
        # Past 30 s, Whisper's generate() needs timestamp tokens to place its windows (they are not in the text).
        self._long_form_config = copy.deepcopy(decoding.generation_config)
        self._long_form_config.return_timestamps = True
        if getattr(self.model.config, "forced_decoder_ids", None) is not None:
            self.model.config.forced_decoder_ids = None
        return decoding

    @property
    def max_audio_s(self) -> float | None:
        """The longest utterance this model can take whole, or None when any length is transcribed whole.

        Whisper runs long-form generation and CTC takes the whole input; another seq2seq model whose feature
        extractor cuts its input to a fixed window cannot hear what lies beyond it.
        """
        if self.kind == "ctc" or self.whisper:
            return None
        chunk = getattr(self.processor.feature_extractor, "chunk_length", None)
        return float(chunk) if chunk else None

    def generation_config(self, long_form: bool = False) -> GenerationConfig:
        """The R7 config `generate` runs with: the long-form twin (timestamps place windows) past 30 s on Whisper.

        The throughput track (R14) decodes its batches with these same objects, so both tracks decode alike.
        """
        config = getattr(self, "_long_form_config", None) if long_form else self.decoding.generation_config
        if config is None:
            raise ValueError(f"a {self.kind} model has no generation config")
        return config

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    @torch.inference_mode()
    def transcribe(self, waveform: np.ndarray) -> str:
        """Features, host-to-device copy, forward or generate, decode to text; the device synchronized at the end."""
        features, long_form = self._features(waveform)
        inputs = {
            name: value.to(self.device, dtype=self.dtype if value.is_floating_point() else value.dtype)
            for name, value in features.items()
            if isinstance(value, torch.Tensor)
        }
        if self.kind == "seq2seq":
            config = self.generation_config(long_form)
            if long_form:
                seconds = math.ceil(len(waveform) / self.sampling_rate)
                self.budget.arm(seconds * (config.max_new_tokens + 2), f"a {seconds} s utterance")
            try:
                ids = self.model.generate(**inputs, generation_config=config)
            finally:
                self.budget.disarm()
            text = self.processor.batch_decode(ids, skip_special_tokens=True)[0]
        else:
            logits = self.model(**inputs).logits
            text = self.processor.batch_decode(logits.argmax(dim=-1))[0]
        synchronize(self.device)
        return text

    def _features(self, waveform: np.ndarray) -> tuple[Any, bool]:
        """The model's input features for the whole waveform, and whether it needs Whisper's long-form decoding.

        Whisper's feature extractor pads or cuts to 30 s by default; a longer utterance is featurized whole,
        which makes `generate` run sequential long-form decoding (timestamp tokens only place the windows).
        """
        if self.whisper and len(waveform) > self.processor.feature_extractor.n_samples:
            features = self.processor(
                waveform,
                sampling_rate=self.sampling_rate,
                return_tensors="pt",
                truncation=False,
                padding="longest",
                return_attention_mask=True,
            )
            return features, True
        return self.processor(waveform, sampling_rate=self.sampling_rate, return_tensors="pt"), False


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
    except ValueError as exc:
        raise ModelLoadError(f"cannot load {source.model_id}: {exc}") from exc
