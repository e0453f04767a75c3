"""The batch-one timed loop (R2, R3).

A background thread reads and resamples audio into a bounded queue, so file I/O stays outside the timer and
overlaps with inference. The main thread takes one utterance at a time and times exactly the transcriber's
`transcribe` call: features, host-to-device copy, forward or generate, decoding, device synchronization.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import cycle, islice
from typing import Protocol

import numpy as np
from tqdm import tqdm

from core.records import PredictionRow
from evaluator.audio import decode_audio
from evaluator.eval_sets import RawUtterance


class UtteranceTimeout(RuntimeError):
    """One utterance took longer than the rules allow; the evaluation fails (R3)."""


class Stopped(RuntimeError):
    """The caller asked the loop to stop (for instance, the worker lost its lease)."""


class SupportsTranscribe(Protocol):
    sampling_rate: int

    def transcribe(self, waveform: np.ndarray) -> str: ...


@dataclass(frozen=True)
class Decoded:
    id: str
    reference: str
    waveform: np.ndarray
    duration_s: float


@dataclass(frozen=True)
class SetRun:
    """What one eval set produced: the prediction rows, plus empty references skipped before transcription."""

    rows: list[PredictionRow]
    skipped_empty_references: int
    wall_s: float


ProgressCallback = Callable[[int, int | None], None]

_END = object()


def prefetch(utterances: Iterable[RawUtterance], sampling_rate: int, depth: int = 8) -> Iterator[Decoded | int]:
    """Decode ahead in a background thread. Yields `Decoded` items, then the count of skipped empty references.

    An error in the thread (a corrupt file) is re-raised in the consumer, at the utterance that caused it.
    """
    buffer: queue.Queue[object] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        skipped = 0
        try:
            for utterance in utterances:
                if not utterance.reference.strip():
                    skipped += 1
                    continue
                waveform = decode_audio(
                    utterance.audio, sampling_rate, name=f"{utterance.id} ({utterance.audio!s:.200})"
                )
                item = Decoded(utterance.id, utterance.reference, waveform, len(waveform) / sampling_rate)
                if not put(item):
                    return
            put(skipped)
        except BaseException as exc:
            put(exc)
        put(_END)

    thread = threading.Thread(target=work, name="audio-prefetch", daemon=True)
    thread.start()
    try:
        while (item := buffer.get()) is not _END:
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        thread.join(timeout=5)


def warm_up(transcriber: SupportsTranscribe, utterances: Iterable[RawUtterance], count: int) -> int:
    """Run `count` utterances first, untimed and not counted (R3), cycling if the set is shorter."""
    if count <= 0:
        return 0
    pool = [u for u in islice(utterances, count) if u.reference.strip()]
    if not pool:
        return 0
    done = 0
    for item in prefetch(islice(cycle(pool), count), transcriber.sampling_rate):
        if isinstance(item, Decoded):
            transcriber.transcribe(item.waveform)
            done += 1
    return done


def run_set(
    transcriber: SupportsTranscribe,
    utterances: Iterable[RawUtterance],
    *,
    name: str,
    total: int | None,
    timeout_s: float,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> SetRun:
    """Transcribe every utterance once, one per call, timing each one (R2, R3)."""
    rows: list[PredictionRow] = []
    skipped = 0
    started = time.perf_counter()
    with tqdm(total=total, desc=name, unit="utt", mininterval=2.0) as bar:
        for item in prefetch(utterances, transcriber.sampling_rate):
            if not isinstance(item, Decoded):
                skipped = item
                continue
            if should_stop and should_stop():
                raise Stopped(f"stopped during {name} after {len(rows)} utterances")
            tic = time.perf_counter()
            text = transcriber.transcribe(item.waveform)
            elapsed = time.perf_counter() - tic
            if elapsed > timeout_s:
                raise UtteranceTimeout(
                    f"utterance {item.id} of {name} took {elapsed:.1f} s, over the {timeout_s:g} s limit per "
                    f"utterance ({item.duration_s:.1f} s of audio); the model is too slow on this hardware"
                )
            rows.append(PredictionRow(item.id, item.reference, text, item.duration_s, elapsed))
            bar.update(1)
            if on_progress:
                on_progress(len(rows), total)
    return SetRun(rows=rows, skipped_empty_references=skipped, wall_s=time.perf_counter() - started)
