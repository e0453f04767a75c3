"""Scoring: text normalization, corpus WER with a bootstrap CI, and timing statistics (R3, R7, R11).

Pure functions, no I/O. Every number returned is a plain Python `float`/`int` (never a numpy scalar) so the
records serialize to JSON as they are.

Divide-by-zero convention (used for RTF and RTFx alike): `x / 0` is `inf` when `x > 0` and `0.0` when
`x == 0`. So a set that took time on zero seconds of audio has an infinite RTF (it can never meet the
real-time constraint), and a set timed at zero seconds has an infinite RTFx. Python's `json` writes `inf`
as `Infinity`.
"""

from __future__ import annotations

import functools
import importlib.resources
import importlib.util
import json
import math
import types
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TypedDict

import jiwer
import numpy as np

from openasr_core.records import Aggregate, DatasetScore, PredictionRow

WHISPER_ENGLISH = "whisper-english"
NORMALIZERS: tuple[str, ...] = (WHISPER_ENGLISH,)

# Upper bound on the elements of one bootstrap index block, so a 40k-utterance set does not allocate
# gigabytes at once. Blocks are drawn in order from one generator, so the result does not depend on it.
_BOOTSTRAP_BLOCK_ELEMENTS = 1 << 22
#: An utterance longer than one Whisper window; counted per set, since it is transcribed by long-form decoding.
LONG_UTTERANCE_S = 30.0


@functools.lru_cache(maxsize=1)
def english_normalizer() -> Callable[[str], str]:
    """Whisper's English normalizer as shipped by transformers, with the `whisper-normalizer` spelling map.

    This is the one normalizer of the leaderboard (R7). transformers ships the normalizer code but not the
    British-to-American spelling map (`english.json`), so the map is taken from the `whisper-normalizer`
    package. Built once and cached: the map has ~1.7k entries and the normalizer compiles many regexes.
    """
    resource = importlib.resources.files("whisper_normalizer") / "normalizers" / "english.json"
    spelling = json.loads(resource.read_text(encoding="utf-8"))
    return _transformers_whisper_normalizer_module().EnglishTextNormalizer(spelling)


def _transformers_whisper_normalizer_module() -> types.ModuleType:
    """transformers' `english_normalizer.py`, loaded from its file without importing the transformers package.

    The file needs only the standard library and `regex`; importing it the usual way would load transformers
    (about a second), which `verify` must not need (it re-scores predictions on machines without the ML stack).
    """
    spec = importlib.util.find_spec("transformers")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("transformers is not installed; it ships Whisper's English normalizer")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / "whisper" / "english_normalizer.py"
    module_spec = importlib.util.spec_from_file_location("_whisper_english_normalizer", path)
    if module_spec is None or module_spec.loader is None:
        raise ModuleNotFoundError(f"cannot load Whisper's English normalizer from {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def get_normalizer(name: str) -> Callable[[str], str]:
    """The normalizer a leaderboard version names in its config; unknown names are a config error."""
    if name == WHISPER_ENGLISH:
        return english_normalizer()
    raise ValueError(f"unknown normalizer {name!r}; known: {', '.join(NORMALIZERS)}")


def _ratio(num: float, den: float) -> float:
    """`num / den` as a Python float, with the module's divide-by-zero convention (see module docstring)."""
    if den > 0:
        return float(num / den)
    return math.inf if num > 0 else 0.0


def _percentile(values: np.ndarray, q: float) -> float:
    """numpy's default (linear) percentile, but well-defined when values contain `inf`.

    `np.percentile` returns nan when it interpolates across an infinite value (inf - inf, or inf * 0); here
    an exact hit returns that value and any interpolation touching `inf` returns `inf`.
    """
    v = np.sort(values)
    pos = (len(v) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    frac = pos - lo
    if frac == 0.0:
        return float(v[lo])
    if math.isinf(v[lo]) or math.isinf(v[hi]):
        return math.inf
    return float(v[lo] + (v[hi] - v[lo]) * frac)


def _words(text: str, normalize: Callable[[str], str]) -> str:
    """Normalize and re-join on single spaces, so jiwer's space-splitting sees exactly the normalizer's words."""
    return " ".join(normalize(text).split())


def _bootstrap_ci(errors: np.ndarray, words: np.ndarray, samples: int, seed: int) -> tuple[float, float]:
    """95% percentile CI of corpus WER, resampling utterances with replacement (R11).

    Each resample draws N utterance indices; its WER is sum(errors) / sum(words) over them (corpus-level,
    like the point estimate). Vectorized over a (samples x N) index matrix, drawn in row blocks to bound
    memory; numpy's Generator yields the same stream whether drawn at once or in consecutive blocks.
    """
    n = len(errors)
    rng = np.random.default_rng(seed)
    block = max(1, _BOOTSTRAP_BLOCK_ELEMENTS // n)
    wers = np.empty(samples, dtype=np.float64)
    for start in range(0, samples, block):
        rows = min(block, samples - start)
        idx = rng.integers(0, n, size=(rows, n))
        wers[start : start + rows] = errors[idx].sum(axis=1) / words[idx].sum(axis=1)
    lo, hi = np.percentile(wers, [2.5, 97.5])
    return float(lo), float(hi)


def score_eval_set(
    rows: Sequence[PredictionRow],
    normalize: Callable[[str], str],
    *,
    max_rtf: float = 1.0,
    bootstrap_samples: int = 1000,
    seed: int = 0,
    skipped_empty_references: int = 0,
    excluded_references: int = 0,
) -> DatasetScore:
    """Score one eval set: corpus WER with a bootstrap 95% CI, plus RTF and latency statistics.

    WER is corpus-level, (S + D + I) / reference words over the whole set, never a mean of per-utterance WERs
    (R11). Both texts go through `normalize` first. A row whose *normalized* reference is empty (e.g. "uh",
    which Whisper's normalizer removes) cannot be scored: it is left out of the WER and added to
    `skipped_empty_references` (the caller passes in how many raw-empty references its loader already
    dropped). Such rows were still transcribed, so they count for the timing statistics. An empty prediction
    against a non-empty reference scores as all deletions.

    Timing (R3) is over every row: RTF = sum(time) / sum(duration), RTFx = its inverse, latency percentiles of
    per-utterance `time_s`, and the p99 of per-utterance RTF (time / duration; a zero-duration utterance has
    RTF inf, or 0 if it also took no time). Percentiles use numpy's default linear interpolation.

    `max_rtf` is accepted for a uniform call signature with the rules config but does not change any number
    here: `DatasetScore` carries no verdict; `aggregate` decides `meets_realtime`. It must be positive.

    `excluded_references` (dropped by the loader under the ESB convention, never transcribed) is recorded as
    given; `long_utterances` counts rows longer than `LONG_UTTERANCE_S`.
    """
    _check_scoring_arguments(max_rtf, bootstrap_samples, skipped_empty_references, excluded_references)
    refs, hyps, skipped = _scorable(rows, normalize, skipped_empty_references)
    out = jiwer.process_words(refs, hyps)
    subs, dels, ins = int(out.substitutions), int(out.deletions), int(out.insertions)
    ref_words = sum(len(r) for r in out.references)
    errors, words = _utterance_errors(out, subs + dels + ins)
    return DatasetScore(
        wer=_ratio(subs + dels + ins, ref_words),
        wer_ci95=_bootstrap_ci(errors, words, bootstrap_samples, seed),
        substitutions=subs,
        deletions=dels,
        insertions=ins,
        ref_words=ref_words,
        utterances=len(refs),
        **_timing(rows),
        skipped_empty_references=skipped,
        excluded_references=excluded_references,
    )


def _check_scoring_arguments(max_rtf: float, bootstrap_samples: int, skipped: int, excluded: int) -> None:
    """`score_eval_set`'s arguments must make sense: a positive RTF limit, one resample at least, no negative
    count of left-out references."""
    if max_rtf <= 0:
        raise ValueError(f"max_rtf must be positive, got {max_rtf}")
    if bootstrap_samples < 1:
        raise ValueError(f"bootstrap_samples must be at least 1, got {bootstrap_samples}")
    if skipped < 0 or excluded < 0:
        raise ValueError("skipped_empty_references and excluded_references must be >= 0")


class _SetTiming(TypedDict):
    """A set's timing statistics (R3), over every row transcribed, as `DatasetScore` records them."""

    audio_s: float
    time_s: float
    rtf: float
    rtfx: float
    latency_p50_s: float
    latency_p90_s: float
    latency_p99_s: float
    utterance_rtf_p99: float
    long_utterances: int


def _timing(rows: Sequence[PredictionRow]) -> _SetTiming:
    """RTF = sum(time) / sum(duration) and RTFx its inverse, the latency percentiles of per-utterance `time_s`,
    the p99 of per-utterance RTF, and how many rows are longer than `LONG_UTTERANCE_S`."""
    durations = np.array([r.duration_s for r in rows], dtype=np.float64)
    times = np.array([r.time_s for r in rows], dtype=np.float64)
    audio_s = float(durations.sum())
    time_s = float(times.sum())
    p50, p90, p99 = (float(v) for v in np.percentile(times, [50, 90, 99]))
    return _SetTiming(
        audio_s=audio_s,
        time_s=time_s,
        rtf=_ratio(time_s, audio_s),
        rtfx=_ratio(audio_s, time_s),
        latency_p50_s=p50,
        latency_p90_s=p90,
        latency_p99_s=p99,
        utterance_rtf_p99=_percentile(utterance_rtfs(rows), 99),
        long_utterances=int((durations > LONG_UTTERANCE_S).sum()),
    )


def _scorable(
    rows: Sequence[PredictionRow], normalize: Callable[[str], str], skipped: int
) -> tuple[list[str], list[str], int]:
    """Normalized (reference, prediction) pairs of the rows whose normalized reference is not empty, and the
    count of empty ones added to `skipped`."""
    refs: list[str] = []
    hyps: list[str] = []
    for row in rows:
        ref = _words(row.reference, normalize)
        if not ref:
            skipped += 1
            continue
        refs.append(ref)
        hyps.append(_words(row.prediction, normalize))
    if not refs:
        raise ValueError(
            f"no utterance has a non-empty reference after normalization ({len(rows)} row(s) given, "
            f"{skipped} empty reference(s) in all); cannot compute a WER"
        )
    return refs, hyps, skipped


def _utterance_errors(out: jiwer.WordOutput, total: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-utterance error and reference-word counts from jiwer's alignments, for the bootstrap."""
    errors = np.zeros(len(out.references), dtype=np.int64)
    for i, chunks in enumerate(out.alignments):
        for c in chunks:
            if c.type in ("substitute", "delete"):
                errors[i] += c.ref_end_idx - c.ref_start_idx
            elif c.type == "insert":
                errors[i] += c.hyp_end_idx - c.hyp_start_idx
    words = np.array([len(r) for r in out.references], dtype=np.int64)
    if int(errors.sum()) != total:  # jiwer's totals and its alignments must agree
        raise AssertionError("per-utterance error counts do not add up to jiwer's totals")
    return errors, words


def utterance_rtfs(rows: Sequence[PredictionRow]) -> np.ndarray:
    """Per-utterance RTF, time / duration (a zero-duration row: inf, or 0 if it also took no time)."""
    durations = np.array([r.duration_s for r in rows], dtype=np.float64)
    times = np.array([r.time_s for r in rows], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(durations > 0, times / durations, np.where(times > 0, np.inf, 0.0))


def aggregate(
    scores: Mapping[str, DatasetScore], max_rtf: float, rows: Mapping[str, Sequence[PredictionRow]]
) -> Aggregate:
    """Combine a version's eval sets: unweighted mean WER, duration-pooled RTF, real-time verdict (R3, R11).

    `avg_wer` weights every eval set equally, whatever its size. `rtf` is pooled by duration,
    sum(time_s) / sum(audio_s) over all sets (not a mean of per-set RTFs), and `rtfx` = 1 / `rtf`.

    `meets_realtime` is R3 as written, per entry: the p99 of per-utterance RTF over every utterance of every
    set in `rows` (the prediction rows) is at most `max_rtf`. Per-set p99s are no substitute: for small sets
    the max of per-set p99s can be below the pooled p99 (sets [0.5, 1.0] and [0.5, 1.0]: per-set p99 0.995,
    pooled 1.0). The per-set figures stay in `DatasetScore.utterance_rtf_p99` for display.
    """
    if not scores:
        raise ValueError("cannot aggregate zero eval sets")
    if max_rtf <= 0:
        raise ValueError(f"max_rtf must be positive, got {max_rtf}")
    pooled = [row for name in scores for row in rows.get(name, ())]
    if not pooled:
        raise ValueError("cannot decide meets_realtime without the prediction rows of the eval sets")
    values = list(scores.values())
    avg_wer = math.fsum(s.wer for s in values) / len(values)
    rtf = _ratio(math.fsum(s.time_s for s in values), math.fsum(s.audio_s for s in values))
    return Aggregate(
        avg_wer=float(avg_wer),
        rtf=rtf,
        rtfx=_ratio(1.0, rtf),
        meets_realtime=_percentile(utterance_rtfs(pooled), 99) <= max_rtf,
    )
