"""The timed loop with a scripted transcriber and an injected clock: what is timed, what is counted, limits."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import evaluator.runner as runner
from evaluator.eval_sets import EvalSet
from evaluator.runner import Stopped, UtteranceTimeout, run_set, warm_up
from openasr_core.config import EvalSetConfig
from testkit.audio import make_audiofolder
from tests.fixtures.clock import ManualClock


class Scripted:
    """Takes `cost_s` of the fake clock per call and notes which other threads were alive during each call."""

    sampling_rate = 16000

    def __init__(self, clock: ManualClock | None = None, cost_s: float = 0.25) -> None:
        self.clock = clock or ManualClock()
        self.cost_s = cost_s
        self.calls: list[int] = []
        self.other_threads: list[list[str]] = []

    def transcribe(self, waveform: np.ndarray) -> str:
        self.calls.append(len(waveform))
        others = [t.name for t in threading.enumerate() if t is not threading.current_thread() and t.is_alive()]
        self.other_threads.append(others)
        self.clock.advance(self.cost_s)
        return "text"


@pytest.fixture
def eval_set(tmp_path: Path) -> EvalSet:
    return EvalSet(EvalSetConfig(name="s", path=make_audiofolder(tmp_path / "s", ["a", "b", "", "d"])))


def test_warm_up_cycles_and_is_not_counted(eval_set: EvalSet) -> None:
    model = Scripted()
    assert warm_up(model, eval_set, 5) == 5 and len(model.calls) == 5
    run = run_set(model, eval_set, name="s", total=4, timeout_s=10, clock=model.clock)
    assert [r.id for r in run.rows] == ["utt000", "utt001", "utt003"] and run.skipped_empty_references == 1
    assert len(model.calls) == 8


def test_time_is_exactly_the_transcribe_call(eval_set: EvalSet) -> None:
    model = Scripted(cost_s=0.125)
    run = run_set(model, eval_set, name="s", total=4, timeout_s=10, clock=model.clock)
    assert [r.time_s for r in run.rows] == [0.125] * 3
    assert run.wall_s == pytest.approx(3 * 0.125)


def test_slow_loading_changes_no_timed_figure(eval_set: EvalSet, monkeypatch: pytest.MonkeyPatch) -> None:
    """Decoding made slow (it costs 5 s of the clock per file) must land outside every timed window."""
    model = Scripted(cost_s=0.25)
    real_decode = runner.decode_audio

    def slow_decode(*args: object, **kwargs: object) -> np.ndarray:
        model.clock.advance(5.0)
        return real_decode(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "decode_audio", slow_decode)
    run = run_set(model, eval_set, name="s", total=4, timeout_s=10, clock=model.clock, window_utterances=2)
    assert [r.time_s for r in run.rows] == [0.25, 0.25, 0.25]
    assert run.wall_s == pytest.approx(3 * 0.25 + 3 * 5.0)  # the loop's wall time shows the loading
    assert all("audio-prefetch" not in names for names in model.other_threads)


def test_nothing_runs_in_the_background_during_a_timed_call(eval_set: EvalSet) -> None:
    before = {t.ident for t in threading.enumerate()}
    model = Scripted()
    run_set(model, eval_set, name="s", total=4, timeout_s=10, clock=model.clock)
    started_by_the_loop = [
        [n for n in names if n not in {t.name for t in threading.enumerate() if t.ident in before}]
        for names in model.other_threads
    ]
    assert started_by_the_loop == [[], [], []]


def test_progress_reported_per_utterance(eval_set: EvalSet) -> None:
    seen: list[tuple[int, int | None]] = []
    model = Scripted()
    run_set(
        model,
        eval_set,
        name="s",
        total=4,
        timeout_s=10,
        on_progress=lambda d, t: seen.append((d, t)),
        clock=model.clock,
    )
    assert seen == [(1, 4), (2, 4), (3, 4)]


def test_slow_utterance_fails_the_evaluation(eval_set: EvalSet) -> None:
    model = Scripted(cost_s=61.0)
    with pytest.raises(UtteranceTimeout, match=r"utterance utt000 of s took 61.0 s, over the 60 s limit"):
        run_set(model, eval_set, name="s", total=4, timeout_s=60, clock=model.clock)


@pytest.mark.parametrize("limit", [None, float("inf")])
def test_no_limit_lets_slow_honest_work_finish(eval_set: EvalSet, limit: float | None) -> None:
    model = Scripted(cost_s=500.0)
    run = run_set(model, eval_set, name="s", total=4, timeout_s=limit, clock=model.clock)
    assert [r.time_s for r in run.rows] == [500.0] * 3


def test_should_stop_aborts(eval_set: EvalSet) -> None:
    with pytest.raises(Stopped):
        run_set(Scripted(), eval_set, name="s", total=4, timeout_s=10, should_stop=lambda: True)


def test_the_heartbeat_waits_for_the_gap_between_timed_calls(eval_set: EvalSet) -> None:
    """Background work that takes the timed-region lock never overlaps a timed call."""
    model = Scripted()
    inside: list[bool] = []
    original = model.transcribe

    def transcribe(waveform: np.ndarray) -> str:
        inside.append(not runner.TIMED_REGION.acquire(blocking=False))
        return original(waveform)

    model.transcribe = transcribe  # type: ignore[method-assign]
    run_set(model, eval_set, name="s", total=4, timeout_s=10, clock=model.clock)
    assert inside == [True, True, True]  # held by the loop during every call
    assert runner.TIMED_REGION.acquire(blocking=False)  # and released after the loop
    runner.TIMED_REGION.release()
