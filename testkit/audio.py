"""Small synthetic eval sets written to disk in the AudioFolder layout, for tests of the evaluator's plumbing."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from openasr_core.config import LeaderboardConfig, load_config


def tone(seconds: float, rate: int, channels: int = 1, freq: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    wave = (0.2 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    return np.stack([wave] * channels, axis=1) if channels > 1 else wave


def make_audiofolder(
    folder: Path,
    texts: Sequence[str],
    *,
    rate: int = 16000,
    channels: int = 1,
    seconds: float = 0.5,
    fmt: str = "csv",
) -> Path:
    """Write one short tone per text as FLAC plus metadata.csv (or .jsonl)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for index, text in enumerate(texts):
        name = f"utt{index:03d}.flac"
        sf.write(folder / name, tone(seconds, rate, channels, 200.0 + 20 * index), rate)
        rows.append({"file_name": name, "text": text})
    if fmt == "csv":
        with open(folder / "metadata.csv", "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["file_name", "text"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        (folder / "metadata.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def write_config(
    tmp_path: Path,
    eval_set_folders: dict[str, Path],
    *,
    warmup: int = 2,
    gpu_class: str = "any",
    lease_s: float = 60.0,
    timeout_s: float = 60.0,
    bootstrap_samples: int = 200,
    models_dir: Path | None = None,
    max_new_tokens: int = 12,
) -> LeaderboardConfig:
    """A leaderboard-version TOML in tmp_path, loaded with its store in tmp_path/store.

    `max_new_tokens` is capped low: the random tiny Whisper never emits EOS, so it would otherwise generate
    the whole budget for every utterance. Real models (the slow tests) pass the product's 440.
    """
    sets = "".join(f'\n[[eval_sets]]\nname = "{name}"\npath = "{path}"\n' for name, path in eval_set_folders.items())
    text = f"""
[leaderboard]
version = "test-v1"

[rules]
gpu_class = "{gpu_class}"
warmup_utterances = {warmup}
lease_s = {lease_s}
utterance_timeout_s = {timeout_s}
bootstrap_samples = {bootstrap_samples}
max_new_tokens = {max_new_tokens}

[store]
local_root = "{tmp_path / "store"}"
models_dir = "{models_dir or tmp_path / "models"}"
{sets}"""
    path = tmp_path / "board.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, env={})
