"""Shared fixtures: paths to the real material in ../shared (tests that need it skip when it is absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"
WHISPER_BASE = SHARED / "models" / "whisper-base"
LJSPEECH_32 = SHARED / "data" / "ljspeech-32"


@pytest.fixture
def whisper_base() -> Path:
    if not (WHISPER_BASE / "model.safetensors").is_file():
        pytest.skip("../shared/models/whisper-base is not present")
    return WHISPER_BASE


@pytest.fixture
def ljspeech_32() -> Path:
    if not (LJSPEECH_32 / "metadata.csv").is_file():
        pytest.skip("../shared/data/ljspeech-32 is not present")
    return LJSPEECH_32


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Whisper folder, built once per test session."""
    from tests.fixtures.tiny_models import make_tiny_whisper

    return make_tiny_whisper(tmp_path_factory.mktemp("models") / "tiny-whisper")


@pytest.fixture(scope="session")
def tiny_ctc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Wav2Vec2ForCTC folder, built once per test session."""
    from tests.fixtures.tiny_models import make_tiny_ctc

    return make_tiny_ctc(tmp_path_factory.mktemp("models") / "tiny-ctc")
