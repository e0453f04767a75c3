"""What every family recipe shares: the loaded model it works on, the inputs it builds, and the default steps.

A recipe turns a list of waveforms into one text each, exactly as its family's documented usage does (R6), with
the board's decoding rules (R7). Batch one calls it with one waveform (R2); the throughput track (R14) with
many. Every step a recipe takes happens inside the timed call (R3): the processor call, the copy to the device,
forward or generate, and the decoding to text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from transformers import GenerationConfig, PreTrainedModel

from evaluator.decoding import Decoding
from evaluator.logits import CachedRules
from openasr_core.families import Family


@dataclass(frozen=True)
class Limits:
    """The rules' limits on one `generate`: new tokens (R7) and seconds (R3; None: no wall-clock limit)."""

    max_new_tokens: int
    max_time_s: float | None = None

    @classmethod
    def of(cls, max_new_tokens: int, timeout_s: float | None) -> Limits:
        finite = timeout_s if timeout_s is not None and math.isfinite(timeout_s) and timeout_s > 0 else None
        return cls(max_new_tokens=max_new_tokens, max_time_s=finite)


@dataclass
class Loaded:
    """A model loaded under the rules, with its processor, device and dtype: what a recipe works on."""

    family: Family
    folder: Path
    model: PreTrainedModel
    processor: Any
    device: torch.device
    dtype: torch.dtype

    @property
    def sampling_rate(self) -> int:
        extractor = getattr(self.processor, "feature_extractor", None)
        return int(getattr(extractor, "sampling_rate", None) or 16000)


@dataclass(frozen=True)
class Inputs:
    """One call's model inputs, on the device, and how they map to utterances.

    `rows` holds, per utterance, how many rows it takes on the batch axis: 1, or the number of chunks a family
    cuts a long utterance into on that axis (the batch hook counts utterances, not a family's own chunks, R2).
    `prompt_length` is how many tokens of a decoder-only model's output are its prompt, sliced off the text.
    """

    tensors: dict[str, torch.Tensor]
    rows: tuple[int, ...]
    prompt_length: int = 0
    long_form: bool = False
    extra: Mapping[str, Any] = field(default_factory=dict)


class Recipe:
    """The steps of one family kind; subclasses override what their documented usage does differently.

    Subclasses set `name`, recorded in every result with `version` (R12). The model is loaded as its family's own
    transformers class (`openasr_core.families.Family.architecture`).
    """

    name: ClassVar[str]
    version: ClassVar[int] = 1

    def __init__(self, loaded: Loaded, limits: Limits) -> None:
        self.loaded = loaded
        self.limits = limits
        self.decoding = self.build_decoding()
        # R7's fixed token masks (Whisper's suppression, a TDT's duration slots) built once per model, not at
        # every decoding step: the same rules at the same place in the list, at the cost of one fill a step.
        self.cached_rules = CachedRules.install(loaded.model)

    # --- what the recipe is -------------------------------------------------------------------------------

    def build_decoding(self) -> Decoding:
        """R7: the decoding this recipe runs with, recorded in the result; the model's own settings are ignored."""
        raise NotImplementedError

    @property
    def max_audio_s(self) -> float | None:
        """The longest utterance the family takes whole in one call, or None when any length is taken whole."""
        return None

    def hooked_modules(self) -> list[torch.nn.Module]:
        """Where the batch-one hook goes: modules called once per model call (R2). One entry per module."""
        return [self.loaded.model]

    def long_form(self, waveform: np.ndarray) -> bool:
        """Whether this waveform is decoded by a separate long-form path (Whisper past 30 s); never batched with
        short ones by the throughput track."""
        return False

    def generation_config(self, long_form: bool = False) -> GenerationConfig | None:
        """The R7 config `generate` runs with (None for a recipe that does not call `generate`)."""
        return self.decoding.generation_config

    # --- the timed steps ----------------------------------------------------------------------------------

    def features(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        """The processor call of the documented usage (at batch one, a list of one waveform)."""
        loaded = self.loaded
        options = {"padding": True} if len(waveforms) > 1 else {}
        return loaded.processor(list(waveforms), sampling_rate=loaded.sampling_rate, return_tensors="pt", **options)

    def inputs(self, waveforms: Sequence[np.ndarray]) -> Inputs:
        """The processor's tensors on the model's device, floating ones in the declared dtype (R5)."""
        return Inputs(tensors=self.to_device(self.features(waveforms)), rows=(1,) * len(waveforms))

    def to_device(self, features: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        loaded = self.loaded
        return {
            name: value.to(loaded.device, dtype=loaded.dtype if value.is_floating_point() else value.dtype)
            for name, value in features.items()
            if isinstance(value, torch.Tensor)
        }

    def run(self, inputs: Inputs, config: GenerationConfig | None) -> list[str]:
        """Forward or generate on `inputs`, and the texts, one per utterance, in order."""
        raise NotImplementedError


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


def generated_ids(output: Any) -> torch.Tensor:
    """The token ids of a `generate` output, whether a tensor or a `ModelOutput` with `sequences`."""
    return output if isinstance(output, torch.Tensor) else output.sequences
