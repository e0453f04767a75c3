"""The detail page says how the model was decoded, what of its own settings was ignored, and what was left out."""

from __future__ import annotations

import dataclasses

from leaderboard.detail import decoding_section
from tests.leaderboard.factories import make_result


def test_ignored_settings_are_listed_escaped_with_the_counts() -> None:
    result = make_result("r1")
    ami = dataclasses.replace(result.datasets["ami"], excluded_references=3, long_utterances=2)
    result = result.replace(
        decoding={"strategy": "greedy", "language": "en"},
        ignored_settings=["generation_config.json: repetition_penalty=1.3", "x: <script>alert(1)</script>"],
        datasets={**result.datasets, "ami": ami},
    )
    text = decoding_section(result)
    assert "<th>strategy</th><td>greedy</td>" in text
    assert "repetition_penalty=1.3" in text and "evaluated without them" in text
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "`ami`: 3 reference(s) marked" in text and "`ami`: 2 utterance(s) over 30 s" in text
    assert "librispeech" not in text  # nothing to say about a set with nothing left out


def test_a_result_from_before_the_decoding_record_says_so() -> None:
    text = decoding_section(make_result("r1"))
    assert "not recorded" in text and "Ignored" not in text
