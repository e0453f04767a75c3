"""Rules that the Space and the evaluator both apply live in one module each; both sides use that module."""

from __future__ import annotations

import pytest

from core.architectures import NOT_SPEECH_RECOGNITION, speech_architectures
from core.redaction import redact
from core.workers import default_worker_name


def test_the_form_and_the_evaluator_accept_the_same_architectures() -> None:
    from evaluator.models import CTC_ARCHITECTURES, SEQ2SEQ_ARCHITECTURES
    from leaderboard.submission import supported_architectures

    shared = speech_architectures()
    assert supported_architectures() == SEQ2SEQ_ARCHITECTURES | CTC_ARCHITECTURES == shared.all
    assert {"WhisperForConditionalGeneration", "Wav2Vec2ForCTC"} <= shared.all
    assert NOT_SPEECH_RECOGNITION.isdisjoint(SEQ2SEQ_ARCHITECTURES)  # Pop2Piano/Dia: refused by both


def test_redact_hides_environment_secrets_and_extra_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_secretsecret123")
    monkeypatch.setenv("RESULTS_SIGNING_KEY", "c2lnbmluZy1rZXktYmFzZTY0")
    text = "401 for hf_secretsecret123, key c2lnbmluZy1rZXktYmFzZTY0, api token hf_passedincode99"
    assert redact(text, ["hf_passedincode99", None]) == "401 for ***, key ***, api token ***"
    assert redact("short abc", ["abc"]) == "short abc"  # too short to be a secret; replacing would garble text


def test_worker_names_say_what_runs_them_and_are_unique() -> None:
    first, second = default_worker_name("space"), default_worker_name("space")
    assert first.startswith("space:") and first != second
