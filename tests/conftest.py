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
