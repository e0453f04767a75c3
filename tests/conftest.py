"""Shared fixtures: paths to the real material in ../shared (tests that need it skip when it is absent)."""

from __future__ import annotations

import os
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
    from testkit.tiny_models import make_tiny_whisper

    return make_tiny_whisper(tmp_path_factory.mktemp("models") / "tiny-whisper")


@pytest.fixture(scope="session")
def tiny_ctc(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Wav2Vec2ForCTC folder, built once per test session."""
    from testkit.tiny_models import make_tiny_ctc

    return make_tiny_ctc(tmp_path_factory.mktemp("models") / "tiny-ctc")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker keeps torch to one thread: two workers on two cores, not four threads."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)


#: The two longest tests (the 32-clip real-model run, the browser test) start at once, one on each xdist worker.
LONGEST = ("test_whisper_base_on_ljspeech_32", "test_the_whole_product_in_a_browser")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest first, so that the two xdist workers (`--dist loadgroup`) finish together.

    The scheduler gives each worker its next test in advance: two quick tests follow the two longest ones, so
    that no other slow test waits a minute behind one of them; the other real-model tests come next.
    """
    longest = sorted((i for i in items if i.name in LONGEST), key=lambda i: LONGEST.index(i.name))
    slow = [i for i in items if i.get_closest_marker("slow") and i not in longest]
    quick = [i for i in items if i not in longest and i not in slow]
    items[:] = longest + quick[:2] + slow + quick[2:]
