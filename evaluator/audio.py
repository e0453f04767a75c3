"""Decoding and resampling: soundfile reads the file, soxr resamples, channels are averaged to mono.

This runs in the prefetch thread, outside the timed region (R3: reading and resampling are not timed).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr


class AudioError(ValueError):
    """An audio file could not be decoded; the message names the file."""


def decode_audio(source: str | Path | bytes, target_rate: int, name: str | None = None) -> np.ndarray:
    """Decode `source` (a path or the file's bytes) to mono float32 at `target_rate` Hz."""
    label = name or (str(source) if not isinstance(source, bytes) else "<audio bytes>")
    try:
        handle = io.BytesIO(source) if isinstance(source, bytes) else source
        waveform, rate = sf.read(handle, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioError(f"cannot decode audio {label}: {exc}. Re-encode it as WAV or FLAC.") from exc
    except FileNotFoundError as exc:
        raise AudioError(f"audio file {label} does not exist; fix its file_name in the eval set's metadata") from exc
    if waveform.shape[0] == 0:
        raise AudioError(f"audio {label} has no samples; remove it from the eval set")
    mono = waveform.mean(axis=1) if waveform.shape[1] > 1 else waveform[:, 0]
    if rate != target_rate:
        mono = soxr.resample(mono, rate, target_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)
