"""Transducers (Parakeet TDT and RNN-T): `generate` walks the encoder frames, greedy, until they are used up.

The documented usage is `processor(audio, sampling_rate=...)`, `model.generate(**inputs,
return_dict_in_generate=True)` and `processor.decode(output.sequences, skip_special_tokens=True)`. Two
differences from an encoder-decoder follow from how a transducer decodes:

- its length is its input's: every step either emits a token or advances the frame pointer (a blank), so a token
  budget counts blank steps and would cut the transcript (441 of 650 steps of a 5 s RNN-T clip). No
  `max_new_tokens` is set: transformers sizes the output from the encoder length, as the documentation does.
- a TDT joint network's output row holds the token logits then one logit per duration; the duration slots are
  not tokens, and the architecture suppresses them from the token argmax (transformers' converter writes them
  as the model's `suppress_tokens`). They are derived here from `config.json`, never read from a tunable file.

A batch has no end-of-text to stop a row whose frames are used up: it keeps decoding on padded frames. Each row
is cut at the step where its frames ran out, the step batch one stops at.
"""

from __future__ import annotations

from transformers import GenerationConfig

from evaluator.decoding import Decoding
from evaluator.recipes.base import Inputs
from evaluator.recipes.encoder_decoder import EncoderDecoder


class Transducer(EncoderDecoder):
    name = "transducer"

    def build_decoding(self) -> Decoding:
        config = self.loaded.model.config
        durations = list(getattr(config, "durations", None) or [])
        settings: dict[str, object] = {
            "strategy": "greedy (one step per emitted token or blank, until the encoder frames are used up)",
            "max_new_tokens": "set by the encoder's length (max_symbols_per_step x frames), not a token budget",
        }
        slots: list[int] = []
        if durations:
            slots = list(range(config.vocab_size, config.vocab_size + len(durations)))
            settings["duration_slots"] = (
                f"the TDT joint's {len(durations)} duration logits (ids {slots[0]}-{slots[-1]}) are not tokens: "
                "left out of the token argmax, as the architecture requires"
            )
            settings["logits_processors"] = "none beyond leaving the duration slots out of the token argmax"
        decoding = self.generate_decoding(max_new_tokens=None, settings=settings)
        if slots:
            assert decoding.generation_config is not None
            decoding.generation_config.suppress_tokens = slots
        return decoding

    @property
    def max_audio_s(self) -> float | None:
        return None  # no window: the whole utterance is encoded and walked

    def run(self, inputs: Inputs, config: GenerationConfig | None) -> list[str]:
        model = self.loaded.model
        output = model.generate(**inputs.tensors, generation_config=config, return_dict_in_generate=True)
        sequences = output.sequences
        if sequences.shape[0] == 1:
            return self.texts(sequences)
        mask = inputs.tensors["attention_mask"]
        frames = model.encoder._get_subsampling_output_length(mask.sum(-1))
        done = output.durations.cumsum(-1) >= frames[:, None]
        ends = [int(row.nonzero()[0]) + 1 if row.any() else sequences.shape[1] for row in done]
        return [self.texts(sequences[i : i + 1, :end])[0] for i, end in enumerate(ends)]
