"""R7: the evaluator decodes with its own settings only; what a model's files ask for is ignored and reported.
And no utterance is cut: Whisper beyond 30 s runs long-form generation, CTC takes the whole input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from evaluator.decoding import whisper_suppression
from evaluator.evaluate import evaluate
from evaluator.models import DecodingStalled, Transcriber, resolve_model
from evaluator.spec import EvalSpec
from testkit.audio import make_audiofolder, write_config

TEXTS = ["hello world", "the quick brown fox", "jumps over the lazy dog"]


def _with_generation_settings(source: Path, folder: Path, **settings: Any) -> Path:
    shutil.copytree(source, folder)
    path = folder / "generation_config.json"
    data = json.loads(path.read_text())
    data.update(settings)
    path.write_text(json.dumps(data))
    return folder


def test_a_repetition_penalty_in_the_model_files_changes_no_prediction(tmp_path: Path, tiny_whisper: Path) -> None:
    tricked = _with_generation_settings(
        tiny_whisper, tmp_path / "tricked", repetition_penalty=3.0, no_repeat_ngram_size=1
    )
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", TEXTS)}, warmup=0)
    plain = evaluate(config, EvalSpec(str(tiny_whisper), request_id="plain", device="cpu"))
    gamed = evaluate(config, EvalSpec(str(tricked), request_id="gamed", device="cpu"))
    predictions = [r.prediction for r in plain.predictions["s"]]
    assert predictions == [r.prediction for r in gamed.predictions["s"]]
    assert all(predictions)  # real text, so equality means something
    assert gamed.result.decoding == plain.result.decoding
    assert "generation_config.json: repetition_penalty=3.0" in gamed.result.ignored_settings
    assert "generation_config.json: no_repeat_ngram_size=1" in gamed.result.ignored_settings
    assert not any("repetition_penalty" in s for s in plain.result.ignored_settings)


def test_the_decoding_config_is_the_same_for_every_model_of_a_kind(tmp_path: Path, tiny_whisper: Path) -> None:
    other = _with_generation_settings(tiny_whisper, tmp_path / "other", num_beams=5, do_sample=True, top_k=3)
    a = Transcriber(resolve_model(str(tiny_whisper)), device="cpu", max_new_tokens=8)
    b = Transcriber(resolve_model(str(other)), device="cpu", max_new_tokens=8)
    assert a.decoding.settings == b.decoding.settings
    assert a.decoding.settings["strategy"] == "greedy" and a.decoding.settings["language"] == "en"
    used = b.model.generation_config
    assert (used.num_beams, used.do_sample, used.repetition_penalty) == (1, False, None)
    assert used.suppress_tokens == list(whisper_suppression(b.processor.tokenizer).suppress)
    assert {"generation_config.json: num_beams=5", "generation_config.json: do_sample=true"} <= set(b.decoding.ignored)


@pytest.mark.parametrize(
    "settings",
    [
        {"num_return_sequences": 4, "num_beams": 2},  # transformers' own validation rejects this file
        {"forced_decoder_ids": [[1, 5], [2, 7]], "begin_suppress_tokens": "not a list"},
        {"lang_to_id": "garbage", "max_new_tokens": -3},
    ],
)
def test_no_generation_config_crashes_the_evaluator(tmp_path: Path, tiny_whisper: Path, settings: dict) -> None:
    folder = _with_generation_settings(tiny_whisper, tmp_path / "odd", **settings)
    transcriber = Transcriber(resolve_model(str(folder)), device="cpu", max_new_tokens=8)
    assert isinstance(transcriber.transcribe(np.zeros(8000, dtype=np.float32)), str)
    assert transcriber.decoding.ignored


def test_an_unreadable_generation_config_is_reported_not_raised(tmp_path: Path, tiny_whisper: Path) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_whisper, folder)
    (folder / "generation_config.json").write_text("{not json")
    transcriber = Transcriber(resolve_model(str(folder)), device="cpu", max_new_tokens=8)
    assert isinstance(transcriber.transcribe(np.zeros(8000, dtype=np.float32)), str)
    assert "generation_config.json: unreadable (JSONDecodeError)" in transcriber.decoding.ignored


def test_forced_prompt_tokens_in_config_json_are_cleared(tmp_path: Path, tiny_whisper: Path) -> None:
    folder = tmp_path / "prompted"
    shutil.copytree(tiny_whisper, folder)
    config = json.loads((folder / "config.json").read_text())
    config["forced_decoder_ids"] = [[1, 262], [2, 263]]  # German, translate
    (folder / "config.json").write_text(json.dumps(config))
    transcriber = Transcriber(resolve_model(str(folder)), device="cpu", max_new_tokens=8)
    assert getattr(transcriber.model.config, "forced_decoder_ids", None) is None
    assert any(s.startswith("config.json: forced_decoder_ids=") for s in transcriber.decoding.ignored)


# --- long utterances: nothing is cut ------------------------------------------------------------------------


def test_whisper_gets_all_of_a_40_s_utterance(tiny_whisper: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    transcriber = Transcriber(resolve_model(str(tiny_whisper)), device="cpu", max_new_tokens=4)
    seen: dict[str, Any] = {}

    def spy(**kwargs: Any) -> torch.Tensor:  # what generate() is given; the real long-form run is a slow test
        seen.update(kwargs)
        return torch.tensor([[kwargs["generation_config"].decoder_start_token_id]])

    monkeypatch.setattr(transcriber.model, "generate", spy)
    transcriber.transcribe(np.zeros(40 * 16000, dtype=np.float32))
    assert seen["input_features"].shape[-1] == 4000  # 100 frames a second: all 40 s, not the first 30
    assert int(seen["attention_mask"].sum()) == 4000
    assert seen["generation_config"].return_timestamps is True  # long-form places its windows by timestamps
    transcriber.transcribe(np.zeros(20 * 16000, dtype=np.float32))
    assert seen["input_features"].shape[-1] == 3000 and seen["generation_config"].return_timestamps is False
    assert transcriber.max_audio_s is None


def test_a_long_form_loop_that_makes_no_progress_fails_instead_of_hanging(tiny_whisper: Path) -> None:
    """The random tiny Whisper ends its windows on repeated timestamps, which stalls transformers' loop."""
    transcriber = Transcriber(resolve_model(str(tiny_whisper)), device="cpu", max_new_tokens=4)
    waveform = np.random.default_rng(0).standard_normal(40 * 16000).astype(np.float32) * 0.1
    with pytest.raises(DecodingStalled, match=r"a 40 s utterance: generation made 241 decoding steps"):
        transcriber.transcribe(waveform)
    assert isinstance(transcriber.transcribe(waveform[: 5 * 16000]), str)  # the budget is per utterance


def test_ctc_gets_all_of_a_40_s_utterance(tiny_ctc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    transcriber = Transcriber(resolve_model(str(tiny_ctc)), device="cpu")
    seen: list[int] = []
    transcriber.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["input_values"].shape[-1]), with_kwargs=True
    )
    transcriber.transcribe(np.zeros(40 * 16000, dtype=np.float32))
    assert seen == [40 * 16000] and transcriber.max_audio_s is None


def test_long_utterances_are_counted_in_the_result(tmp_path: Path, tiny_ctc: Path) -> None:
    folder = make_audiofolder(tmp_path / "s", ["short one", "a long one"], seconds=31.0)
    config = write_config(tmp_path, {"s": folder}, warmup=0)
    result = evaluate(config, EvalSpec(str(tiny_ctc), request_id="long", device="cpu")).result
    assert result.datasets["s"].long_utterances == 2 and result.datasets["s"].audio_s == pytest.approx(62.0)


def test_whisper_suppression_follows_openai_rule_not_the_model_config(tmp_path: Path, whisper_base: Path) -> None:
    """Derived from the tokenizer by one fixed rule, it gives exactly what whisper-base's own config lists, and
    a model whose config suppresses something else is decoded with the rule's ids, the difference reported."""
    from transformers import AutoTokenizer

    shipped = json.loads((whisper_base / "generation_config.json").read_text())
    derived = whisper_suppression(AutoTokenizer.from_pretrained(whisper_base))
    assert list(derived.suppress) == sorted(shipped["suppress_tokens"])
    assert list(derived.begin) == shipped["begin_suppress_tokens"]


def test_a_model_config_cannot_change_whisper_suppression(tmp_path: Path, tiny_whisper: Path) -> None:
    gamed = _with_generation_settings(tiny_whisper, tmp_path / "gamed", suppress_tokens=[5, 6, 7])
    transcriber = Transcriber(resolve_model(str(gamed)), device="cpu", max_new_tokens=8)
    rule = whisper_suppression(transcriber.processor.tokenizer)
    assert transcriber.model.generation_config.suppress_tokens == list(rule.suppress)
    assert "generation_config.json: suppress_tokens=[5, 6, 7]" in transcriber.decoding.ignored
