"""The decoding rules' fixed token masks, built once per model (`evaluator.logits`): the same scores as
transformers' processors, in the same place of the list, so the same tokens.

The per-family check (every family's tokens with and without the cached masks) is in test_families.py, on the
tiny models built there; the real whisper-base on the 32 shared clips is in test_real_model.py.
"""

from __future__ import annotations

import inspect

import pytest
import torch
from transformers import LogitsProcessor, LogitsProcessorList
from transformers.generation.logits_process import (
    SuppressTokensAtBeginLogitsProcessor,
    SuppressTokensLogitsProcessor,
    WhisperTimeStampLogitsProcessor,
)

from evaluator.audio import decode_audio
from evaluator.logits import (
    CachedBeginSuppression,
    CachedRules,
    CachedSuppression,
    ProcessorList,
    TokenMasks,
    cached_equivalent,
)
from evaluator.models import Transcriber, resolve_model
from evaluator.recipes.base import generated_ids
from tests.conftest import REPO_ROOT
from tests.fixtures.families import seq2seq_whisper

VOCAB = 97
#: Duplicates, the first and last ids, and ids outside the vocabulary (which mark nothing).
IDS = (0, 5, 5, 17, 96, -1, 97, 300)
CLIP = REPO_ROOT / "data" / "ljspeech-sample" / "LJ001-0002.flac"


def _scores(dtype: torch.dtype = torch.float32, rows: int = 3) -> torch.Tensor:
    scores = torch.randn(rows, VOCAB, generator=torch.Generator().manual_seed(7)).to(dtype)
    scores[0, 3] = -float("inf")  # already masked by an earlier rule
    return scores


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_the_cached_suppression_scores_exactly_as_transformers(dtype: torch.dtype) -> None:
    ids = torch.zeros(2, 4, dtype=torch.long)
    scores = _scores(dtype)
    expected = SuppressTokensLogitsProcessor(IDS)(ids, scores.clone())
    got = CachedSuppression(IDS, TokenMasks())(ids, scores.clone())
    assert got.dtype == expected.dtype and torch.equal(got, expected)
    assert torch.isinf(got[:, [0, 5, 17, 96]]).all() and torch.isfinite(got[1:, [1, 2, 95]]).all()


def test_the_cached_begin_suppression_acts_only_at_the_begin_index() -> None:
    reference = SuppressTokensAtBeginLogitsProcessor(IDS, begin_index=4)
    cached = cached_equivalent(reference, TokenMasks())
    assert isinstance(cached, CachedBeginSuppression)
    for begin in (4, 6):  # Whisper moves the index at each 30 s window
        reference.set_begin_index(begin)
        cached.set_begin_index(begin)
        for length in (begin - 1, begin, begin + 1):
            ids = torch.zeros(3, length, dtype=torch.long)
            assert torch.equal(cached(ids, _scores()), reference(ids, _scores())), (begin, length)
    assert not torch.equal(cached(torch.zeros(3, 6, dtype=torch.long), _scores()), _scores())


def test_a_mask_is_built_once_per_vocabulary_and_device(monkeypatch: pytest.MonkeyPatch) -> None:
    masks = TokenMasks()
    processor = CachedSuppression(IDS, masks)
    processor(torch.zeros(1, 1, dtype=torch.long), _scores())
    first = masks.masks[(IDS, VOCAB, torch.device("cpu"))]
    monkeypatch.setattr(torch, "isin", lambda *a, **k: pytest.fail("a step rebuilt the mask"))
    for _step in range(5):
        processor(torch.zeros(1, 1, dtype=torch.long), _scores())
    wider = torch.zeros(1, VOCAB + 10)
    assert torch.isinf(processor(torch.zeros(1, 1, dtype=torch.long), wider)[0, 97])  # a new size: a new mask
    assert len(masks.masks) == 2 and masks.masks[(IDS, VOCAB, torch.device("cpu"))] is first


class _NeedsStep(LogitsProcessor):
    """A processor with an argument beyond `input_ids` and `scores`."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor, step: int) -> torch.Tensor:
        return scores + step


def test_the_list_reads_each_signature_once_and_calls_as_transformers(monkeypatch: pytest.MonkeyPatch) -> None:
    processors = [SuppressTokensLogitsProcessor(IDS), _NeedsStep(), CachedSuppression((1, 2), TokenMasks())]
    ids = torch.zeros(3, 2, dtype=torch.long)
    expected = LogitsProcessorList(processors)(ids, _scores(), step=2)
    reads = []
    signature = inspect.signature
    monkeypatch.setattr(inspect, "signature", lambda f: reads.append(f) or signature(f))
    listed = ProcessorList(processors)
    for _step in range(3):
        assert torch.equal(listed(ids, _scores(), step=2), expected)
    assert len(reads) == len(processors)
    with pytest.raises(ValueError, match="required parameters"):
        ProcessorList([_NeedsStep()])(ids, _scores())


def test_only_transformers_own_suppression_classes_are_replaced() -> None:
    class Custom(SuppressTokensLogitsProcessor):
        pass

    masks = TokenMasks()
    custom = Custom(IDS)
    assert cached_equivalent(custom, masks) is custom
    assert isinstance(cached_equivalent(SuppressTokensLogitsProcessor(IDS), masks), CachedSuppression)


@pytest.fixture(scope="module")
def whisper(tmp_path_factory: pytest.TempPathFactory) -> Transcriber:
    folder = seq2seq_whisper.build(tmp_path_factory.mktemp("whisper") / "tiny-whisper")
    return Transcriber(resolve_model(str(folder)), device="cpu", max_new_tokens=12)


def test_whisper_long_form_keeps_suppression_ahead_of_the_timestamp_rule(whisper: Transcriber) -> None:
    """Past 30 s Whisper decodes with timestamps, and its timestamp rule compares log-probabilities of the
    suppressed scores: the cached masks must stand where transformers' processors stood, before it (a processor
    passed to `generate(logits_processor=...)` would come after it). The long-form config on a short clip runs
    the same processors; its tokens must not change."""
    rules = whisper.recipe.cached_rules
    assert rules is not None
    model = whisper.model
    lists: list[list[type]] = []

    def spy(*args: object, **kwargs: object) -> object:
        built = rules.processors(*args, **kwargs)
        lists.append([type(p) for p in built])
        return built

    inputs = whisper.recipe.inputs([decode_audio(CLIP, whisper.sampling_rate)])
    config = whisper.generation_config(long_form=True)

    def tokens() -> torch.Tensor:
        return generated_ids(model.generate(**inputs.tensors, generation_config=config))

    model.__dict__[CachedRules.ATTRIBUTE] = spy
    cached = tokens()
    rules.remove()
    try:
        plain = tokens()
    finally:
        model.__dict__[CachedRules.ATTRIBUTE] = rules.processors
    assert torch.equal(cached, plain)
    assert lists == [[CachedBeginSuppression, CachedSuppression, WhisperTimeStampLogitsProcessor]]


def test_a_second_recipe_on_one_model_reuses_the_wrapper(whisper: Transcriber) -> None:
    rules = whisper.recipe.cached_rules
    assert CachedRules.install(whisper.model) is rules
    assert CachedRules.install(torch.nn.Linear(2, 2)) is None  # no decoding loop: nothing to wrap


def test_the_masks_apply_exactly_the_recorded_suppression(whisper: Transcriber) -> None:
    """The decoding record lists the rule; the masks must hold exactly its ids (R7: same rule, not a new one)."""
    rules = whisper.recipe.cached_rules
    assert rules is not None
    before = rules.replaced
    whisper.transcribe(decode_audio(CLIP, whisper.sampling_rate))
    assert rules.replaced - before == 2  # both of transformers' suppression processors, in this one call
    config = whisper.generation_config()
    masked = {ids: set(mask.tolist()) for (ids, _size, _device), mask in rules.masks.masks.items()}
    assert masked == {
        tuple(config.suppress_tokens): set(config.suppress_tokens),
        tuple(config.begin_suppress_tokens): set(config.begin_suppress_tokens),
    }
    settings = whisper.decoding.settings["suppressed_tokens"]
    assert (
        f"({len(config.suppress_tokens)} ids," in settings and f"({len(config.begin_suppress_tokens)} ids)" in settings
    )
