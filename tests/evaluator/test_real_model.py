"""The real trained whisper-base on real LJ Speech clips: transcripts and WER must be right, and a 40 s
utterance must come back whole. Both tests read one shared evaluation (`whisper_base_run`, tests/conftest.py),
with no wall-clock limit and with transformers' per-step suppression masks forbidden (the cached ones stand in)."""

from __future__ import annotations

import json

import pytest

from evaluator.metrics import english_normalizer
from tests.conftest import REPO_ROOT
from tests.fixtures.whisper_base_run import CLIPS_SET, LONG_S, LONG_SET, WhisperBaseRun

#: What the evaluator transcribed before the decoding rules' masks were cached (issue 27), from that commit.
BEFORE = json.loads((REPO_ROOT / "tests" / "fixtures" / "whisper_base_transcripts.json").read_text(encoding="utf-8"))


@pytest.mark.slow
def test_whisper_base_on_ljspeech_32(whisper_base_run: WhisperBaseRun) -> None:
    evaluation = whisper_base_run.evaluation
    score = evaluation.result.datasets[CLIPS_SET]
    assert score.utterances == 32
    assert score.wer < 0.12, f"WER {score.wer:.3f} is too high for whisper-base (about 0.063 expected)"
    assert score.wer_ci95[0] <= score.wer <= score.wer_ci95[1]
    assert score.audio_s == pytest.approx(221.75, abs=0.1)
    rows = {row.id: row for row in evaluation.predictions[CLIPS_SET]}
    normalize = english_normalizer()
    assert normalize(rows["LJ001-0002"].prediction) == normalize("in being comparatively modern.")
    assert {row.id: row.prediction for row in rows.values()} == BEFORE["ljspeech-32"]  # every token as before
    assert evaluation.result.batch_evidence.max_batch_size == 1
    assert evaluation.result.decoding["strategy"] == "greedy"
    # Whisper's standard suppression is applied by rule, so the model's identical lists are not "ignored".
    assert not any("suppress_tokens" in s for s in evaluation.result.ignored_settings)


@pytest.mark.slow
def test_a_40_s_utterance_comes_back_with_its_last_words(whisper_base_run: WhisperBaseRun) -> None:
    """LJ Speech clips joined into one utterance of about 40 s: the last clip's words must be transcribed."""
    evaluation, texts = whisper_base_run.evaluation, whisper_base_run.long_texts
    (row,) = evaluation.predictions[LONG_SET]
    assert row.duration_s > LONG_S and evaluation.result.datasets[LONG_SET].long_utterances == 1
    normalize = english_normalizer()
    last_words = normalize(texts[-1]).split()[-4:]
    assert " ".join(last_words) in normalize(row.prediction), (last_words, row.prediction)
    assert row.prediction == BEFORE["long-40s"]  # long-form: suppression still runs before the timestamp rule
    assert evaluation.result.datasets[LONG_SET].wer < 0.2
