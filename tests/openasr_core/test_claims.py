"""R15: claims read from real-format files (a Whisper card's model-index, an `.eval_results` file in the Hub's
documented format), mapped to the board's eval sets, their units decided, compared with the measurement; bad
files refused one line per file, never raising."""

from __future__ import annotations

from pathlib import Path

import pytest

from openasr_core.claims import (
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    average_gap,
    compare,
    parse_value,
    read_claims,
    with_claims,
)
from openasr_core.config import EvalSetConfig, load_config
from openasr_core.records import Result
from openasr_core.signing import generate_keypair, sign_result, verify_result
from testkit.factories import make_result

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "claims"
ESB = load_config(Path(__file__).resolve().parents[2] / "configs" / "esb-v1.toml").eval_sets
CARD = (FIXTURES / "whisper-base-card.md").read_bytes()
EVAL_RESULTS = (FIXTURES / "open_asr_leaderboard.yaml").read_bytes()


def test_a_whisper_cards_model_index_maps_to_the_esb_librispeech_sets_in_percent() -> None:
    read = read_claims({"README.md": CARD}, ESB)
    by_set = {c.eval_set: c for c in read.claims}
    assert set(by_set) == {"librispeech_test_clean", "librispeech_test_other"}
    clean = by_set["librispeech_test_clean"]
    assert clean.wer == pytest.approx(0.05008769117619326) and clean.unit == "percent"
    assert clean.as_written == "5.008769117619326" and clean.dataset == "librispeech_asr:clean:test"
    assert clean.source.file == "README.md" and clean.source.entry == "model-index[0].results[0].metrics[0]"
    assert read.unmatched == 1, "Common Voice Hindi is no eval set of this board"
    assert read.problems == []


def test_an_eval_results_file_keeps_source_date_and_notes_and_skips_non_wer_tasks() -> None:
    read = read_claims({".eval_results/open_asr_leaderboard.yaml": EVAL_RESULTS}, ESB)
    assert [(c.eval_set, c.wer) for c in read.claims] == [
        ("librispeech_test_clean", pytest.approx(0.051)),
        ("librispeech_test_other", pytest.approx(0.124)),
    ]
    first = read.claims[0]
    assert first.source.file == ".eval_results/open_asr_leaderboard.yaml" and first.source.entry == "entry 1"
    assert first.source.url == "https://huggingface.co/spaces/hf-audio/open_asr_leaderboard"
    assert first.date == "2025-01-15" and first.notes == "batch size 64, A100-SXM4-80GB, Whisper normalizer"
    assert read.unmatched == 2, "mean WER and RTFx map to no eval set"


def test_units_fractions_when_every_value_is_at_most_one_percent_sign_wins() -> None:
    local = [EvalSetConfig(name="ljspeech-sample", path=Path("x"))]
    fractions = b"- dataset: {id: ljspeech-sample}\n  value: 0.063\n"
    percent = b"- dataset: {id: ljspeech-sample}\n  value: '0.9%'\n"
    assert read_claims({".eval_results/a.yaml": fractions}, local).claims[0].wer == pytest.approx(0.063)
    claim = read_claims({".eval_results/a.yaml": percent}, local).claims[0]
    assert claim.wer == pytest.approx(0.009) and claim.unit == "percent" and claim.as_written == "0.9%"
    assert parse_value("20.0 ± 1.2") == (20.0, "20.0 ± 1.2", False), "model-index's documented `20.0 ± 1.2`"


def test_a_claim_naming_less_than_the_pattern_does_not_match() -> None:
    vague = b"---\nmodel-index:\n- results:\n  - dataset: {type: librispeech_asr}\n    metrics: [{type: wer, value: 3}]\n---\n"
    read = read_claims({"README.md": vague}, ESB)
    assert read.claims == [] and read.unmatched == 1, "LibriSpeech alone could be clean or other"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"- dataset: {id: x\n  value: [", "not valid YAML"),
        (b"a: &a [1]\nb: *a\n", "aliases"),
        (b"dataset: {id: x}\n", "must be a YAML list"),
        (b"- dataset: {id: ljspeech-sample}\n  value: abc\n", "entry 1: value 'abc' is not a number"),
        (b"- dataset: {id: ljspeech-sample}\n  value: .nan\n", "is not a WER"),
        (b"- dataset: {id: ljspeech-sample}\n  value: true\n", "is not a number"),
        (b"- value: 3\n", "entry 1: no `dataset:` map"),
        (b"\xff\xfe", "not UTF-8"),
        (b"#" * (MAX_FILE_BYTES + 1), "over the 262,144-byte limit"),
    ],
)
def test_a_bad_file_is_reported_by_name_and_read_around(content: bytes, expected: str) -> None:
    local = [EvalSetConfig(name="ljspeech-sample", path=Path("x"))]
    good = b"- dataset: {id: ljspeech-sample}\n  value: 5.1\n"
    read = read_claims({".eval_results/bad.yaml": content, ".eval_results/good.yaml": good}, local)
    assert [c.source.file for c in read.claims] == [".eval_results/good.yaml"], "the good file is still read"
    assert read.problems and read.problems[0].startswith("could not read .eval_results/bad.yaml: ")
    assert expected in read.problems[0]


def test_thousands_of_entries_and_markup_are_capped_and_kept_as_text() -> None:
    local = [EvalSetConfig(name="ljspeech-sample", path=Path("x"))]
    marked = "<img src=x onerror=alert(1)> [x](https://e.vil) " + "A" * 900
    first = f"- dataset: {{id: ljspeech-sample}}\n  value: 5\n  notes: '{marked}'\n"
    entry = "- dataset: {id: ljspeech-sample}\n  value: 5\n"
    read = read_claims({".eval_results/many.yaml": (first + entry * 4999).encode()}, local)
    assert len(read.claims) == 5, "at most 5 claims per eval set are kept"
    assert any(f"5,000 entries; only the first {MAX_ENTRIES} were read" in p for p in read.problems)
    notes = read.claims[0].notes or ""
    assert notes.startswith("<img src=x") and len(notes) < 400 and "characters)" in notes, "cut, escaped on show"


def _result() -> Result:
    return make_result("r1", wers={"librispeech_test_clean": 0.063, "librispeech_test_other": 0.13}, signature=None)


def test_compare_gives_the_gap_in_points_and_the_average_over_sets_with_claims() -> None:
    read = read_claims({".eval_results/open_asr_leaderboard.yaml": EVAL_RESULTS, "README.md": CARD}, ESB)
    result = with_claims(_result(), read)
    clean = result.claims["librispeech_test_clean"]
    assert [c.source.file for c in clean] == [".eval_results/open_asr_leaderboard.yaml", "README.md"]
    assert clean[0].claimed_wer == pytest.approx(0.051) and clean[0].measured_wer == 0.063
    assert clean[0].gap_points == pytest.approx(1.2)
    assert average_gap(result) == pytest.approx((1.2 + 0.6) / 2), "the first claim of each set"
    assert compare(None, result.datasets) == {} and average_gap(_result()) is None


def test_claims_are_signed_and_a_result_without_claims_serializes_as_before() -> None:
    private, public = generate_keypair()
    plain = _result()
    assert "claims" not in plain.to_dict(), "old records keep their exact bytes and signatures"
    signed = sign_result(with_claims(plain, read_claims({"README.md": CARD}, ESB)), private)
    assert verify_result(Result.from_dict(signed.to_dict()), public)
    tampered = signed.to_dict()
    tampered["claims"]["librispeech_test_clean"][0]["claimed_wer"] = 0.5
    assert not verify_result(Result.from_dict(tampered), public), "the signature covers the claims"
