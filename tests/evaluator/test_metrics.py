"""evaluator.metrics against hand-computed values: corpus WER, normalization, CI, timing, aggregation."""

from __future__ import annotations

import json
import math

import pytest

from evaluator.metrics import aggregate, english_normalizer, get_normalizer, score_eval_set
from openasr_core.records import DatasetScore, PredictionRow


def lower(text: str) -> str:
    """A trivial normalizer, so WER tests do not depend on Whisper's rules."""
    return text.lower()


def row(ref: str, hyp: str, duration_s: float = 1.0, time_s: float = 0.1, id: str = "u") -> PredictionRow:
    return PredictionRow(id=id, reference=ref, prediction=hyp, duration_s=duration_s, time_s=time_s)


def score(rows: list[PredictionRow], normalize=lower, **kwargs) -> DatasetScore:
    return score_eval_set(rows, normalize, **kwargs)


def set_score(*, wer: float = 0.1, audio_s: float = 10.0, time_s: float = 1.0, rtf_p99: float = 0.1) -> DatasetScore:
    return DatasetScore(
        wer=wer,
        wer_ci95=(wer, wer),
        substitutions=0,
        deletions=0,
        insertions=0,
        ref_words=10,
        utterances=1,
        audio_s=audio_s,
        time_s=time_s,
        rtf=time_s / audio_s,
        rtfx=audio_s / time_s,
        latency_p50_s=time_s,
        latency_p90_s=time_s,
        latency_p99_s=time_s,
        utterance_rtf_p99=rtf_p99,
    )


# --- WER ------------------------------------------------------------------------------------------------


def test_known_substitutions_deletions_insertions():
    # the cat [sat->sit] on [the->mat] mat [+extra]: the only 3-edit alignment (LCS is 4 words, so D=0
    # would need S=2, I=1; any deletion costs more).
    s = score([row("the cat sat on the mat", "the cat sit on mat mat extra")])
    assert (s.substitutions, s.deletions, s.insertions, s.ref_words) == (2, 0, 1, 6)
    assert s.wer == 0.5
    assert s.utterances == 1


def test_counts_add_across_utterances():
    # "a b c d" -> "a c d": one deletion. Together with the first: S=2, D=1, I=1 over 10 words.
    s = score([row("the cat sat on the mat", "the cat sit on mat mat extra"), row("a b c d", "a c d")])
    assert (s.substitutions, s.deletions, s.insertions, s.ref_words) == (2, 1, 1, 10)
    assert s.wer == pytest.approx(0.4)
    assert s.utterances == 2


def test_corpus_wer_is_not_the_mean_of_utterance_wers():
    # Utterance 1: 1 word, 1 substitution (WER 1.0). Utterance 2: 9 words, exact (WER 0.0).
    # Mean of per-utterance WERs would be 0.5; corpus WER is 1 error / 10 words.
    nine = "one two three four five six seven eight nine"
    rows = [row("hello", "world"), row(nine, nine)]
    s = score(rows)
    assert s.wer == pytest.approx(0.1)
    assert s.wer != pytest.approx(0.5)
    assert (s.substitutions, s.ref_words) == (1, 10)


def test_empty_prediction_is_all_deletions():
    s = score([row("one two three", "")])
    assert (s.substitutions, s.deletions, s.insertions, s.ref_words) == (0, 3, 0, 3)
    assert s.wer == 1.0


def test_prediction_that_normalizes_to_empty_is_all_deletions():
    # Whisper's normalizer removes fillers like "uh" and "hmm" entirely.
    s = score([row("red blue", "uh hmm"), row("green gray", "green gray")], english_normalizer())
    assert (s.substitutions, s.deletions, s.insertions, s.ref_words) == (0, 2, 0, 4)
    assert s.wer == 0.5


# --- normalization --------------------------------------------------------------------------------------


def test_whisper_normalizer_spelling_titles_punctuation_and_case():
    norm = english_normalizer()
    assert norm("Mr. Smith's colour") == norm("mister smith's color")
    assert norm("Hello, World!") == "hello world"
    s = score(
        [row("Mr. Smith's colour", "mister smith's color"), row("Hello, World!", "hello world")],
        norm,
    )
    assert s.wer == 0.0
    assert s.ref_words > 0


def test_without_normalization_the_same_pair_has_errors():
    s = score([row("Hello, World!", "hello world")], lambda t: t)
    assert s.substitutions == 2


def test_get_normalizer_known_and_cached():
    assert get_normalizer("whisper-english") is english_normalizer()


def test_get_normalizer_unknown_name_lists_known_ones():
    with pytest.raises(ValueError, match="whisper-english"):
        get_normalizer("basic")


# --- empty references -----------------------------------------------------------------------------------


def test_empty_references_are_skipped_and_counted_but_timed():
    rows = [
        row("red blue", "red blue", duration_s=2.0, time_s=0.2),
        row("", "noise", duration_s=1.0, time_s=0.1),  # raw empty
        row("uh", "", duration_s=3.0, time_s=0.3),  # empty once normalized
        row("green", "greed", duration_s=4.0, time_s=0.4),
    ]
    s = score(rows, english_normalizer(), skipped_empty_references=3)
    assert s.skipped_empty_references == 5  # 3 dropped by the loader + 2 here
    assert s.utterances == 2
    assert (s.substitutions, s.deletions, s.insertions, s.ref_words) == (1, 0, 0, 3)
    assert s.wer == pytest.approx(1 / 3)  # "noise" against an empty reference is not an insertion
    assert s.audio_s == pytest.approx(10.0)  # every row was transcribed, so every row is timed
    assert s.time_s == pytest.approx(1.0)


def test_no_scorable_reference_raises():
    with pytest.raises(ValueError, match="non-empty reference"):
        score([row("", "something"), row("uh", "")], english_normalizer())
    with pytest.raises(ValueError, match="non-empty reference"):
        score([])


# --- confidence interval --------------------------------------------------------------------------------

VARIED = [
    ("a b c d e", "a b c d e"),
    ("a b c d e", "a x c d e"),
    ("a b c", "x y z"),
    ("a b c d", "a b"),
    ("a b", "a b c d"),
    ("a b c d e f", "a b c d e f"),
    ("a", ""),
    ("a b c d", "a b c x"),
]


def varied_rows(times: int = 1) -> list[PredictionRow]:
    return [row(r, h, id=f"{k}-{i}") for k in range(times) for i, (r, h) in enumerate(VARIED)]


def test_ci_contains_wer_and_is_deterministic():
    s = score(varied_rows(), seed=7)
    lo, hi = s.wer_ci95
    assert lo <= s.wer <= hi
    assert lo < hi
    assert score(varied_rows(), seed=7).wer_ci95 == s.wer_ci95
    assert score(varied_rows(), seed=8).wer_ci95 != s.wer_ci95


def test_ci_narrows_with_ten_times_the_utterances():
    small = score(varied_rows(1))
    large = score(varied_rows(10))
    assert large.wer == pytest.approx(small.wer)
    assert large.wer_ci95[1] - large.wer_ci95[0] < small.wer_ci95[1] - small.wer_ci95[0]
    assert large.wer_ci95[0] <= large.wer <= large.wer_ci95[1]


def test_ci_is_a_point_when_every_utterance_has_the_same_wer():
    s = score([row("a b", "a x"), row("c d e f", "c d y z")])
    assert s.wer_ci95 == (0.5, 0.5)


def test_bootstrap_is_blockwise_identical_to_one_draw(monkeypatch):
    import evaluator.metrics as metrics

    whole = score(varied_rows(3), bootstrap_samples=500, seed=3).wer_ci95
    monkeypatch.setattr(metrics, "_BOOTSTRAP_BLOCK_ELEMENTS", 7 * 24)  # 7 resamples per block
    assert score(varied_rows(3), bootstrap_samples=500, seed=3).wer_ci95 == whole


# --- timing ---------------------------------------------------------------------------------------------


def test_rtf_and_percentiles_on_hand_made_timings():
    durations = [1.0, 2.0, 3.0, 4.0]
    times = [0.5, 0.5, 1.0, 3.0]
    s = score([row("a", "a", d, t) for d, t in zip(durations, times, strict=True)])
    assert s.audio_s == 10.0
    assert s.time_s == 5.0
    assert s.rtf == 0.5
    assert s.rtfx == 2.0
    # Linear interpolation over sorted times [0.5, 0.5, 1, 3]: position q/100 * 3.
    assert s.latency_p50_s == pytest.approx(0.75)  # 1.5 -> halfway between 0.5 and 1
    assert s.latency_p90_s == pytest.approx(2.4)  # 2.7 -> 1 + 0.7 * 2
    assert s.latency_p99_s == pytest.approx(2.94)  # 2.97 -> 1 + 0.97 * 2
    # Per-utterance RTF sorted: [0.25, 1/3, 0.5, 0.75]; p99 at 2.97 -> 0.5 + 0.97 * 0.25
    assert s.utterance_rtf_p99 == pytest.approx(0.7425)


def test_whisper_normalizer_joins_spoken_numbers():
    # Not a bug of ours, but worth pinning: spoken digits become one token, so "one two" is ONE word.
    assert english_normalizer()("one two three") == "123"


def test_zero_time_and_zero_duration_guards():
    s = score([row("a", "a", 1.0, 0.0)])
    assert (s.rtf, s.rtfx, s.utterance_rtf_p99) == (0.0, math.inf, 0.0)
    s = score([row("a", "a", 0.0, 0.5)])
    assert (s.rtf, s.rtfx, s.utterance_rtf_p99) == (math.inf, 0.0, math.inf)
    # One zero-duration utterance among 50 fast ones: p99 (position 49.5 of 0..50) interpolates into it.
    rows = [row("a", "a", 1.0, 0.1) for _ in range(50)] + [row("a", "a", 0.0, 0.1)]
    assert score(rows).utterance_rtf_p99 == math.inf
    # Among 200, p99 (position 198 of 0..200) lands exactly on a finite value.
    rows = [row("a", "a", 1.0, 0.1) for _ in range(200)] + [row("a", "a", 0.0, 0.1)]
    assert score(rows).utterance_rtf_p99 == pytest.approx(0.1)


def test_numbers_are_python_types_and_serialize():
    s = score(varied_rows())
    for name in (
        "wer",
        "audio_s",
        "time_s",
        "rtf",
        "rtfx",
        "latency_p50_s",
        "latency_p90_s",
        "latency_p99_s",
        "utterance_rtf_p99",
    ):
        assert type(getattr(s, name)) is float, name
    assert all(type(v) is float for v in s.wer_ci95)
    for name in ("substitutions", "deletions", "insertions", "ref_words", "utterances", "skipped_empty_references"):
        assert type(getattr(s, name)) is int, name
    assert DatasetScore.from_dict(json.loads(s.to_json())) == s


# --- aggregate ------------------------------------------------------------------------------------------


def rtf_rows(*rtfs: float) -> list[PredictionRow]:
    """Prediction rows of 1 s each whose per-utterance RTFs are `rtfs`."""
    return [row("a", "a", duration_s=1.0, time_s=r, id=f"u{i}") for i, r in enumerate(rtfs)]


def test_aggregate_unweighted_wer_and_pooled_rtf():
    scores = {
        "big": set_score(wer=0.1, audio_s=100.0, time_s=10.0),  # RTF 0.1
        "small": set_score(wer=0.3, audio_s=10.0, time_s=9.0),  # RTF 0.9
    }
    agg = aggregate(scores, 1.0, {"big": rtf_rows(0.1), "small": rtf_rows(0.9)})
    assert agg.avg_wer == pytest.approx(0.2)  # not weighted by size
    assert agg.rtf == pytest.approx(19 / 110)  # pooled by duration
    assert agg.rtf != pytest.approx(0.5)  # the mean of per-set RTFs
    assert agg.rtfx == pytest.approx(110 / 19)
    assert type(agg.avg_wer) is float and type(agg.rtf) is float and type(agg.rtfx) is float


@pytest.mark.parametrize(
    ("sets", "max_rtf", "expected"),
    [
        (((0.5,), (0.9,)), 1.0, True),
        (((0.5,), (1.0,)), 1.0, True),  # at the limit still meets it
        (((0.5,), (1.01,)), 1.0, False),  # p99 over two utterances sits close to the slower one
        (((0.5,), (0.9,)), 0.8, False),
        (((0.1,) * 49, (2.0,)), 1.0, False),  # 1 slow utterance in 50: interpolated p99 above 1
        (((0.1,) * 199, (5.0,)), 1.0, True),  # 1 slow utterance in 200 is under 1%
    ],
)
def test_meets_realtime_around_max_rtf(sets, max_rtf, expected):
    rows = {f"s{i}": rtf_rows(*rtfs) for i, rtfs in enumerate(sets)}
    scores = {name: set_score() for name in rows}
    assert aggregate(scores, max_rtf, rows).meets_realtime is expected


def test_meets_realtime_is_per_entry_not_per_set():
    """R3 is per entry: sets [0.5, 1.0] and [0.5, 1.0] have per-set p99 0.995 each, but the pooled p99 is 1.0."""
    rows = {"a": rtf_rows(0.5, 1.0), "b": rtf_rows(0.5, 1.0)}
    scores = {name: score(r) for name, r in rows.items()}
    assert all(s.utterance_rtf_p99 == pytest.approx(0.995) for s in scores.values())
    assert aggregate(scores, 0.996, rows).meets_realtime is False  # pooled p99 1.0 > 0.996
    assert aggregate(scores, 1.0, rows).meets_realtime is True


def test_aggregate_of_nothing_raises():
    with pytest.raises(ValueError):
        aggregate({}, 1.0, {})
    with pytest.raises(ValueError, match="prediction rows"):
        aggregate({"a": set_score()}, 1.0, {})


def test_long_utterances_and_exclusions_are_counted():
    rows = [row("a b", "a b", duration_s=12.0), row("c", "c", duration_s=40.0), row("d", "d", duration_s=30.0)]
    s = score(rows, excluded_references=2)
    assert (s.long_utterances, s.excluded_references) == (1, 2)  # 30.0 s exactly is one Whisper window
