"""The audit's comparisons as pure functions, and the printed table."""

from __future__ import annotations

import numpy as np
import pytest

from evaluator import audit_checks as checks
from openasr_core.records import EvalSetSource, Hardware, LoadSummary, PredictionRow, Verdict
from testkit.factories import make_audit


def rows(*predictions: str) -> list[PredictionRow]:
    return [PredictionRow(f"u{i}", "ref", text, 1.0, 0.1) for i, text in enumerate(predictions)]


def test_weights_name_each_changed_missing_or_added_file() -> None:
    recorded = {"a.safetensors": "1" * 64, "b.safetensors": "2" * 64}
    assert checks.compare_weights(recorded, dict(recorded)).verdict is Verdict.PASS
    check = checks.compare_weights(recorded, {"a.safetensors": "9" * 64, "c.safetensors": "3" * 64})
    assert check.verdict is Verdict.FAIL and check.difference == "3 differ"
    assert "a.safetensors changed" in check.detail and "b.safetensors missing" in check.detail
    assert "c.safetensors added" in check.detail
    assert checks.compare_weights({}, {}).verdict is Verdict.FAIL  # nothing recorded is nothing proven


def test_prediction_diffs_cover_changed_missing_and_extra_utterances() -> None:
    published = {"s": rows("a", "b", "c")}
    rerun = {"s": [*rows("a", "B"), PredictionRow("u9", "ref", "x", 1.0, 0.1)]}
    diffs = checks.prediction_diffs(published, rerun)
    assert [(d.id, d.published, d.rerun) for d in diffs] == [
        ("u1", "b", "B"),
        ("u2", "c", "<not in the re-run>"),
        ("u9", "<not in the published run>", "x"),
    ]
    check, evidence = checks.compare_predictions(published, rerun)
    assert check.verdict is Verdict.FAIL and check.difference == "3 utterance(s) differ" and evidence == diffs
    same, none = checks.compare_predictions(published, {"s": rows("a", "b", "c")})
    assert same.verdict is Verdict.PASS and none == []


def test_evidence_is_capped_but_the_count_is_exact() -> None:
    many = [str(i) for i in range(checks.MAX_EVIDENCE + 5)]
    check, evidence = checks.compare_predictions({"s": rows(*many)}, {"s": rows(*(m + "!" for m in many))})
    assert len(evidence) == checks.MAX_EVIDENCE and check.difference == f"{len(many)} utterance(s) differ"


def timed(times: list[float]) -> dict[str, list[PredictionRow]]:
    return {"s": [PredictionRow(f"u{i}", "ref", "x", 1.0, t) for i, t in enumerate(times)]}


QUIET = LoadSummary(calls=20, cpu_share=0.97, threads=2.0, load_1min=1.0, cpu_count=2)
BUSY = LoadSummary(calls=20, cpu_share=0.4, threads=2.0, load_1min=3.2, cpu_count=2, busy="the machine was busy")


@pytest.mark.parametrize(("scale", "within"), [(1.05, True), (1 / 1.05, True), (1.0501, False), (1 / 1.0501, False)])
def test_a_uniform_change_is_judged_against_the_tolerance_band_both_ways(scale: float, within: bool) -> None:
    """With the same change on every utterance the interval is one point: within [1/(1+t), 1+t] or not."""
    base = [0.1 + 0.01 * i for i in range(20)]
    run = checks.rtf_run(timed(base), timed([t * scale for t in base]), 0.1 * scale, QUIET, 0.05, samples=200)
    assert run.within is within and run.ratio == pytest.approx(scale, rel=1e-5) and run.utterances == 20


def test_noisy_utterances_widen_the_interval_so_noise_alone_is_not_outside() -> None:
    """A +8% pooled change made of large utterance-to-utterance noise has an interval reaching the band: not
    outside a 5% tolerance; the same +8% on every utterance is."""
    rng = np.random.default_rng(1)
    base = list(rng.uniform(0.5, 1.5, 40))
    noise = rng.normal(0.0, 0.5, 40)
    noisy = [t * max(0.05, 1.08 + n) for t, n in zip(base, noise, strict=True)]
    wide = checks.rtf_run(timed(base), timed(noisy), 1.0, QUIET, 0.05, samples=500)
    assert wide.ratio_ci95[0] < 1.05 < wide.ratio_ci95[1] and wide.within is True
    steady = checks.rtf_run(timed(base), timed([t * 1.08 for t in base]), 1.0, QUIET, 0.05, samples=500)
    assert steady.within is False
    again = checks.rtf_run(timed(base), timed(noisy), 1.0, QUIET, 0.05, samples=500)
    assert again.ratio_ci95 == wide.ratio_ci95  # seeded: the same interval every time


def test_rtf_verdict_over_the_reruns() -> None:
    base = [0.1] * 10
    within = checks.rtf_run(timed(base), timed(base), 0.1, QUIET, 0.05, samples=50)
    slow = checks.rtf_run(timed(base), timed([0.2] * 10), 0.2, QUIET, 0.05, samples=50)
    fast = checks.rtf_run(timed(base), timed([0.05] * 10), 0.05, QUIET, 0.05, samples=50)
    busy = checks.rtf_run(timed(base), timed([0.2] * 10), 0.2, BUSY, 0.05, samples=50)
    assert busy.within is None
    cases = [
        ((within,), Verdict.PASS),
        ((busy,), Verdict.INCONCLUSIVE),
        ((slow,), Verdict.INCONCLUSIVE),  # outside once: never a flag without the confirming re-run
        ((slow, slow), Verdict.FAIL),
        ((fast, fast), Verdict.FAIL),
        ((slow, within), Verdict.PASS),
        ((slow, fast), Verdict.PASS),  # the two re-runs disagree: not confirmed
        ((slow, busy), Verdict.INCONCLUSIVE),
    ]
    for runs, expected in cases:
        check = checks.compare_rtf(0.1, list(runs), 0.05, "CPU")
        assert check.verdict is expected, (runs, check)
    failed = checks.compare_rtf(0.1, [slow, slow], 0.05, "CPU")
    assert "±5% (CPU) in both re-runs" in failed.detail and "re-run 2: +100.0%" in failed.detail


def test_eval_set_data_and_hardware_class() -> None:
    a = EvalSetSource("s", "data/s", sha256="1" * 64)
    assert checks.compare_eval_sets([a], [a]).verdict is Verdict.PASS
    changed = checks.compare_eval_sets([a], [EvalSetSource("s", "data/s", sha256="2" * 64)])
    assert changed.verdict is Verdict.FAIL and changed.detail == "changed: s"
    a10 = Hardware(device="cuda:0", gpu_class="A10G")
    assert checks.compare_hardware(a10, Hardware(device="cuda:0", gpu_class="a10g")).verdict is Verdict.PASS
    assert checks.compare_hardware(a10, Hardware(device="cuda:0", gpu_class="H100")).verdict is Verdict.FAIL


def test_table_shows_every_check_side_by_side_and_the_evidence() -> None:
    table = checks.render_table(make_audit())
    assert "published" in table and "re-run" in table and "difference" in table
    for name in ("weight files", "predictions", "RTF", "hardware class"):
        assert name in table
    assert "+4.2%" in table and "SKIPPED" in table and "seed 42" in table
    assert "s/utt1: published 'hello' | re-run 'hello again'" in table
    assert table.endswith("verdict: FAILED (predictions)")
