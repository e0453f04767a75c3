"""Issue 25 items 2 and 3 at the evaluator: a stop asked through the `WorkTracker` hands the request back to the
queue at once (logged `released`, its attempt not counted), and the work is reported as it runs, throughput
ladder included."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evaluator.job import run_once, run_throughput
from openasr_core.activity import EVALUATION, THROUGHPUT, WorkTracker
from openasr_core.board_files import open_store
from openasr_core.history import disagreements
from openasr_core.records import Progress, Status
from testkit.audio import make_audiofolder, write_config
from tests.evaluator.test_job import _submit


class StopAfterFirstUtterance(WorkTracker):
    """A tracker that is asked to stop (as SIGINT does) once the evaluation reported its first utterance."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    def report_progress(self, progress: Progress, prefix: str = "") -> None:
        super().report_progress(progress, prefix)
        work = self.current()
        assert work is not None
        self.seen.append((work.kind, work.stage))
        if progress.done >= 1:
            self.request_stop("the Space was stopped (SIGINT); the request goes back to the queue")


@pytest.fixture
def setup(tmp_path: Path, tiny_ctc: Path):
    models = tmp_path / "models"
    shutil.copytree(tiny_ctc, models / "org" / "tiny")
    texts = [f"word {i}" for i in range(6)]
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", texts)}, models_dir=models, warmup=1)
    return config, open_store(config)


def test_a_stop_mid_evaluation_hands_the_request_back_at_once(setup) -> None:
    config, store = setup
    _submit(store, 1, "org/tiny", models=config.models_dir)
    work = StopAfterFirstUtterance()
    request = run_once(config, store, worker="space:w", work=work)
    assert request is not None and request.status is Status.PENDING and request.attempts == 0, request
    assert work.seen and work.seen[0][0] == EVALUATION and "eval set s (1 of 1)" in work.seen[0][1]
    assert work.current() is None  # nothing is shown as running after it
    snap = store.snapshot()
    assert [e.event for e in snap.log] == ["submitted", "claimed", "released"]
    released = snap.log[-1]
    assert released.actor == "space:w" and "SIGINT" in str(released.detail["reason"])
    assert disagreements(snap.requests, snap.log) == [] and snap.verify_log().ok
    assert not snap.finished_results()
    # Stopped workers claim nothing; the next worker takes it as a first attempt.
    assert run_once(config, store, worker="space:w", work=work) is None
    again = run_once(config, store, worker="space:w2")
    assert again is not None and again.status is Status.FINISHED and again.attempts == 1


class Recorder(WorkTracker):
    def __init__(self) -> None:
        super().__init__()
        self.reports: list[tuple[str, str, float, float | None]] = []

    def report(self, stage: str, fraction: float, eta_s: float | None) -> None:
        super().report(stage, fraction, eta_s)
        work = self.current()
        assert work is not None
        self.reports.append((work.kind, stage, work.fraction, eta_s))


def test_a_throughput_run_reports_its_ladder_and_stops_when_asked(setup) -> None:
    config, store = setup
    submitted = _submit(store, 1, "org/tiny", models=config.models_dir)
    assert run_once(config, store, worker="w").status is Status.FINISHED  # type: ignore[union-attr]
    work = Recorder()
    assert run_throughput(config, store, submitted, None, "w", work)
    assert work.reports and {kind for kind, *_ in work.reports} == {THROUGHPUT}
    stages = [stage for _, stage, _, _ in work.reports]
    assert stages[0].startswith("batch size 1 (step 1 of at most ") and "utterances" in stages[0]
    assert any(stage.startswith("batch size 4 ") for stage in stages)
    fractions = [fraction for *_, fraction, _ in work.reports]
    assert fractions == sorted(fractions) and 0 < fractions[0] < 1
    assert all(eta is not None and eta >= 0 for *_, eta in work.reports)
    assert work.current() is None
    stopped = Recorder()
    stopped.request_stop("stopping")
    assert not run_throughput(config, store, submitted, None, "w", stopped) and not stopped.reports
