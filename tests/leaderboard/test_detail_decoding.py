"""The detail page says how the model was decoded, what of its own settings was ignored, and what was left out."""

from __future__ import annotations

import dataclasses

from leaderboard.detail_view import decoding_section
from testkit.factories import make_result
from testkit.markdown_render import shown_text


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
    shown = shown_text(text)
    assert "repetition_penalty=1.3" in shown and "evaluated without them" in shown
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert "ami: 3 reference(s) marked" in shown and "ami: 2 utterance(s) over 30 s" in shown
    assert "librispeech" not in text  # nothing to say about a set with nothing left out


def test_a_result_from_before_the_decoding_record_says_so() -> None:
    text = decoding_section(make_result("r1"))
    assert "not recorded" in text and "Ignored" not in text


def test_the_recipe_is_shown_with_its_prompt_and_float32_modules() -> None:
    from leaderboard.detail_view import recipe_section
    from openasr_core.records import RecipeInfo

    recipe = RecipeInfo(
        "voxtral", 1, "voxtral", "audio-language model", "Voxtral's request, language en", ["embed_positions"]
    )
    base = make_result("r1", "org/m")
    shown = recipe_section(base.replace(recipe=recipe, precision="bfloat16"))
    for text in (
        "voxtral v1",
        "voxtral (audio-language model)",
        "Voxtral&#39;s request, language en",
        "embed&#95;positions",
    ):
        assert text in shown
    assert "Kept in float32" not in recipe_section(base.replace(recipe=recipe, precision="float32"))
    assert "not recorded" in recipe_section(base)


def test_a_throughput_record_that_could_not_batch_says_why() -> None:
    from leaderboard.throughput_view import both_tracks, tracks_markdown
    from testkit.factories import make_throughput

    record = make_throughput("r1").replace(chosen_batch_size=1, batching="not batched: kyutai_speech_to_text <why>")
    shown = tracks_markdown(both_tracks(make_result("r1", "org/m"), record))
    assert "| Batch size | 1 | 1 (not batched: kyutai&#95;speech&#95;to&#95;text &lt;why&gt;) |" in shown
