"""CTC families: one forward pass over the whole utterance, argmax per frame, the tokenizer's collapse.

Two documented usages exist. The wav2vec2 family (wav2vec2, HuBERT, data2vec-audio, wav2vec2-BERT, WavLM, ...)
documents `model(**inputs).logits.argmax(-1)` then `processor.batch_decode(ids)`. Newer CTC families (Parakeet
CTC, LASR, OmniASR CTC) document `model.generate(**inputs)`, their own greedy CTC step that also masks padded
frames, then `processor.batch_decode(ids, skip_special_tokens=True)`; without skipping, their blank `<s>` and
`</s>` would stay in the stored raw text.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from transformers import GenerationConfig

from evaluator.decoding import Decoding, ctc_decoding
from evaluator.recipes.base import Inputs, Recipe


class CTC(Recipe):
    """wav2vec2-style CTC: logits argmax, padded frames cut by the model's own output lengths when batched."""

    name = "ctc"

    def build_decoding(self) -> Decoding:
        return ctc_decoding(self.loaded.folder, text="processor.batch_decode(argmax ids)")

    def inputs(self, waveforms: Sequence[np.ndarray]) -> Inputs:
        inputs = super().inputs(waveforms)
        return Inputs(tensors=inputs.tensors, rows=inputs.rows, extra={"samples": [len(w) for w in waveforms]})

    def run(self, inputs: Inputs, config: GenerationConfig | None) -> list[str]:
        loaded = self.loaded
        best = loaded.model(**inputs.tensors).logits.argmax(dim=-1)
        if best.shape[0] == 1:
            return list(loaded.processor.batch_decode(best))
        # The model's own rule for its output frames, over each input's unpadded length: the attention mask's (in
        # samples, or feature frames for wav2vec2-BERT), else the waveform's (an extractor without a mask).
        mask = inputs.tensors.get("attention_mask")
        lengths = mask.sum(-1).cpu() if mask is not None else torch.tensor(inputs.extra["samples"])
        frames = loaded.model._get_feat_extract_output_lengths(lengths)
        return [loaded.processor.decode(best[i, : int(n)]) for i, n in enumerate(frames)]


class CTCGenerate(Recipe):
    """A CTC family with its own `generate` (greedy argmax, padded frames masked), special tokens skipped."""

    name = "ctc-generate"

    def build_decoding(self) -> Decoding:
        return ctc_decoding(self.loaded.folder, text="processor.batch_decode(generate ids, skip_special_tokens=True)")

    def run(self, inputs: Inputs, config: GenerationConfig | None) -> list[str]:
        ids = self.loaded.model.generate(**inputs.tensors)
        return list(self.loaded.processor.batch_decode(ids, skip_special_tokens=True))
