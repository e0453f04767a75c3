"""Audio-language models: a decoder-only language model that reads audio embeddings and a fixed request.

The documented usage of each builds the family's English transcription request with its processor, calls
`generate`, and decodes only what follows the prompt (`outputs[:, input_ids.shape[1]:]`, special tokens
skipped). The request is the same for every eval set (R7), and its tokens are recorded in the result like
Whisper's forced start tokens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from evaluator.recipes.base import Inputs
from evaluator.recipes.encoder_decoder import EncoderDecoder


class AudioLanguageModel(EncoderDecoder):
    """Shared steps: the request from the processor, `generate`, the prompt sliced off, special tokens skipped.

    Subclasses implement `request` (their documented transcription request for a list of waveforms) and may set
    `chunk_s` (the family cuts a longer utterance into chunks of that length on the audio encoder's batch axis).
    """

    #: The longest utterance the family's documentation says it transcribes in one request (None: no such limit).
    documented_max_audio_s: ClassVar[float | None] = None
    #: A family that stacks fixed-length chunks of one utterance on the audio encoder's batch axis.
    chunk_s: ClassVar[float | None] = None

    prompt_key = "input_ids"

    def prompt_tokens(self, ids: torch.Tensor) -> list[int]:
        """The request's token ids for one second of audio, with runs of one repeated id (the audio placeholders,
        whose count depends on the utterance's length) kept once."""
        tokens = [int(i) for i in ids]
        return [token for index, token in enumerate(tokens) if index == 0 or token != tokens[index - 1]]

    def hooked_modules(self) -> list[torch.nn.Module]:
        # The model itself runs once per decoding step, its audio encoder inside the first step: hooked once.
        return [self.loaded.model]

    @property
    def max_audio_s(self) -> float | None:
        return self.documented_max_audio_s

    def request(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        raise NotImplementedError

    def features(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        return self.request(waveforms)

    def inputs(self, waveforms: Sequence[np.ndarray]) -> Inputs:
        tensors = self.to_device(self.request(waveforms))
        return Inputs(
            tensors=tensors,
            rows=tuple(self.chunks(len(w)) for w in waveforms),
            prompt_length=int(tensors["input_ids"].shape[1]),
        )

    def chunks(self, samples: int) -> int:
        """How many rows one utterance takes on the audio encoder's batch axis."""
        if self.chunk_s is None:
            return 1
        window = int(self.chunk_s * self.loaded.sampling_rate)
        return max(1, -(-samples // window))


class OmniAsr(AudioLanguageModel):
    """OmniASR (LLM): `apply_transcription_request(audio, language="eng_Latn")`, `generate`, `decode`.

    The documented call passes no `return_tensors`, with which transformers 5.25's processor returns the prompt
    as Python lists and `generate` fails; "pt" is the one addition. A batch pads its prompts (on the left).
    Nothing is chunked: an utterance is as long as the language model's positions allow, one audio placeholder
    per encoder frame (`FRAME_SAMPLES` samples) besides the request and the token budget.
    """

    name = "omniasr"
    FRAME_SAMPLES = 320

    @property
    def max_audio_s(self) -> float | None:
        text = self.loaded.model.config.get_text_config(decoder=True)
        positions = getattr(text, "max_position_embeddings", None)
        if not isinstance(positions, int):
            return None
        frames = positions - self.limits.max_new_tokens - len(self.decoding.settings.get("prompt_tokens", ()))
        return max(0.0, frames * self.FRAME_SAMPLES / self.loaded.sampling_rate)

    def request(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        options: dict[str, Any] = {"processor_kwargs": {"padding": True}} if len(waveforms) > 1 else {}
        audio = list(waveforms) if len(waveforms) > 1 else waveforms[0]
        return self.loaded.processor.apply_transcription_request(
            audio, language="eng_Latn", return_tensors="pt", **options
        )


class GraniteSpeech(AudioLanguageModel):
    """Granite Speech, as its model card documents it: the chat template with the card's system prompt and
    "<|audio|>can you transcribe the speech into a written format?", then the processor, `generate`, and the
    new tokens decoded. Its feature extractor needs torchaudio (`openasr_core.families` refuses it without)."""

    name = "granite-speech"
    SYSTEM_PROMPT = (
        "Knowledge Cutoff Date: April 2024.\nToday's Date: April 9, 2025.\n"
        "You are Granite, developed by IBM. You are a helpful AI assistant"
    )
    USER_PROMPT = "<|audio|>can you transcribe the speech into a written format?"

    def request(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        processor = self.loaded.processor
        chat = [{"role": "system", "content": self.SYSTEM_PROMPT}, {"role": "user", "content": self.USER_PROMPT}]
        prompt = processor.tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
        audio = [torch.from_numpy(np.asarray(w, dtype=np.float32)) for w in waveforms]
        if len(audio) == 1:
            return processor(prompt, audio[0][None], return_tensors="pt")
        return processor([prompt] * len(audio), audio, return_tensors="pt", padding=True)


class Voxtral(AudioLanguageModel):
    """Voxtral's transcription mode: `apply_transcription_request(language="en", audio=..., model_id=...)`.

    The request is built by mistral-common, which takes audio as a file: a waveform is passed with its sampling
    rate and the container format, FLAC, so it goes through the same 16-bit round trip a FLAC file would. The
    processor stacks 30 s chunks of a long utterance on the audio encoder's batch axis; the documentation gives
    30 minutes as the longest audio one request transcribes.
    """

    name = "voxtral"
    chunk_s = 30.0
    documented_max_audio_s = 1800.0

    def request(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        audio = [np.asarray(w, dtype=np.float32) for w in waveforms]
        return self.loaded.processor.apply_transcription_request(
            language="en",
            audio=audio if len(audio) > 1 else audio[0],
            model_id=self.loaded.folder.name,  # names the request only; it changes no token or feature
            sampling_rate=self.loaded.sampling_rate,
            format="flac",
        )


class Qwen3Asr(AudioLanguageModel):
    """Qwen3-ASR with the English language hint: `apply_transcription_request(audio=..., language="en")`, which
    pre-fills "language English<asr_text>", then `processor.decode(new ids, return_format="transcription_only")`
    (the family's own decode: special tokens skipped, the `<asr_text>` prefix split off, runs of repeats collapsed
    by its repetition fix, whitespace stripped)."""

    name = "qwen3-asr"

    def request(self, waveforms: Sequence[np.ndarray]) -> Mapping[str, Any]:
        audio = [np.asarray(w, dtype=np.float32) for w in waveforms]
        return self.loaded.processor.apply_transcription_request(
            audio=audio if len(audio) > 1 else audio[0], language="en"
        )

    def texts(self, ids: torch.Tensor) -> list[str]:
        return list(self.loaded.processor.decode(ids, return_format="transcription_only"))
