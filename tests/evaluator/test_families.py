"""Every family recipe (R6) equals its family's documented usage, on a tiny random model of that family.

Each family's model is built offline (`tests/fixtures/families/`), with weights large enough that two clips
give different text. Two real LJ Speech clips go through `python -m evaluator evaluate` (its `main`, in this
process); the stored raw predictions must equal what the family's documented snippet gives on the same model,
the same waveform and the same token budget. A 40 s utterance is one utterance to the batch hook (R2), and the
throughput track's batches give batch one's text wherever padding leaves the output unchanged (R14).
"""

from __future__ import annotations

import csv
import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch

from evaluator.audio import decode_audio
from evaluator.cli import main as evaluator_main
from evaluator.ladder import BatchTranscriber
from evaluator.models import DecodingStalled, ModelLoadError, Transcriber, resolve_model
from evaluator.recipes.base import generated_ids
from evaluator.spec import EvalSpec
from openasr_core.families import FAMILIES, Kind, family_for
from testkit.audio import write_config
from tests.conftest import REPO_ROOT
from tests.fixtures.families import family_modules

MODULES = family_modules()
SAMPLE = REPO_ROOT / "data" / "ljspeech-sample"
CLIPS = ("LJ001-0002", "LJ001-0004")
BUDGET = 24
#: Families whose padded batches change a row's text, as their real checkpoints do: the padding reaches wav2vec2's
#: GroupNorm (wav2vec2-base has no attention mask), data2vec-audio's stacked positional convolutions, the
#: conformer convolutions of wav2vec2-BERT, Moonshine's first GroupNorm and Granite Speech's encoder (no mask
#: reaches them). Their throughput records show the WER change beside batch one's.
PADDING_CHANGES_OUTPUT = {"wav2vec2", "data2vec-audio", "wav2vec2-bert", "moonshine", "granite_speech"}
#: Families whose processing needs a package this machine cannot install (refused, see the test below).
NEEDS_TORCHAUDIO = {"granite_speech"}
#: The token budget of the loaded model the tests that only read one share (`transcribers`).
SHARED_BUDGET = 4

#: One xdist worker runs this module: each family's model is then built, and loaded for the readers, once.
pytestmark = pytest.mark.xdist_group("families")


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each family's tiny model, built once for this module (lazily: a dict filled on first use)."""
    return _Built(tmp_path_factory.mktemp("families"))


class _Built(dict):
    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root

    def __missing__(self, name: str) -> Path:
        folder = MODULES[name].build(self.root / name.replace("-", "_"))
        self[name] = folder
        return folder


class _Transcribers(dict):
    """Each family's `Transcriber` at `SHARED_BUDGET` tokens, loaded on first use and kept for the module."""

    def __init__(self, models: dict[str, Path]) -> None:
        super().__init__()
        self.models = models

    def __missing__(self, name: str) -> Transcriber:
        transcriber = Transcriber(resolve_model(str(self.models[name])), device="cpu", max_new_tokens=SHARED_BUDGET)
        self[name] = transcriber
        return transcriber

    def fresh(self, name: str) -> Transcriber:
        """The shared transcriber of `name`, its batch probe's counts zeroed for the test that reads them."""
        transcriber = self[name]
        transcriber.probe.reset()
        return transcriber


@pytest.fixture(scope="module")
def transcribers(models: dict[str, Path]) -> _Transcribers:
    """Loaded models for the tests that only read one (no hooks added, no rules removed, nothing patched): a
    load of a tiny model costs about as much as the test itself."""
    return _Transcribers(models)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two real LJ Speech clips (22.05 kHz FLAC) as an AudioFolder eval set."""
    folder = tmp_path_factory.mktemp("clips")
    with open(SAMPLE / "metadata.csv", newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["file_name"].removesuffix(".flac") in CLIPS]
    for row in rows:
        shutil.copy(SAMPLE / row["file_name"], folder / row["file_name"])
    with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["file_name", "text"])
        writer.writeheader()
        writer.writerows(rows)
    return folder


def _runnable(name: str) -> None:
    if name in NEEDS_TORCHAUDIO:
        pytest.skip(f"{name} needs torchaudio, which has no build for this torch (its refusal is tested below)")


def test_every_supported_family_has_a_tiny_model_here() -> None:
    assert set(MODULES) == {f.model_type for f in FAMILIES}
    for name, module in MODULES.items():
        assert family_for(module.ARCHITECTURE).model_type == name


@pytest.mark.parametrize("name", sorted(MODULES))
def test_the_recipe_equals_the_documented_usage(name: str, models, transcribers, clips: Path, tmp_path: Path) -> None:
    _runnable(name)
    module: ModuleType = MODULES[name]
    folder = models[name]
    config = write_config(tmp_path, {"clips": clips}, warmup=0, max_new_tokens=BUDGET, timeout_s=float("inf"))
    out = tmp_path / "out"
    args = ["evaluate", "--config", str(config.path), "--model", str(folder), "--device", "cpu", "--out", str(out)]
    assert evaluator_main(args) == 0
    result = json.loads((out / "result.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (out / "predictions" / "clips.jsonl").read_text().splitlines()]
    rate = transcribers[name].sampling_rate
    for row in rows:
        waveform = decode_audio(clips / f"{row['id']}.flac", rate)
        assert row["prediction"] == module.documented_transcribe(folder, waveform, max_new_tokens=BUDGET), row["id"]
    predictions = [row["prediction"] for row in rows]
    assert all(p.strip() for p in predictions) and len(set(predictions)) == len(predictions), predictions
    family = family_for(module.ARCHITECTURE)
    assert result["recipe"]["name"] == family.recipe and result["recipe"]["family"] == name
    assert result["decoding"]["kind"] == family.kind.value
    assert result["batch_evidence"]["max_batch_size"] == 1


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_40_s_utterance_is_one_utterance_to_the_batch_hook(name: str, transcribers) -> None:
    _runnable(name)
    transcriber = transcribers.fresh(name)
    waveform = _speechlike(40.0, transcriber.sampling_rate)
    if transcriber.max_audio_s is not None and transcriber.max_audio_s < 40.0:
        pytest.skip(f"{name} takes at most {transcriber.max_audio_s:g} s; longer utterances refuse the set")
    try:
        assert isinstance(transcriber.transcribe(waveform), str)
    except DecodingStalled:  # the random tiny Whisper's long-form windows end on repeated timestamps
        assert name == "whisper"
    assert transcriber.probe.max_batch_size == 1 and transcriber.probe.forward_calls >= 1


@pytest.mark.parametrize("name", sorted(n for n in MODULES if family_for(MODULES[n].ARCHITECTURE).batching))
def test_throughput_batches_give_batch_one_text(name: str, models) -> None:
    _runnable(name)
    transcriber = Transcriber(resolve_model(str(models[name])), device="cpu", max_new_tokens=8)
    waveforms = [_speechlike(seconds, transcriber.sampling_rate, seed) for seed, seconds in enumerate((3.1, 1.3, 2.2))]
    one = [transcriber.transcribe(w) for w in waveforms]
    batched = BatchTranscriber(transcriber)
    texts = batched(waveforms)
    assert batched.probe.sizes and max(batched.probe.sizes) == 3
    if name not in PADDING_CHANGES_OUTPUT:
        assert texts == one


def test_a_family_that_cannot_batch_stays_at_batch_one_and_says_so(models, clips: Path, tmp_path: Path) -> None:
    from evaluator.throughput_eval import evaluate_throughput

    unbatched = [f for f in FAMILIES if not f.batching]
    assert [f.model_type for f in unbatched] == ["kyutai_speech_to_text"]
    config = write_config(tmp_path, {"clips": clips}, warmup=0, max_new_tokens=BUDGET, timeout_s=float("inf"))
    folder = models["kyutai_speech_to_text"]
    record = evaluate_throughput(config, EvalSpec(str(folder), request_id="kyutai", device="cpu")).result
    assert record.chosen_batch_size == 1 and [step.batch_size for step in record.ladder] == [1]
    assert record.batching and record.batching.startswith("not batched: kyutai_speech_to_text")
    assert record.batch_evidence.max_batch_size == 1 and record.recipe.name == "kyutai"


def _speechlike(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Real speech repeated to `seconds`: the sample clips joined end to end (a copy: the caller may change it)."""
    return _joined_clips(seconds, rate, seed).copy()


@functools.cache
def _joined_clips(seconds: float, rate: int, seed: int) -> np.ndarray:
    """`_speechlike`'s waveform, decoded once per worker (a 40 s one decodes and resamples several clips)."""
    pieces, total = [], 0
    names = sorted(SAMPLE.glob("*.flac"))
    for index in range(len(names) * 20):
        clip = decode_audio(names[(index + seed) % len(names)], rate)
        pieces.append(clip)
        total += len(clip)
        if total >= seconds * rate:
            break
    return np.concatenate(pieces)[: int(seconds * rate)]


def test_kinds_cover_every_family() -> None:
    assert {f.kind for f in FAMILIES} == set(Kind)


def test_granite_speech_is_refused_in_one_line_naming_torchaudio(models, clips: Path, tmp_path: Path, capsys) -> None:
    folder = models["granite_speech"]
    config = write_config(tmp_path, {"clips": clips}, warmup=0, max_new_tokens=BUDGET)
    args = ["evaluate", "--config", str(config.path), "--model", str(folder), "--device", "cpu", "--out", str(tmp_path)]
    capsys.readouterr()  # the model's build
    assert evaluator_main(args) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and error.startswith("error: ") and "Traceback" not in error
    assert "granite_speech (GraniteSpeechForConditionalGeneration) needs the Python package torchaudio" in error


def test_the_granite_speech_recipe_equals_its_model_card_with_a_stand_in_for_torchaudio(
    models, clips: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its feature extractor's one torchaudio call replaced by the same mel filterbank in torch (both sides), so
    every other step of the recipe is checked against the model card's snippet."""
    import openasr_core.families

    module = MODULES["granite_speech"]
    with module.torchaudio_stand_in():
        monkeypatch.setattr(openasr_core.families, "package_installed", lambda name: True)
        transcriber = Transcriber(resolve_model(str(models["granite_speech"])), device="cpu", max_new_tokens=BUDGET)
        for clip in CLIPS:
            waveform = decode_audio(clips / f"{clip}.flac", transcriber.sampling_rate)
            expected = module.documented_transcribe(models["granite_speech"], waveform, max_new_tokens=BUDGET)
            assert transcriber.transcribe(waveform) == expected and expected.strip()
        assert transcriber.probe.max_batch_size == 1
        assert transcriber.recipe_record.name == "granite-speech"


@pytest.mark.parametrize(
    ("name", "kept"), [("voxtral", ["embed_positions"]), ("kyutai_speech_to_text", ["codec_model"])]
)
def test_modules_a_family_keeps_in_float32_are_allowed_and_recorded(name: str, kept: list[str], models) -> None:
    transcriber = Transcriber(resolve_model(str(models[name])), precision="bfloat16", device="cpu", max_new_tokens=4)
    assert transcriber.recipe_record.fp32_modules == kept
    assert isinstance(transcriber.transcribe(_speechlike(2.0, transcriber.sampling_rate)), str)
    other = {str(p.dtype) for n, p in transcriber.model.named_parameters() if not any(k in n for k in kept)}
    assert other == {"torch.bfloat16"}
    plain = Transcriber(resolve_model(str(models[name])), device="cpu", max_new_tokens=4)
    assert plain.recipe_record.fp32_modules == []  # nothing is an exception at float32


@pytest.mark.parametrize("name", ["voxtral", "qwen3_asr", "omniasr", "kyutai_speech_to_text"])
def test_a_decoder_only_model_is_hooked_once(name: str, models) -> None:
    """Its `get_encoder()` is the model itself: one hook, so one count per decoding step."""
    transcriber = Transcriber(resolve_model(str(models[name])), device="cpu", max_new_tokens=5)
    waveform = _speechlike(2.0, transcriber.sampling_rate)
    transcriber.transcribe(waveform)
    steps = transcriber.probe.forward_calls
    assert transcriber.recipe.hooked_modules() == [transcriber.model]
    if name != "kyutai_speech_to_text":  # its length is the audio's, not the budget
        assert steps == 5  # the fixtures never emit their end token: the whole budget, one call per step


def test_a_list_of_end_tokens_is_kept(transcribers) -> None:
    """Qwen3-ASR stops on either of two ids; dropping the list would make it always run to the budget."""
    transcriber = transcribers["qwen3_asr"]
    config = transcriber.generation_config()
    assert isinstance(config.eos_token_id, list) and len(config.eos_token_id) == 2


@pytest.mark.parametrize("name", sorted(n for n, f in ((f.model_type, f) for f in FAMILIES) if f.prompt != "none"))
def test_a_prompted_family_records_its_fixed_request(name: str, transcribers) -> None:
    _runnable(name)
    transcriber = transcribers[name]
    settings = transcriber.decoding.settings
    assert settings["prompt"] == family_for(MODULES[name].ARCHITECTURE).prompt == transcriber.recipe_record.prompt
    if name != "whisper":  # Whisper's request is its forced language and task tokens
        assert settings["prompt_tokens"] and all(isinstance(t, int) for t in settings["prompt_tokens"])
    assert settings["language"] == "en"


def test_the_hook_counts_utterances_not_a_familys_chunks() -> None:
    from evaluator.models import utterances_in_call

    def call(*sizes: int) -> tuple[torch.Tensor, ...]:
        return tuple(torch.zeros(size, 4) for size in sizes)

    assert utterances_in_call(call(2, 1), {}, (2,)) == 1  # a 40 s Voxtral utterance: 2 chunks, 1 prompt
    assert utterances_in_call(call(3), {"decoder_input_ids": torch.zeros(3, 2)}, (1, 2)) == 2
    assert utterances_in_call(call(5), {}, (1, 2)) == 5  # rows the chunks do not explain count as they are
    assert utterances_in_call((torch.zeros(7),), {}, ()) == 0  # 1-D inputs are not batched


def test_a_batch_with_a_chunked_utterance_counts_two_utterances(models) -> None:
    transcriber = Transcriber(resolve_model(str(models["cohere_asr"])), device="cpu", max_new_tokens=4)
    rate = transcriber.sampling_rate
    long, short = _speechlike(40.0, rate), _speechlike(2.0, rate, seed=1)
    one = [transcriber.transcribe(w) for w in (long, short)]
    assert transcriber.probe.max_batch_size == 1
    batched = BatchTranscriber(transcriber)
    assert batched([long, short]) == one and max(batched.probe.sizes) == 2


#: Families whose R7 decoding has a fixed-per-model logits rule: Whisper's suppression, a TDT's duration slots.
FIXED_MASKS = {"whisper": 2, "parakeet_tdt": 1}


@pytest.mark.parametrize("name", sorted(n for n in MODULES if family_for(MODULES[n].ARCHITECTURE).kind != Kind.CTC))
def test_fixed_masks_are_built_once_and_give_the_same_tokens(
    name: str, models, clips: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No decoding step rebuilds a mask that depends only on the model (transformers' suppression processors
    never run); the tokens are those of transformers' own processors, which run once the cached masks are
    removed. Families without such a rule replace nothing (their processor lists hold no rule of the model)."""
    _runnable(name)
    from transformers.generation import logits_process

    transcriber = Transcriber(resolve_model(str(models[name])), device="cpu", max_new_tokens=BUDGET)
    rules = transcriber.recipe.cached_rules
    assert rules is not None
    steps = {"transformers": 0}
    for cls in (logits_process.SuppressTokensLogitsProcessor, logits_process.SuppressTokensAtBeginLogitsProcessor):
        monkeypatch.setattr(cls, "__call__", _counted(cls.__call__, steps))
    outputs: list[object] = []
    generate = transcriber.model.generate
    monkeypatch.setattr(transcriber.model, "generate", lambda *a, **k: outputs.append(generate(*a, **k)) or outputs[-1])
    waveform = decode_audio(clips / f"{CLIPS[0]}.flac", transcriber.sampling_rate)
    cached = transcriber.transcribe(waveform)
    assert steps["transformers"] == 0 and rules.replaced == FIXED_MASKS.get(name, 0)
    if name not in FIXED_MASKS:
        return  # nothing was replaced: the decoding loop ran transformers' list as it was
    rules.remove()
    plain = transcriber.transcribe(waveform)
    assert steps["transformers"] > 0  # the comparison ran transformers' own processors
    first, second = (generated_ids(output) for output in outputs)
    assert cached == plain and torch.equal(first, second)


def _counted(call: Callable[..., torch.Tensor], steps: dict[str, int]) -> Callable[..., torch.Tensor]:
    """`call` (a processor's `__call__`), counting its steps in `steps`."""

    def counted(self: object, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        steps["transformers"] += 1
        return call(self, input_ids, scores)

    return counted


def test_a_whisper_labelled_as_another_family_is_refused_and_a_run_records_the_class_that_ran(
    models, tmp_path: Path
) -> None:
    """Issue 26, item 10: a Whisper checkpoint whose `architectures` says `Speech2TextForConditionalGeneration`
    was loaded as that class from Whisper's config (weights partly random, Whisper's processor) and published as
    family `speech_to_text`. It is refused, naming both fields; a model that runs records the class that ran."""
    from tests.fixtures.families import seq2seq_whisper

    folder = seq2seq_whisper.build_mislabelled(tmp_path / "mislabelled")
    with pytest.raises(ModelLoadError) as caught:
        Transcriber(resolve_model(str(folder)), device="cpu", max_new_tokens=4)
    message = str(caught.value)
    assert "Speech2TextForConditionalGeneration (family speech_to_text)" in message
    assert "model_type is 'whisper'" in message and "['WhisperForConditionalGeneration']" in message
    ran = Transcriber(resolve_model(str(models["whisper"])), device="cpu", max_new_tokens=4)
    assert ran.architecture == type(ran.model).__name__ == "WhisperForConditionalGeneration"
    assert ran.recipe_record.family == "whisper" and ran.recipe_record.name == "whisper"
