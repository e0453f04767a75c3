"""Which transformers classes count as speech recognition (R6): one list for the submission check and the evaluator.

transformers' speech seq2seq mapping also holds classes that do not transcribe speech to text (music or speech
generation); those are left out here, so the form refuses exactly what the evaluator would refuse.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

#: Classes in transformers' speech seq2seq mapping that do not transcribe speech to text.
NOT_SPEECH_RECOGNITION = frozenset({"Pop2PianoForConditionalGeneration", "DiaForConditionalGeneration"})


@dataclass(frozen=True)
class SpeechArchitectures:
    """transformers' speech-recognition classes, by how the evaluator runs them."""

    seq2seq: frozenset[str]
    ctc: frozenset[str]

    @property
    def all(self) -> frozenset[str]:
        return self.seq2seq | self.ctc


def _names(mapping: Mapping[str, str | Iterable[str]]) -> frozenset[str]:
    names: set[str] = set()
    for value in mapping.values():
        names.update([value] if isinstance(value, str) else value)
    return frozenset(names - NOT_SPEECH_RECOGNITION)


@functools.lru_cache(maxsize=1)
def speech_architectures() -> SpeechArchitectures:
    """Seq2seq (e.g. Whisper) and CTC (e.g. wav2vec2) classes; transformers is imported on first call only."""
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CTC_MAPPING_NAMES,
        MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES,
    )

    return SpeechArchitectures(
        seq2seq=_names(MODEL_FOR_SPEECH_SEQ_2_SEQ_MAPPING_NAMES), ctc=_names(MODEL_FOR_CTC_MAPPING_NAMES)
    )
