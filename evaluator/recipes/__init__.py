"""Family recipes (R6): how each kind of model turns a waveform into text, equal to its documented usage.

`openasr_core.families` names each supported architecture's recipe; `recipe_class` finds the class. A recipe is one
small class; see `evaluator.recipes.base.Recipe` for its steps.
"""

from __future__ import annotations

from evaluator.recipes.audio_lm import GraniteSpeech, OmniAsr, Qwen3Asr, Voxtral
from evaluator.recipes.base import Recipe
from evaluator.recipes.ctc import CTC, CTCGenerate
from evaluator.recipes.encoder_decoder import Canary, CohereAsr, EncoderDecoder, Kyutai, Whisper
from evaluator.recipes.transducer import Transducer
from openasr_core.families import Family

RECIPES: dict[str, type[Recipe]] = {
    recipe.name: recipe
    for recipe in (
        CTC,
        CTCGenerate,
        Transducer,
        EncoderDecoder,
        Whisper,
        Canary,
        CohereAsr,
        Kyutai,
        Voxtral,
        Qwen3Asr,
        OmniAsr,
        GraniteSpeech,
    )
}


def recipe_class(family: Family) -> type[Recipe]:
    """The recipe that runs `family` (every family in `openasr_core.families.FAMILIES` has one: a test checks it)."""
    return RECIPES[family.recipe]
