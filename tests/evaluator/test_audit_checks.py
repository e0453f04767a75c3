"""The audit's comparisons as pure functions, and the printed table."""

from __future__ import annotations

import pytest

from core.records import EvalSetSource, Hardware, PredictionRow, Verdict
from evaluator import audit_checks as checks
from tests.core.test_audit_records import make_audit


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


@pytest.mark.parametrize(
    ("rerun", "verdict"), [(0.105, Verdict.PASS), (0.095, Verdict.PASS), (0.1051, Verdict.FAIL), (0.0949, Verdict.FAIL)]
)
def test_rtf_tolerance_is_relative_and_both_ways(rerun: float, verdict: Verdict) -> None:
    assert checks.compare_rtf(0.1, rerun, 0.05).verdict is verdict


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
