"""The throughput track (R14): the same model and eval sets, batched, on a batch-size ladder.

Each eval set is decoded once (outside any timer) and sorted longest first, as the reference harness does.
The ladder runs 1, 4, 16, 64, ... : each rung transcribes every eval set in batches of that size, timing each
batch from the waveforms in memory to the texts with the device synchronized (R3, per batch). The climb
stops at the first out-of-memory (that rung is recorded and the last good size kept), when a rung's pooled
RTFx is not higher than the best so far, or when a rung already held every utterance of the largest set in
one batch. The best rung's transcripts become the result, compared with the first rung's (batch one) WER.

This module never writes a batch-one `Result`: it produces a `ThroughputResult`, which the batch-one board
cannot read.
"""

from __future__ import annotations

import copy
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import torch
from transformers import GenerationConfig

from evaluator.eval_sets import EvalSet
from evaluator.metrics import aggregate, score_eval_set
from evaluator.models import Transcriber, utterances_in_call
from evaluator.runner import TIMED_REGION, Decoded, Screening, Stopped, load_windows
from openasr_core.records import DatasetScore, LadderStep, PredictionRow

LADDER_FACTOR = 4

BatchFn = Callable[[list[np.ndarray]], list[str]]
logger = logging.getLogger(__name__)


def is_out_of_memory(exc: BaseException) -> bool:
    """A CUDA out-of-memory, or the CPU allocator failing: the batch is too large for this machine."""
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def ladder_sizes(largest_set: int, limit: int | None = None) -> list[int]:
    """1, 4, 16, ... up to the first size that holds the largest set in one batch (or up to `limit`)."""
    if largest_set < 1:
        raise ValueError("the ladder needs at least one utterance")
    sizes = [1]
    while sizes[-1] < largest_set and (limit is None or sizes[-1] * LADDER_FACTOR <= limit):
        sizes.append(sizes[-1] * LADDER_FACTOR)
    return sizes


@dataclass
class SizeProbe:
    """A forward pre-hook that records how many utterances every call held (the evidence of sizes used).

    `rows` gives the current call's rows per utterance (see `evaluator.models.utterances_in_call`).
    """

    rows: Callable[[], tuple[int, ...]] = tuple
    sizes: list[int] = field(default_factory=list)

    def __call__(self, module: torch.nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        batch = utterances_in_call(args, kwargs, self.rows())
        if batch:
            self.sizes.append(batch)


class BatchTranscriber:
    """Batched transcription with a loaded `Transcriber`: its recipe, model, device and decoding (R7).

    Every batch runs the very recipe batch one runs, with the very `GenerationConfig` objects (its long-form
    twin for Whisper past 30 s); only the generation time limit is scaled to the batch size. A batch is either
    all short or all long-form (see `run_batched`), so each utterance is decoded as batch one decodes it, and
    Whisper never cuts an utterance at 30 s.
    """

    def __init__(self, transcriber: Transcriber, timeout_s: float | None = None) -> None:
        self.transcriber = transcriber
        self.timeout_s = timeout_s if timeout_s is not None and math.isfinite(timeout_s) else None
        self.probe = SizeProbe(rows=lambda: transcriber.probe.rows)
        for module in transcriber.recipe.hooked_modules():
            module.register_forward_pre_hook(self.probe, with_kwargs=True)
        self._configs: dict[tuple[int, bool], GenerationConfig | None] = {}

    def long_form(self, waveform: np.ndarray) -> bool:
        """Whether batch one would decode this waveform by its long-form path (Whisper past 30 s)."""
        return self.transcriber.long_form(waveform)

    def generation_config(self, size: int, long_form: bool) -> GenerationConfig | None:
        """Batch one's generation config (R7), with the time limit per utterance scaled to the batch size."""
        key = (size, long_form)
        if key not in self._configs:
            base = self.transcriber.generation_config(long_form=long_form)
            config = copy.deepcopy(base)
            if config is not None and self.timeout_s is not None:
                config.max_time = self.timeout_s * size
            self._configs[key] = config
        return self._configs[key]

    def __call__(self, waveforms: list[np.ndarray]) -> list[str]:
        """Features, host-to-device copy, generate or forward, decode; the device synchronized at the end."""
        size = len(waveforms)
        return self.transcriber.transcribe_batch(waveforms, lambda long_form: self.generation_config(size, long_form))


@dataclass(frozen=True)
class SortedSet:
    """One eval set decoded into memory, longest utterance first (ties by id, so the order is reproducible)."""

    name: str
    items: list[Decoded]
    skipped_empty_references: int
    excluded_references: int = 0


def load_sorted(eval_set: EvalSet, sampling_rate: int, max_audio_s: float | None = None) -> SortedSet:
    """Decode every utterance of `eval_set` (untimed) and sort longest first.

    Screened as batch one screens (empty and excluded references); an utterance longer than `max_audio_s`
    (what the model can take whole) refuses the set, as batch one does, rather than being cut.
    """
    screening = Screening()
    windows = load_windows(
        eval_set, sampling_rate, screening=screening, max_audio_s=max_audio_s, set_name=eval_set.name
    )
    items = [item for window in windows for item in window]
    if not items:
        raise ValueError(f"eval set {eval_set.name} has no utterance with a reference; nothing to batch")
    items.sort(key=lambda d: (-d.duration_s, d.id))
    return SortedSet(eval_set.name, items, screening.empty, screening.excluded)


def batches(
    items: Sequence[Decoded], batch_size: int, split: Callable[[np.ndarray], bool] | None
) -> list[list[Decoded]]:
    """Consecutive batches of at most `batch_size`; a new batch starts wherever `split(waveform)` changes.

    With `split` = "decoded long-form", utterances over Whisper's 30 s window are never batched with shorter
    ones, so each is decoded with the same config as at batch one.
    """
    out: list[list[Decoded]] = []
    for item in items:
        last = out[-1] if out else None
        if last is None or len(last) >= batch_size or (split and split(last[0].waveform) != split(item.waveform)):
            out.append([item])
        else:
            last.append(item)
    return out


def run_batched(
    transcribe: BatchFn,
    items: Sequence[Decoded],
    batch_size: int,
    should_stop: Callable[[], bool] | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> list[PredictionRow]:
    """Transcribe `items` in order, `batch_size` at a time, timing each batch (R3 per batch); `on_batch` hears
    how many utterances are done after each batch (outside the timer).

    A batch's time is shared among its utterances in proportion to their duration, so every utterance of a
    batch has the batch's RTF and the set's total time is exactly the sum of the batch times. A transcriber
    with a `long_form(waveform)` test (`BatchTranscriber`) never gets long and short utterances together.
    """
    rows: list[PredictionRow] = []
    for batch in batches(items, batch_size, getattr(transcribe, "long_form", None)):
        if should_stop and should_stop():
            raise Stopped(f"stopped at batch size {batch_size} after {len(rows)} utterances")
        waveforms = [d.waveform for d in batch]
        with TIMED_REGION:
            tic = time.perf_counter()
            texts = transcribe(waveforms)
            elapsed = time.perf_counter() - tic
        if len(texts) != len(batch):
            raise RuntimeError(f"a batch of {len(batch)} utterances came back with {len(texts)} transcripts")
        audio = math.fsum(d.duration_s for d in batch)
        for item, text in zip(batch, texts, strict=True):
            share = elapsed * item.duration_s / audio if audio > 0 else elapsed / len(batch)
            rows.append(PredictionRow(item.id, item.reference, text, item.duration_s, share))
        if on_batch is not None:
            on_batch(len(rows))
    return rows


@dataclass(frozen=True)
class Scoring:
    """How a rung's rows are scored: the leaderboard's normalizer and rules."""

    normalize: Callable[[str], str]
    max_rtf: float
    bootstrap_samples: int
    seed: int


@dataclass(frozen=True)
class Rung:
    """One completed ladder step: its rows and scores per set, pooled RTFx, and the sizes the hook saw."""

    batch_size: int
    rows: dict[str, list[PredictionRow]]
    scores: dict[str, DatasetScore]
    rtfx: float
    avg_wer: float
    sizes_used: list[int]
    forward_calls: int


def run_rung(
    transcribe: BatchFn,
    probe: SizeProbe,
    sets: Sequence[SortedSet],
    batch_size: int,
    scoring: Scoring,
    should_stop: Callable[[], bool] | None = None,
    on_done: Callable[[int], None] | None = None,
) -> Rung:
    """One untimed warm-up batch at this size, then every set in batches of `batch_size`, scored; `on_done`
    hears how many of the rung's utterances (all sets) are done."""
    transcribe([d.waveform for d in batches(sets[0].items, batch_size, getattr(transcribe, "long_form", None))[0]])
    probe.sizes.clear()
    rows: dict[str, list[PredictionRow]] = {}
    before = 0
    for s in sets:
        report = None if on_done is None else (lambda n, base=before: on_done(base + n))
        rows[s.name] = run_batched(transcribe, s.items, batch_size, should_stop, report)
        before += len(s.items)
    scores = {
        s.name: score_eval_set(
            rows[s.name],
            scoring.normalize,
            max_rtf=scoring.max_rtf,
            bootstrap_samples=scoring.bootstrap_samples,
            seed=scoring.seed,
            skipped_empty_references=s.skipped_empty_references,
            excluded_references=s.excluded_references,
        )
        for s in sets
    }
    pooled = aggregate(scores, scoring.max_rtf, rows)
    return Rung(batch_size, rows, scores, pooled.rtfx, pooled.avg_wer, sorted(set(probe.sizes)), len(probe.sizes))


@dataclass(frozen=True)
class Ladder:
    """The climb: every step as recorded, the first rung (batch one) and the chosen (fastest) rung."""

    steps: list[LadderStep]
    batch_one: Rung
    chosen: Rung


def climb(
    transcribe: BatchFn,
    probe: SizeProbe,
    sets: Sequence[SortedSet],
    scoring: Scoring,
    *,
    limit: int | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_progress: Callable[[RungProgress], None] | None = None,
) -> Ladder:
    """Climb 1, 4, 16, ... until out of memory or RTFx stops improving; keep the fastest size that ran.
    `on_progress` hears each batch's progress (`RungProgress`), for the Queue page."""
    steps: list[LadderStep] = []
    first: Rung | None = None
    best: Rung | None = None
    sizes = ladder_sizes(max(len(s.items) for s in sets), limit)
    total = sum(len(s.items) for s in sets)
    for step, size in enumerate(sizes):
        report = None
        if on_progress is not None:
            report = partial(_rung_progress, on_progress, size, step, len(sizes), total)
        try:
            rung = run_rung(transcribe, probe, sets, size, scoring, should_stop, report)
        except Exception as exc:
            if first is None or not is_out_of_memory(exc):
                raise
            _free_device_memory()
            logger.info("batch size %d: out of memory; keeping batch size %s", size, best and best.batch_size)
            assert best is not None
            steps.append(LadderStep(size, None, None, 0.0, 0.0, True, best.batch_size, sorted(set(probe.sizes))))
            break
        first = first or rung
        logger.info("batch size %d: RTFx %.2f, average WER %.4f", size, rung.rtfx, rung.avg_wer)
        improved = best is None or rung.rtfx > best.rtfx
        best = rung if improved else best
        assert best is not None
        audio = math.fsum(s.audio_s for s in rung.scores.values())
        time_s = math.fsum(s.time_s for s in rung.scores.values())
        steps.append(LadderStep(size, rung.rtfx, rung.avg_wer, audio, time_s, False, best.batch_size, rung.sizes_used))
        if not improved:
            break
    assert first is not None and best is not None
    return Ladder(steps=steps, batch_one=first, chosen=best)


@dataclass(frozen=True)
class RungProgress:
    """Where the ladder is: batch size, its step (0-based) among at most `steps`, utterances done of `total`."""

    batch_size: int
    step: int
    steps: int
    done: int
    total: int


def _rung_progress(
    on_progress: Callable[[RungProgress], None], size: int, step: int, steps: int, total: int, done: int
) -> None:
    on_progress(RungProgress(size, step, steps, done, total))


def _free_device_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
