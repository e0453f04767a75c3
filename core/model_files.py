"""Facts about a model folder on disk: its weight files, their sha256, and a content revision (R4, R6).

A local model folder has no git history, so its "revision" is a digest of every file's name and sha256:
the same 40-hex shape as a Hub commit SHA, and it changes whenever any file changes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors",)
UNSAFE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".h5", ".msgpack")
_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def model_files(folder: Path) -> list[Path]:
    """Every regular file of the model, relative order fixed, hidden files (.git, .cache) left out."""
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )


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


def card_license(folder: Path) -> str | None:
    """`license:` from the model card's YAML front matter (README.md), or None when there is none."""
    from huggingface_hub.repocard import metadata_load

    readme = folder / "README.md"
    if not readme.is_file():
        return None
    try:
        metadata = metadata_load(readme) or {}
    except Exception:  # a malformed card is "no license", and the submission refusal says how to add one
        return None
    value = metadata.get("license")
    if isinstance(value, list):
        value = value[0] if value else None
    return str(value).strip() if value else None
