"""The timed loop with a scripted transcriber: what is timed, what is counted, timeouts, stopping."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from core.config import EvalSetConfig
from evaluator.eval_sets import EvalSet
from evaluator.runner import Stopped, UtteranceTimeout, run_set, warm_up
from tests.fixtures.audio import make_audiofolder


class Scripted:
    sampling_rate = 16000

    def __init__(self, delay_s: float = 0.0) -> None:
        self.calls: list[int] = []
        self.delay_s = delay_s

    def transcribe(self, waveform: np.ndarray) -> str:
        self.calls.append(len(waveform))
        time.sleep(self.delay_s)
        return "text"


@pytest.fixture
def eval_set(tmp_path: Path) -> EvalSet:
    return EvalSet(EvalSetConfig(name="s", path=make_audiofolder(tmp_path / "s", ["a", "b", "", "d"])))


def test_warm_up_cycles_and_is_not_counted(eval_set: EvalSet) -> None:
    model = Scripted()
    assert warm_up(model, eval_set, 5) == 5 and len(model.calls) == 5
    run = run_set(model, eval_set, name="s", total=4, timeout_s=10)
    assert [r.id for r in run.rows] == ["utt000", "utt001", "utt003"] and run.skipped_empty_references == 1
    assert len(model.calls) == 8


def test_time_covers_the_transcribe_call(eval_set: EvalSet) -> None:
    run = run_set(Scripted(delay_s=0.02), eval_set, name="s", total=4, timeout_s=10)
    assert all(0.02 <= r.time_s < 0.5 for r in run.rows)
    assert run.wall_s >= sum(r.time_s for r in run.rows)


def test_progress_reported_per_utterance(eval_set: EvalSet) -> None:
    seen: list[tuple[int, int | None]] = []
    run_set(Scripted(), eval_set, name="s", total=4, timeout_s=10, on_progress=lambda d, t: seen.append((d, t)))
    assert seen == [(1, 4), (2, 4), (3, 4)]


def test_slow_utterance_fails_the_evaluation(eval_set: EvalSet) -> None:
    with pytest.raises(UtteranceTimeout, match=r"utterance utt000 of s took .* over the 0.01 s limit"):
        run_set(Scripted(delay_s=0.05), eval_set, name="s", total=4, timeout_s=0.01)


def test_should_stop_aborts(eval_set: EvalSet) -> None:
    with pytest.raises(Stopped):
        run_set(Scripted(), eval_set, name="s", total=4, timeout_s=10, should_stop=lambda: True)
