"""Pinned weights (R4): a weight file changed, missing or added after submission fails, naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from openasr_core.model_files import weight_file_hashes
from openasr_core.weights import WeightMismatch, check_weight_hashes


@pytest.fixture
def model(tmp_path: Path) -> Path:
    folder = tmp_path / "org" / "model"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    (folder / "model-00001-of-00002.safetensors").write_bytes(b"weights one")
    (folder / "model-00002-of-00002.safetensors").write_bytes(b"weights two")
    return folder


def test_unchanged_folder_passes(model: Path) -> None:
    check_weight_hashes(model, weight_file_hashes(model))


def test_changed_file_is_named(model: Path) -> None:
    recorded = weight_file_hashes(model)
    (model / "model-00002-of-00002.safetensors").write_bytes(b"weights TWO")
    with pytest.raises(WeightMismatch, match=r"model-00002-of-00002\.safetensors changed since submission") as raised:
        check_weight_hashes(model, recorded)
    assert "model-00001" not in str(raised.value) and "submit the model again" in str(raised.value)


def test_missing_and_added_files_are_named(model: Path) -> None:
    recorded = weight_file_hashes(model)
    (model / "model-00001-of-00002.safetensors").unlink()
    (model / "extra.safetensors").write_bytes(b"new")
    with pytest.raises(WeightMismatch) as raised:
        check_weight_hashes(model, recorded)
    message = str(raised.value)
    assert "model-00001-of-00002.safetensors is missing" in message
    assert "extra.safetensors was added after submission" in message


def test_other_files_do_not_matter(model: Path) -> None:
    recorded = weight_file_hashes(model)
    (model / "config.json").write_text('{"changed": true}')
    check_weight_hashes(model, recorded)
