"""The real trained whisper-base on real LJ Speech clips: transcripts and WER must be right, and a 40 s
utterance must come back whole. No wall-clock limit here: a loaded machine must not fail a correct model
(the limit itself is tested with an injected clock in test_runner.py)."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from transformers.generation.logits_process import (
    SuppressTokensAtBeginLogitsProcessor,
    SuppressTokensLogitsProcessor,
)

from evaluator.evaluate import evaluate
from evaluator.metrics import english_normalizer
from evaluator.spec import EvalSpec
from openasr_core.config import LeaderboardConfig
from testkit.audio import write_config
from tests.conftest import REPO_ROOT

#: What the evaluator transcribed before the decoding rules' masks were cached (issue 27), from that commit.
BEFORE = json.loads((REPO_ROOT / "tests" / "fixtures" / "whisper_base_transcripts.json").read_text(encoding="utf-8"))


def _without_time_limit(config: LeaderboardConfig) -> LeaderboardConfig:
    return dataclasses.replace(config, rules=dataclasses.replace(config.rules, utterance_timeout_s=float("inf")))


@pytest.fixture
def no_per_step_masks(monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers' suppression processors (a mask rebuilt at every step) must never run: the cached masks of
    `evaluator.logits` stand in their place."""
    for cls in (SuppressTokensLogitsProcessor, SuppressTokensAtBeginLogitsProcessor):
        monkeypatch.setattr(cls, "__call__", lambda *a, **k: pytest.fail("a decoding step rebuilt a fixed mask"))


@pytest.mark.slow
def test_whisper_base_on_ljspeech_32(
    tmp_path: Path, whisper_base: Path, ljspeech_32: Path, no_per_step_masks: None
) -> None:
    config = write_config(tmp_path, {"ljspeech-32": ljspeech_32}, warmup=1, bootstrap_samples=1000, max_new_tokens=440)
    evaluation = evaluate(_without_time_limit(config), EvalSpec(str(whisper_base), request_id="real", device="cpu"))
    score = evaluation.result.datasets["ljspeech-32"]
    assert score.utterances == 32
    assert score.wer < 0.12, f"WER {score.wer:.3f} is too high for whisper-base (about 0.063 expected)"
    assert score.wer_ci95[0] <= score.wer <= score.wer_ci95[1]
    assert score.audio_s == pytest.approx(221.75, abs=0.1)
    rows = {row.id: row for row in evaluation.predictions["ljspeech-32"]}
    normalize = english_normalizer()
    assert normalize(rows["LJ001-0002"].prediction) == normalize("in being comparatively modern.")
    assert {row.id: row.prediction for row in rows.values()} == BEFORE["ljspeech-32"]  # every token as before
    assert evaluation.result.batch_evidence.max_batch_size == 1
    assert evaluation.result.decoding["strategy"] == "greedy"
    # Whisper's standard suppression is applied by rule, so the model's identical lists are not "ignored".
    assert not any("suppress_tokens" in s for s in evaluation.result.ignored_settings)


@pytest.mark.slow
def test_a_40_s_utterance_comes_back_with_its_last_words(
    tmp_path: Path, whisper_base: Path, ljspeech_32: Path, no_per_step_masks: None
) -> None:
    """Six LJ Speech clips joined into one utterance of about 40 s: the last clip's words must be transcribed."""
    with open(ljspeech_32 / "metadata.csv", newline="", encoding="utf-8") as handle:
        records = list(csv.DictReader(handle))
    pieces, texts, rate = [], [], 22050
    for record in records:
        audio, rate = sf.read(ljspeech_32 / record["file_name"], dtype="float32")
        pieces += [audio, np.zeros(rate // 2, dtype=np.float32)]
        texts.append(record["text"])
        if sum(len(p) for p in pieces) / rate >= 38.0:
            break
    folder = tmp_path / "long"
    folder.mkdir()
    sf.write(folder / "long.flac", np.concatenate(pieces), rate)
    (folder / "metadata.csv").write_text(f'file_name,text\nlong.flac,"{" ".join(texts)}"\n', encoding="utf-8")
    config = write_config(tmp_path, {"long": folder}, warmup=0, max_new_tokens=440)
    evaluation = evaluate(_without_time_limit(config), EvalSpec(str(whisper_base), request_id="long", device="cpu"))
    (row,) = evaluation.predictions["long"]
    assert row.duration_s > 38.0 and evaluation.result.datasets["long"].long_utterances == 1
    normalize = english_normalizer()
    last_words = normalize(texts[-1]).split()[-4:]
    assert " ".join(last_words) in normalize(row.prediction), (last_words, row.prediction)
    assert row.prediction == BEFORE["long-40s"]  # long-form: suppression still runs before the timestamp rule
    assert evaluation.result.datasets["long"].wer < 0.2
