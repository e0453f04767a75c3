"""Facts about a model folder on disk: its weight files, their sha256, and a content revision (R4, R6).

A local model folder has no git history, so its "revision" is a digest of every file's name and sha256:
the same 40-hex shape as a Hub commit SHA, and it changes whenever any file changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from openasr_core.licenses import DeclaredLicense, first_text, license_id

WEIGHT_SUFFIXES = (".safetensors",)
UNSAFE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".h5", ".msgpack")


def sha256_file(path: Path) -> str:
    """sha256 (hex) of a file, read in chunks by `hashlib.file_digest` (weight files can be gigabytes)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


#: The one hidden folder that is part of a model: the Hub's Evaluation Results files (`openasr_core.claims`, R15).
EVAL_RESULTS_DIR = ".eval_results"


def _counted(parts: tuple[str, ...]) -> bool:
    """Not hidden (.git, .cache), except `.eval_results/<file>`: its claims are part of the revision."""
    if parts[0] == EVAL_RESULTS_DIR and len(parts) == 2:
        return not parts[1].startswith(".")
    return not any(part.startswith(".") for part in parts)


def model_files(folder: Path) -> list[Path]:
    """Every regular file of the model, relative order fixed, hidden files (.git, .cache) left out but the
    claims in `.eval_results/` kept, so a local folder's revision changes when its claims do."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and _counted(p.relative_to(folder).parts))


def weight_file_hashes(folder: Path) -> dict[str, str]:
    """sha256 of each safetensors weight file, keyed by its path relative to the folder."""
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)
        for p in model_files(folder)
        if p.name.endswith(WEIGHT_SUFFIXES)
    }


def local_revision(folder: Path) -> str:
    """A 40-hex content digest of the whole folder: file names and contents."""
    digest = hashlib.sha256()
    for path in model_files(folder):
        digest.update(path.relative_to(folder).as_posix().encode("utf-8") + b"\0" + sha256_file(path).encode() + b"\n")
    return digest.hexdigest()[:40]


def card_declared_license(folder: Path) -> DeclaredLicense:
    """`license:` and `license_name:` from the model card's YAML front matter (README.md), unchecked."""
    from huggingface_hub.repocard import metadata_load

    readme = folder / "README.md"
    if not readme.is_file():
        return DeclaredLicense(None)
    try:
        metadata = metadata_load(readme) or {}
    except Exception:  # a malformed card is "no license", and the submission refusal says how to add one
        return DeclaredLicense(None)
    return DeclaredLicense.from_metadata(metadata)


def card_license(folder: Path) -> str | None:
    """The card's license as stored (`openasr_core.licenses.license_id`), or None when absent or not accepted."""
    return license_id(card_declared_license(folder))


def license_value(value: object) -> str | None:
    """A card's `license:` value as one string: the first of a list, None when empty or absent."""
    return first_text(value)


def hub_declared_license(info: Any) -> DeclaredLicense:
    """What a Hub model declares, from `HfApi.model_info(...)`: its card's `license:` and `license_name:`,
    else a `license:` tag (the Hub adds one from the card)."""
    card = getattr(info, "card_data", None)
    declared = DeclaredLicense.from_metadata(
        {"license": card.get("license"), "license_name": card.get("license_name")} if card is not None else None
    )
    if declared.license:
        return declared
    for tag in getattr(info, "tags", None) or []:
        if isinstance(tag, str) and tag.startswith("license:"):
            return DeclaredLicense(license_value(tag.removeprefix("license:")))
    return DeclaredLicense(None)


def hub_card_license(info: Any) -> str | None:
    """The license of a Hub model as stored (`openasr_core.licenses.license_id`), or None when absent or not accepted."""
    return license_id(hub_declared_license(info))
