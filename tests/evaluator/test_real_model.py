"""The real trained whisper-base on 32 real LJ Speech clips: transcripts and WER must be right."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.evaluate import evaluate
from evaluator.metrics import english_normalizer
from tests.fixtures.audio import write_config


@pytest.mark.slow
def test_whisper_base_on_ljspeech_32(tmp_path: Path, whisper_base: Path, ljspeech_32: Path) -> None:
    config = write_config(tmp_path, {"ljspeech-32": ljspeech_32}, warmup=1, bootstrap_samples=1000)
    evaluation = evaluate(config, str(whisper_base), request_id="real", device="cpu")
    score = evaluation.result.datasets["ljspeech-32"]
    assert score.utterances == 32
    assert score.wer < 0.12, f"WER {score.wer:.3f} is too high for whisper-base (about 0.063 expected)"
    assert score.wer_ci95[0] <= score.wer <= score.wer_ci95[1]
    assert score.audio_s == pytest.approx(221.75, abs=0.1)
    rows = {row.id: row for row in evaluation.predictions["ljspeech-32"]}
    normalize = english_normalizer()
    assert normalize(rows["LJ001-0002"].prediction) == normalize("in being comparatively modern.")
    assert evaluation.result.batch_evidence.max_batch_size == 1
