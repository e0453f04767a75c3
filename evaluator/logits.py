"""The decoding rules' fixed token masks (R7), built once per model instead of at every decoding step.

Every RTF the board publishes includes the evaluator's own work inside `generate`, so that work is part of every
model's score. transformers applies Whisper's suppression (`SuppressTokensLogitsProcessor`, and
`SuppressTokensAtBeginLogitsProcessor` for the first generated token) and a TDT transducer's duration slots (the
same processor) by rebuilding the mask at each step: `torch.isin` of the whole vocabulary against the suppressed
ids, about 2 ms a step for Whisper's 51,865 tokens on a CPU, 7.6 % of whisper-base's timed work. The mask depends
only on the model (its suppressed ids and vocabulary size), so here it is built once per model and device and a
step costs one copy of the scores with those columns filled. `LogitsProcessorList` also reads each processor's
signature (`inspect.signature`) at every step; the list here reads it once per processor.

Same rule, same place. The R7 generation config still names the suppressed ids (the decoding record and the list
of ignored settings are derived from it, unchanged), and transformers still builds its processors from it; the
one method that assembles the list a decoding loop runs (`GenerationMixin._get_logits_processor`, which also
receives Whisper's own list) is wrapped on the loaded model, and each suppression processor in the list it
returns is replaced, at its position, by the cached equivalent. The position matters: Whisper's timestamp rule
(long-form decoding past 30 s) compares log-probabilities of the already suppressed scores, and Whisper puts its
timestamp processor ahead of any processor passed to `generate(logits_processor=...)`, so passing the cached
mask that way would run the rules in another order and could change a token.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from typing import Any

import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.generation.logits_process import (
    SuppressTokensAtBeginLogitsProcessor,
    SuppressTokensLogitsProcessor,
)

MaskKey = tuple[tuple[int, ...], int, torch.device]


class TokenMasks:
    """The suppressed ids of a rule as one index tensor per (ids, vocabulary size, device), built on first use.

    An index tensor holds exactly the ids `torch.isin(torch.arange(size), ids)` marks, each once and in order:
    ids outside the vocabulary (a negative id, or one past the output row) mark nothing.
    """

    def __init__(self) -> None:
        self.masks: dict[MaskKey, torch.Tensor] = {}

    def mask(self, ids: tuple[int, ...], scores: torch.Tensor) -> torch.Tensor:
        size = int(scores.shape[-1])
        key = (ids, size, scores.device)
        mask = self.masks.get(key)
        if mask is None:
            inside = sorted({token for token in ids if 0 <= token < size})
            mask = self.masks[key] = torch.tensor(inside, dtype=torch.long, device=scores.device)
        return mask


class CachedSuppression(LogitsProcessor):
    """`SuppressTokensLogitsProcessor` with its ids from `TokenMasks`: they score -inf at every step.

    A copy of the scores with the ids' columns filled (`index_fill_`): the values of transformers'
    `torch.where(isin(...), -inf, scores)`, and like it a new tensor (a caller may keep the raw scores). Of the
    equivalent forms it is the cheapest on a CPU: about 8 µs a step for Whisper's vocabulary on one thread,
    `masked_fill` with a boolean mask about 50 µs, rebuilding the mask with `isin` about 3,700 µs.
    """

    def __init__(self, ids: tuple[int, ...], masks: TokenMasks) -> None:
        self.ids = ids
        self.masks = masks
        self._mask: torch.Tensor | None = None
        self._size = 0

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        return scores.clone().index_fill_(-1, self._mask_for(scores), -float("inf"))

    def _mask_for(self, scores: torch.Tensor) -> torch.Tensor:
        mask = self._mask
        if mask is None or self._size != scores.shape[-1] or mask.device != scores.device:
            mask = self._mask = self.masks.mask(self.ids, scores)
            self._size = int(scores.shape[-1])
        return mask


class CachedBeginSuppression(CachedSuppression):
    """`SuppressTokensAtBeginLogitsProcessor` with its mask from `TokenMasks`: the ids score -inf at the step
    whose input is `begin_index` tokens long (the first generated token), and the scores pass unchanged otherwise.
    Whisper moves `begin_index` with `set_begin_index` at each 30 s window, as it does for transformers' class."""

    def __init__(self, ids: tuple[int, ...], masks: TokenMasks, begin_index: int) -> None:
        super().__init__(ids, masks)
        self.begin_index = begin_index

    def set_begin_index(self, begin_index: int) -> None:
        self.begin_index = begin_index

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[-1] != self.begin_index:
            return scores
        return super().__call__(input_ids, scores)


def cached_equivalent(processor: LogitsProcessor, masks: TokenMasks) -> LogitsProcessor:
    """The cached processor that scores exactly as `processor` does, or `processor` itself when it has none
    (only transformers' own two suppression classes are replaced, never a subclass with other behaviour)."""
    if type(processor) is SuppressTokensLogitsProcessor:
        return CachedSuppression(_ids(processor.suppress_tokens), masks)
    if type(processor) is SuppressTokensAtBeginLogitsProcessor:
        return CachedBeginSuppression(_ids(processor.begin_suppress_tokens), masks, processor.begin_index)
    return processor


class ProcessorList(LogitsProcessorList):
    """`LogitsProcessorList` with each processor's extra arguments read once, not at every step.

    transformers' list calls `inspect.signature(processor.__call__)` for every processor at every step (tens of
    microseconds each) to learn whether it takes arguments beyond `input_ids` and `scores`; a processor's
    signature never changes, so here it is read on the processor's first step. The calls are the same.
    """

    def __init__(self, processors: Iterable[LogitsProcessor] = ()) -> None:
        super().__init__(processors)
        self._extra: dict[int, tuple[str, ...]] = {}

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, **kwargs: Any) -> torch.Tensor:
        for processor in self:
            extra = self._extra.get(id(processor))
            if extra is None:
                extra = self._extra[id(processor)] = tuple(inspect.signature(processor.__call__).parameters)[2:]
            if not extra:
                scores = processor(input_ids, scores)
                continue
            if not all(name in kwargs for name in extra):
                names = ["input_ids", "scores", *extra]
                raise ValueError(
                    f"Make sure that all the required parameters: {names} for {processor.__class__} are passed to "
                    "the logits processor."
                )
            scores = processor(input_ids, scores, **kwargs)
        return scores


def _ids(tokens: torch.Tensor) -> tuple[int, ...]:
    return tuple(int(token) for token in tokens.flatten().tolist())


class CachedRules:
    """Installed on one loaded model: every decoding loop of its `generate` runs the cached suppression masks.

    `install` wraps the model's `_get_logits_processor` (an instance attribute over the class's method, so only
    this model is affected) and `remove` restores the class's method. The masks live as long as the model.
    """

    ATTRIBUTE = "_get_logits_processor"

    def __init__(self, model: torch.nn.Module) -> None:
        self.model = model
        self.masks = TokenMasks()
        self.replaced = 0  # how many processors were replaced, over all `generate` calls (a test reads it)
        self._build: Callable[..., LogitsProcessorList] | None = None

    @classmethod
    def install(cls, model: torch.nn.Module) -> CachedRules | None:
        """Wrap `model`'s processor list builder (once; a second call returns the first wrapper); None for a
        model without one (it never runs `generate`'s decoding loop: CTC models)."""
        if not callable(getattr(model, cls.ATTRIBUTE, None)):
            return None
        installed = getattr(model.__dict__.get(cls.ATTRIBUTE), "__self__", None)
        if isinstance(installed, cls):
            return installed  # one wrapper per model, however many recipes are built on it
        rules = cls(model)
        rules._build = getattr(model, cls.ATTRIBUTE)
        model.__dict__[cls.ATTRIBUTE] = rules.processors
        return rules

    def remove(self) -> None:
        """transformers' own processors again (the tests compare tokens with and without the cached masks)."""
        self.model.__dict__.pop(self.ATTRIBUTE, None)

    def processors(self, *args: Any, **kwargs: Any) -> LogitsProcessorList:
        """transformers' list for this decoding loop, each suppression processor replaced in place."""
        assert self._build is not None
        built = self._build(*args, **kwargs)
        cached = ProcessorList(cached_equivalent(processor, self.masks) for processor in built)
        self.replaced += sum(new is not old for new, old in zip(cached, built, strict=True))
        return cached
