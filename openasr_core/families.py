"""The model families the board evaluates (R6): one table for the Submit form, the CLI, the About page and the
evaluator, so that the form accepts exactly what the evaluator can run.

A family is one transformers architecture class. Each is run by a *recipe* (`evaluator/recipes/`), named here,
that equals the family's documented transcription usage: how inputs are built (for prompted families the
documented English transcription request, the same for every eval set), how it decodes (greedy: CTC argmax,
transducer `generate`, or `generate`), and how output becomes text. This module is pure data (no torch), so the
Space can check a submission without loading transformers' models.

Adding a family of a kind that already has a recipe is one row here and a tiny model in the tests; a new kind is
one small recipe module under `evaluator/recipes/` as well.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """How a family turns audio into text."""

    CTC = "CTC"
    TRANSDUCER = "transducer"
    ENCODER_DECODER = "encoder-decoder"
    AUDIO_LANGUAGE_MODEL = "audio-language model"


#: What a prompted family is asked, in words (the recipe records the exact prompt tokens in each result).
NO_PROMPT = "none"


@dataclass(frozen=True)
class Family:
    """One supported architecture: its transformers class, `model_type`, kind, recipe and fixed prompt.

    `packages` are the import names its documented processing path needs beyond the board's own requirements
    checks (a family whose package is missing is refused, naming it). `batching` is False for a family whose
    documented path cannot batch; its throughput record says so instead of climbing the ladder.
    """

    model_type: str
    architecture: str
    kind: Kind
    recipe: str
    prompt: str = NO_PROMPT
    packages: tuple[str, ...] = ()
    batching: bool = True
    note: str = ""

    def missing_packages(self, installed: Callable[[str], bool] | None = None) -> list[str]:
        """The packages of `packages` this Python cannot import."""
        check = installed or package_installed
        return [name for name in self.packages if not check(name)]


def package_installed(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


_WAV2VEC2_PROCESSOR = "the wav2vec2 feature extractor and CTC tokenizer"
ENGLISH_TRANSCRIPTION = "transcribe, source and target language English"

FAMILIES: tuple[Family, ...] = (
    # CTC: one forward pass over the whole utterance, argmax per frame, the tokenizer's collapse.
    Family("wav2vec2", "Wav2Vec2ForCTC", Kind.CTC, "ctc", note=_WAV2VEC2_PROCESSOR),
    Family("wav2vec2-bert", "Wav2Vec2BertForCTC", Kind.CTC, "ctc"),
    Family("wav2vec2-conformer", "Wav2Vec2ConformerForCTC", Kind.CTC, "ctc", note=_WAV2VEC2_PROCESSOR),
    Family("hubert", "HubertForCTC", Kind.CTC, "ctc", note=_WAV2VEC2_PROCESSOR),
    Family("data2vec-audio", "Data2VecAudioForCTC", Kind.CTC, "ctc", note=_WAV2VEC2_PROCESSOR),
    Family("wavlm", "WavLMForCTC", Kind.CTC, "ctc", note=_WAV2VEC2_PROCESSOR),
    Family("unispeech", "UniSpeechForCTC", Kind.CTC, "ctc", note=_WAV2VEC2_PROCESSOR),
    Family("unispeech-sat", "UniSpeechSatForCTC", Kind.CTC, "ctc", note=_WAV2VEC2_PROCESSOR),
    Family("sew", "SEWForCTC", Kind.CTC, "ctc", note=_WAV2VEC2_PROCESSOR),
    Family("sew-d", "SEWDForCTC", Kind.CTC, "ctc", note=_WAV2VEC2_PROCESSOR),
    Family("parakeet_ctc", "ParakeetForCTC", Kind.CTC, "ctc-generate"),
    Family("lasr_ctc", "LasrForCTC", Kind.CTC, "ctc-generate"),
    Family("omniasr_ctc", "OmniASRForCTC", Kind.CTC, "ctc-generate"),
    # Transducers: `generate` walks the encoder frames; its length is the encoder's, not a token budget.
    Family("parakeet_tdt", "ParakeetForTDT", Kind.TRANSDUCER, "transducer"),
    Family("parakeet_rnnt", "ParakeetForRNNT", Kind.TRANSDUCER, "transducer"),
    # Encoder-decoders.
    Family("whisper", "WhisperForConditionalGeneration", Kind.ENCODER_DECODER, "whisper", "<|en|><|transcribe|>"),
    Family("moonshine", "MoonshineForConditionalGeneration", Kind.ENCODER_DECODER, "encoder-decoder"),
    Family(
        "speech_to_text",
        "Speech2TextForConditionalGeneration",
        Kind.ENCODER_DECODER,
        "encoder-decoder",
        packages=("sentencepiece",),
    ),
    Family("canary", "CanaryForConditionalGeneration", Kind.ENCODER_DECODER, "canary", ENGLISH_TRANSCRIPTION),
    Family("cohere_asr", "CohereAsrForConditionalGeneration", Kind.ENCODER_DECODER, "cohere-asr", "language en"),
    Family(
        "kyutai_speech_to_text",
        "KyutaiSpeechToTextForConditionalGeneration",
        Kind.ENCODER_DECODER,
        "kyutai",
        batching=False,
        note="its generate decodes a padded batch for the longest row's frames, the padding unmasked",
    ),
    # Audio-language models: a decoder-only language model reading audio embeddings and a fixed request.
    Family(
        "voxtral",
        "VoxtralForConditionalGeneration",
        Kind.AUDIO_LANGUAGE_MODEL,
        "voxtral",
        "Voxtral's transcription request, language en",
        packages=("mistral_common",),
    ),
    Family(
        "qwen3_asr",
        "Qwen3ASRForConditionalGeneration",
        Kind.AUDIO_LANGUAGE_MODEL,
        "qwen3-asr",
        "Qwen3-ASR's transcription request, language English",
    ),
    Family(
        "omniasr",
        "OmniASRForConditionalGeneration",
        Kind.AUDIO_LANGUAGE_MODEL,
        "omniasr",
        "OmniASR's transcription request, language eng_Latn",
    ),
    Family(
        "granite_speech",
        "GraniteSpeechForConditionalGeneration",
        Kind.AUDIO_LANGUAGE_MODEL,
        "granite-speech",
        "can you transcribe the speech into a written format?",
        packages=("torchaudio",),
    ),
)

_BY_ARCHITECTURE = {family.architecture: family for family in FAMILIES}


def family_for(architecture: str | None) -> Family | None:
    """The supported family of a transformers class name (a model's `config.json` `architectures[0]`)."""
    return _BY_ARCHITECTURE.get(architecture or "")


def family_conflict(architecture: str | None, model_type: str | None) -> str | None:
    """Why a `config.json` contradicts itself about its family, or None: `architectures[0]` names one supported
    family and `model_type` another (a Whisper checkpoint labelled `Speech2TextForConditionalGeneration`).

    transformers builds the config and the processor from `model_type` but the board loads the class that
    `architectures` names, so such a checkpoint would run as neither family: the named class built from the
    other family's config, its weights partly random, the other family's processor. It would be published under
    a family that never ran as documented, so it is refused instead, saying which field to correct."""
    declared = family_for(architecture)
    actual = next((f for f in FAMILIES if f.model_type == model_type), None)
    if declared is None or actual is None or declared is actual:
        return None
    return (
        f"config.json contradicts itself: its architectures name {architecture} (family {declared.model_type}) "
        f"but its model_type is {model_type!r} (family {actual.model_type}, class {actual.architecture}); "
        f"set architectures to [{actual.architecture!r}] if the weights are {actual.model_type}'s"
    )


def supported_architectures() -> frozenset[str]:
    return frozenset(_BY_ARCHITECTURE)


def available_families(installed: Callable[[str], bool] | None = None) -> tuple[Family, ...]:
    """The families this board can run: those whose packages are installed."""
    return tuple(f for f in FAMILIES if not f.missing_packages(installed))


def supported_list(families: Iterable[Family] = FAMILIES) -> str:
    """The supported families by `model_type`, as one line a refusal can quote (the About page has the table)."""
    return ", ".join(f.model_type for f in families)


#: Why a package may be impossible to install here, for the refusal that names it.
PACKAGE_NOTES = {
    "torchaudio": "it has no build for the board's pinned torch, so it cannot be installed beside it",
}


def missing_package_message(family: Family, missing: Iterable[str]) -> str:
    """One line: which package the family's documented processing needs and is not installed."""
    names = list(missing)
    why = "; ".join(f"{name}: {PACKAGE_NOTES[name]}" for name in names if name in PACKAGE_NOTES)
    return (
        f"{family.model_type} ({family.architecture}) needs the Python package {', '.join(names)} for its documented "
        f"processing, and this board does not have it{f' ({why})' if why else ''}; it cannot be evaluated here"
    )
