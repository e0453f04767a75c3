"""Pinned weights (R4): the weight files the evaluator loads must be exactly the ones recorded at submission.

At submission the form records the sha256 of every safetensors file (`Request.model.weight_files`): from the
Hub's LFS metadata (`HfApi.model_info(..., files_metadata=True)`, see `leaderboard.inspection.HubModels`) or, for a
local folder, computed with `openasr_core.model_files.weight_file_hashes`. Before evaluating, the evaluator calls
`check_weight_hashes` on the folder it is about to load; any changed, missing or added file fails the request
with a message that names the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from openasr_core.model_files import weight_file_hashes


class WeightMismatch(ValueError):
    """The model's weight files differ from those recorded at submission; the message names each file."""


def check_weight_hashes(model_folder: Path, expected: Mapping[str, str]) -> None:
    """Raise `WeightMismatch` unless the folder's safetensors files are exactly `expected` (name -> sha256)."""
    actual = weight_file_hashes(Path(model_folder))
    problems: list[str] = []
    for name in sorted(set(expected) | set(actual)):
        if name not in actual:
            problems.append(f"{name} is missing (recorded at submission, not in the model folder)")
        elif name not in expected:
            problems.append(f"{name} was added after submission (sha256 {actual[name][:12]}…)")
        elif actual[name] != expected[name].lower():
            problems.append(
                f"{name} changed since submission (sha256 {expected[name][:12]}… recorded, {actual[name][:12]}… now)"
            )
    if problems:
        raise WeightMismatch(
            "the model's weights are not the ones recorded at submission: "
            + "; ".join(problems)
            + ". The revision was pinned when the request was made; submit the model again to evaluate the new weights."
        )
