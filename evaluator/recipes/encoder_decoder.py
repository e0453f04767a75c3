"""Encoder-decoder families decoded by `generate` (Whisper, Moonshine, Speech2Text, ...).

The documented usage of each is `processor(audio)`, `model.generate(**inputs)` and
`processor.batch_decode(ids, skip_special_tokens=True)`. Whisper adds the English transcription request
(`<|en|><|transcribe|>` as forced start tokens), OpenAI's suppression rule and, past 30 s, transformers'
sequential long-form generation, so nothing of a long utterance is cut.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch
from transformers import GenerationConfig

from evaluator.decoding import Decoding, generate_decoding, whisper_suppression
from evaluator.recipes.base import CallBudget, Inputs, Limits, Loaded, Recipe, generated_ids


class EncoderDecoder(Recipe):
    """`generate` over the processor's features; the decoder starts from the architecture's start token."""

    name = "encoder-decoder"

    #: For a prompted family, the processor output that holds its fixed request's token ids (None: no prompt).
    prompt_key: ClassVar[str | None] = None

    def build_decoding(self) -> Decoding:
        if self.prompt_key is None:
            return self.generate_decoding()
        silence = np.zeros(self.loaded.sampling_rate, dtype=np.float32)  # the request for one second of audio
        prompt = self.prompt_tokens(self.features([silence])[self.prompt_key][0])
        return self.generate_decoding(prompt=self.loaded.family.prompt, prompt_tokens=prompt)

    def prompt_tokens(self, ids: torch.Tensor) -> list[int]:
        """The request's token ids as recorded in the result."""
        return [int(i) for i in ids]

    def generate_decoding(self, **options: Any) -> Decoding:
        """`generate_decoding` with this model's files, config and the rules' budget."""
        loaded = self.loaded
        config = loaded.model.config
        decoding = generate_decoding(
            loaded.folder,
            config,
            kind=loaded.family.kind.value,
            max_new_tokens=options.pop("max_new_tokens", self.limits.max_new_tokens),
            max_target_positions=_decoder_positions(config),
            max_time_s=self.limits.max_time_s,
            **options,
        )
        # generate() fills unset settings from model.generation_config: replace it, so nothing of the model's
        # own file leaks in (R7).
        loaded.model.generation_config = decoding.generation_config
        return decoding

    def hooked_modules(self) -> list[torch.nn.Module]:
        # generate() runs the encoder on its own, then the model once per decoding step: watch both.
        model = self.loaded.model
        encoder = model.get_encoder() if hasattr(model, "get_encoder") else None
        return [model] if encoder is None or encoder is model else [model, encoder]

    @property
    def max_audio_s(self) -> float | None:
        """What the feature extractor keeps of an utterance (`chunk_length`, Whisper's 30 s), if it cuts one."""
        chunk = getattr(getattr(self.loaded.processor, "feature_extractor", None), "chunk_length", None)
        return float(chunk) if chunk else None

    def run(self, inputs: Inputs, config: GenerationConfig | None) -> list[str]:
        ids = generated_ids(self.loaded.model.generate(**inputs.tensors, generation_config=config))
        return self.texts(ids[:, inputs.prompt_length :])

    def texts(self, ids: torch.Tensor) -> list[str]:
        return list(self.loaded.processor.batch_decode(ids, skip_special_tokens=True))


def _decoder_positions(config: object) -> int | None:
    value = getattr(config, "max_target_positions", None)
    return value if isinstance(value, int) and value > 0 else None


class Whisper(EncoderDecoder):
    """Whisper: English transcription forced, OpenAI's suppression, long-form generation past 30 s."""

    name = "whisper"

    def __init__(self, loaded: Loaded, limits: Limits) -> None:
        super().__init__(loaded, limits)
        self.stall_guard = CallBudget()
        loaded.model.register_forward_pre_hook(self.stall_guard, with_kwargs=True)

    def build_decoding(self) -> Decoding:
        loaded = self.loaded
        suppression = whisper_suppression(loaded.processor.tokenizer)
        decoding = self.generate_decoding(whisper=True, suppression=suppression, prompt=loaded.family.prompt)
        if decoding.settings["language"] != "en":  # an English-only Whisper is given no language or task token
            decoding.settings["prompt"] = "none"
        # Whisper falls back to the model config's forced_decoder_ids (prompt tokens): clear them.
        if getattr(loaded.model.config, "forced_decoder_ids", None) is not None:
            loaded.model.config.forced_decoder_ids = None
        # Past 30 s, Whisper's generate() needs timestamp tokens to place its windows (they are not in the text).
        assert decoding.generation_config is not None
        self._long_form_config = copy.deepcopy(decoding.generation_config)
        self._long_form_config.return_timestamps = True
        return decoding

    @property
    def max_audio_s(self) -> float | None:
        return None  # long-form generation hears all of an utterance

    @property
    def window_samples(self) -> int:
        return int(self.loaded.processor.feature_extractor.n_samples)

    def long_form(self, waveform: np.ndarray) -> bool:
        return len(waveform) > self.window_samples

    def generation_config(self, long_form: bool = False) -> GenerationConfig | None:
        return self._long_form_config if long_form else self.decoding.generation_config

    def features(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        """Whisper's feature extractor pads or cuts to 30 s; a longer utterance is featurized whole, which makes
        `generate` run sequential long-form decoding (timestamp tokens only place the windows)."""
        loaded = self.loaded
        if any(self.long_form(w) for w in waveforms):
            options: dict[str, Any] = {"truncation": False, "padding": "longest", "return_attention_mask": True}
            return loaded.processor(list(waveforms), sampling_rate=loaded.sampling_rate, return_tensors="pt", **options)
        return loaded.processor(list(waveforms), sampling_rate=loaded.sampling_rate, return_tensors="pt")

    def inputs(self, waveforms: Sequence[np.ndarray]) -> Inputs:
        long_form = [self.long_form(w) for w in waveforms]
        if any(long_form) and not all(long_form):
            raise ValueError("a batch mixes utterances over and under 30 s; the throughput track keeps them apart")
        tensors = self.to_device(self.features(waveforms))
        seconds = math.ceil(max(len(w) for w in waveforms) / self.loaded.sampling_rate)
        return Inputs(tensors=tensors, rows=(1,) * len(waveforms), long_form=long_form[0], extra={"seconds": seconds})

    def run(self, inputs: Inputs, config: GenerationConfig | None) -> list[str]:
        if not inputs.long_form:
            return super().run(inputs, config)
        assert config is not None and config.max_new_tokens is not None
        seconds = inputs.extra["seconds"]
        what = f"a {seconds} s utterance" if len(inputs.rows) == 1 else f"a batch with a {seconds} s utterance"
        self.stall_guard.arm(seconds * (config.max_new_tokens + 2), what)
        try:
            return super().run(inputs, config)
        finally:
            self.stall_guard.disarm()


class Canary(EncoderDecoder):
    """Canary: `apply_transcription_request(audio=..., source_language="en")` (its chat template's English
    transcription prompt, given as the decoder's first tokens), `generate`, then `decode(ids,
    skip_special_tokens=True)`, which drops the prompt, each text stripped."""

    name = "canary"

    prompt_key = "decoder_input_ids"

    def features(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        return self.loaded.processor.apply_transcription_request(audio=list(waveforms), source_language="en")

    def texts(self, ids: torch.Tensor) -> list[str]:
        return [text.strip() for text in self.loaded.processor.decode(ids, skip_special_tokens=True)]


class CohereAsr(EncoderDecoder):
    """Cohere ASR: `processor(audio=..., language="en", sampling_rate=16000)` builds the English prompt as the
    decoder's first tokens and cuts an utterance over 30 s into chunks on the batch axis (at its quietest point);
    `generate`; `decode(ids, skip_special_tokens=True, audio_chunk_index=..., language="en")` joins the chunks."""

    name = "cohere-asr"

    prompt_key = "decoder_input_ids"

    @property
    def max_audio_s(self) -> float | None:
        return None  # longer utterances are chunked by the processor and joined again by its decode

    def features(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        audio = list(waveforms) if len(waveforms) > 1 else waveforms[0]
        return self.loaded.processor(
            audio=audio, return_tensors="pt", language="en", sampling_rate=self.loaded.sampling_rate
        )

    def inputs(self, waveforms: Sequence[np.ndarray]) -> Inputs:
        features = self.features(waveforms)
        chunk_index = features.get("audio_chunk_index")
        rows = [0] * len(waveforms)
        for sample, _chunk in chunk_index or [(i, None) for i in range(len(waveforms))]:
            rows[sample] += 1
        return Inputs(tensors=self.to_device(features), rows=tuple(rows), extra={"audio_chunk_index": chunk_index})

    def run(self, inputs: Inputs, config: GenerationConfig | None) -> list[str]:
        ids = generated_ids(self.loaded.model.generate(**inputs.tensors, generation_config=config))
        chunk_index = inputs.extra["audio_chunk_index"]
        return list(
            self.loaded.processor.decode(ids, skip_special_tokens=True, audio_chunk_index=chunk_index, language="en")
        )


class Kyutai(EncoderDecoder):
    """Kyutai STT: `processor(audio=...)` at 24 kHz, `generate`, `batch_decode(ids, skip_special_tokens=True)`.

    The model emits one token per 12.5 Hz audio frame until the audio ends, so its length is its input's (no
    token budget, as for a transducer). Its audio codec encodes the stream frame by frame, keeping its state from
    one frame to the next (`audio_window_size=1` and the codec's `use_cache`, the streaming encoding Kyutai's
    conversion writes into every checkpoint's generation config): fixed settings of the architecture here,
    never read from the model's files. A padded batch is
    decoded for the longest row's frames with the padding unmasked (the documented behaviour), so the family is
    not batched on the throughput track.
    """

    name = "kyutai"
    AUDIO_WINDOW_SIZE = 1

    def build_decoding(self) -> Decoding:
        settings = {
            "max_new_tokens": "one token per 12.5 Hz audio frame (the family's own rule), not a token budget",
            "audio_window_size": f"{self.AUDIO_WINDOW_SIZE} (streaming encoding, frame by frame, codec state kept)",
        }
        decoding = self.generate_decoding(max_new_tokens=None, settings=settings)
        assert decoding.generation_config is not None
        decoding.generation_config.audio_window_size = self.AUDIO_WINDOW_SIZE
        self.loaded.model.codec_model.generation_config.use_cache = True
        return decoding

    @property
    def max_audio_s(self) -> float | None:
        return None  # attention over a sliding window: any length is taken whole

    def features(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        audio = list(waveforms) if len(waveforms) > 1 else waveforms[0]
        return self.loaded.processor(audio=audio)

    def to_device(self, features: Mapping[str, Any]) -> dict[str, torch.Tensor]:
        """As documented: to the device, the audio left in float32 for the codec the family keeps in float32."""
        device = self.loaded.device
        return {name: value.to(device) for name, value in features.items() if isinstance(value, torch.Tensor)}
