"""The batch-one timed loop (R2, R3).

Audio is read and resampled a window at a time, untimed, into memory; then the window's utterances are timed
one by one with nothing else running in the process (no background decoding competing for the CPU that runs
feature extraction), as MLPerf loads its samples before the timed run. The timer covers exactly the
transcriber's `transcribe` call: features, host-to-device copy, forward or generate, decoding, device sync.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import cycle, islice
from typing import Protocol

import numpy as np
from tqdm import tqdm

from evaluator.audio import decode_audio
from evaluator.eval_sets import EvalSetError, RawUtterance, is_excluded_reference
from openasr_core.records import PredictionRow

#: A window holds at most this many utterances or this much audio (16 kHz float32: 64 kB per second), so a
#: window of long utterances stays within memory while short ones still load many at a time.
WINDOW_UTTERANCES = 64
WINDOW_AUDIO_S = 1800.0

Clock = Callable[[], float]

#: Held for the duration of each timed call. Background work of the process (the lease heartbeat) takes it
#: first, so it runs between utterances, never inside a timed window.
TIMED_REGION = threading.Lock()

# tqdm's monitor thread would wake up inside timed windows; the bar is only updated between utterances.
tqdm.monitor_interval = 0


class UtteranceTimeout(RuntimeError):
    """One utterance took longer than the rules allow; the evaluation fails (R3)."""


class Stopped(RuntimeError):
    """The caller asked the loop to stop (for instance, the worker lost its lease)."""


class LongUtteranceRefused(EvalSetError):
    """An utterance is longer than the model can take whole; the set is refused rather than cut (no silent loss)."""


class CallProbe(Protocol):
    """Brackets each timed call, outside the timer (`evaluator.load_probe.LoadProbe`: was the machine busy?)."""

    def enter(self) -> None: ...

    def exit(self) -> None: ...


class SupportsTranscribe(Protocol):
    sampling_rate: int

    def transcribe(self, waveform: np.ndarray) -> str: ...


@dataclass(frozen=True)
class Decoded:
    id: str
    reference: str
    waveform: np.ndarray
    duration_s: float


@dataclass
class Screening:
    """Utterances left out before transcription: empty references, and those the scoring convention excludes."""

    empty: int = 0
    excluded: int = 0


@dataclass(frozen=True)
class SetRun:
    """What one eval set produced: the prediction rows, and what was left out before transcription."""

    rows: list[PredictionRow]
    skipped_empty_references: int
    wall_s: float
    excluded_references: int = 0


ProgressCallback = Callable[[int, int | None], None]


def load_windows(
    utterances: Iterable[RawUtterance],
    sampling_rate: int,
    *,
    screening: Screening | None = None,
    max_audio_s: float | None = None,
    set_name: str = "",
    window_utterances: int = WINDOW_UTTERANCES,
    window_audio_s: float = WINDOW_AUDIO_S,
) -> Iterator[list[Decoded]]:
    """Decode utterances into memory a window at a time, in the calling thread, untimed.

    Empty and excluded references are counted in `screening` and never decoded. An utterance longer than
    `max_audio_s` (what the model can take whole; None: any length) refuses the set, naming the utterance.
    """
    screening = screening if screening is not None else Screening()
    window: list[Decoded] = []
    audio_s = 0.0
    for utterance in utterances:
        if not utterance.reference.strip():
            screening.empty += 1
            continue
        if is_excluded_reference(utterance.reference):
            screening.excluded += 1
            continue
        waveform = decode_audio(utterance.audio, sampling_rate, name=f"{utterance.id} ({utterance.audio!s:.200})")
        duration = len(waveform) / sampling_rate
        if max_audio_s is not None and duration > max_audio_s:
            raise LongUtteranceRefused(
                f"utterance {utterance.id} of {set_name or 'the eval set'} is {duration:.1f} s long, but this model "
                f"hears at most {max_audio_s:g} s per call; the set is refused rather than cut. Evaluate a model "
                "that takes long input (Whisper long-form, CTC), or split the utterance in the eval set"
            )
        window.append(Decoded(utterance.id, utterance.reference, waveform, duration))
        audio_s += duration
        if len(window) >= window_utterances or audio_s >= window_audio_s:
            yield window
            window, audio_s = [], 0.0
    if window:
        yield window


def warm_up(transcriber: SupportsTranscribe, utterances: Iterable[RawUtterance], count: int) -> int:
    """Run `count` utterances first, untimed and not counted (R3), cycling if the set is shorter."""
    if count <= 0:
        return 0
    pool = [u for u in islice(utterances, count) if u.reference.strip() and not is_excluded_reference(u.reference)]
    if not pool:
        return 0
    decoded = [item for window in load_windows(pool, transcriber.sampling_rate) for item in window]
    for item in islice(cycle(decoded), count):
        transcriber.transcribe(item.waveform)
    return count


def _check_time(item: Decoded, name: str, elapsed: float, timeout_s: float | None) -> None:
    if timeout_s is not None and elapsed > timeout_s:
        raise UtteranceTimeout(
            f"utterance {item.id} of {name} took {elapsed:.1f} s, over the {timeout_s:g} s limit per "
            f"utterance ({item.duration_s:.1f} s of audio); the model is too slow on this hardware"
        )


def run_set(
    transcriber: SupportsTranscribe,
    utterances: Iterable[RawUtterance],
    *,
    name: str,
    total: int | None,
    timeout_s: float | None,
    on_progress: ProgressCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    clock: Clock | None = None,
    window_utterances: int | None = None,
    probe: CallProbe | None = None,
) -> SetRun:
    """Transcribe every utterance once, one per call, timing each one (R2, R3).

    `timeout_s` None (or infinite) sets no wall-clock limit per utterance. `clock` is injectable for tests.
    `probe` (an audit's) is entered before each timer starts and exited after it stops.
    `wall_s` spans the whole loop, loading included, so `wall_s / sum(time_s)` shows what the loop adds.
    """
    clock = clock or time.perf_counter  # looked up per call, so a test's patched clock applies too
    limit = timeout_s if timeout_s is not None and timeout_s < float("inf") else None
    rows: list[PredictionRow] = []
    screening = Screening()
    windows = load_windows(
        utterances,
        transcriber.sampling_rate,
        screening=screening,
        max_audio_s=getattr(transcriber, "max_audio_s", None),
        set_name=name,
        window_utterances=window_utterances or WINDOW_UTTERANCES,
    )
    started = clock()
    with tqdm(total=total, desc=name, unit="utt", mininterval=2.0) as bar:
        for window in windows:
            for item in window:
                if should_stop and should_stop():
                    raise Stopped(f"stopped during {name} after {len(rows)} utterances")
                with TIMED_REGION:
                    if probe:
                        probe.enter()
                    tic = clock()
                    text = transcriber.transcribe(item.waveform)
                    elapsed = clock() - tic
                    if probe:
                        probe.exit()
                _check_time(item, name, elapsed, limit)
                rows.append(PredictionRow(item.id, item.reference, text, item.duration_s, elapsed))
                bar.update(1)
                if on_progress:
                    on_progress(len(rows), total)
    return SetRun(
        rows=rows,
        skipped_empty_references=screening.empty,
        wall_s=clock() - started,
        excluded_references=screening.excluded,
    )
