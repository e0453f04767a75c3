"""Tiny random models, built once per test session and copied into each test's models folder."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model_sources(tiny_whisper: Path, tiny_ctc: Path) -> dict[str, Path]:
    """The session's tiny models (tests/conftest.py), by kind: copied, never edited in place."""
    return {"whisper": tiny_whisper, "ctc": tiny_ctc}


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "models"
    folder.mkdir()
    return folder


@pytest.fixture
def place_model(models_dir: Path, tiny_model_sources: dict[str, Path]) -> Callable[..., Path]:
    """Copy a tiny model to `<models_dir>/<model_id>`; returns the folder (edit it to make a bad model)."""

    def place(model_id: str, kind: str = "whisper") -> Path:
        target = models_dir / model_id
        shutil.copytree(tiny_model_sources[kind], target)
        return target

    return place
