"""Ranking, filtering, sorting, columns and the CSV of the leaderboard table."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from leaderboard.table import (
    BoardInput,
    Filters,
    architecture_family,
    badges,
    build_board,
    csv_frame,
    escape_markdown,
    format_params,
    make_entry,
    model_cell,
    rank_entries,
)
from testkit.factories import make_result
from testkit.markdown_render import rendered_html

SETS = ("ami", "librispeech")


def board_of(*results, local=(), verified=None, eval_sets=SETS):
    return build_board(
        [BoardInput(result=r, local=r.model_id in local) for r in results], eval_sets=eval_sets, verified=verified
    )


def wers(avg: float) -> dict[str, float]:
    return {"ami": avg, "librispeech": avg}


def test_rank_by_average_wer_with_medals_for_the_top_three() -> None:
    board = board_of(
        make_result("r4", "org/d", wers=wers(0.40)),
        make_result("r1", "org/a", wers=wers(0.10)),
        make_result("r3", "org/c", wers=wers(0.30)),
        make_result("r2", "org/b", wers=wers(0.20)),
    )
    assert [(e.model_id, e.rank) for e in board.entries] == [("org/a", 1), ("org/b", 2), ("org/c", 3), ("org/d", 4)]
    cells = list(board.view(Filters()).frame["Model"])
    assert cells[0].startswith("🥇 ") and cells[1].startswith("🥈 ") and cells[2].startswith("🥉 ")
    assert not cells[3].startswith(("🥇", "🥈", "🥉"))
    assert list(board.view(Filters()).frame["Rank"]) == [1, 2, 3, 4]


def test_ties_share_rank_and_medal_and_the_faster_is_listed_first() -> None:
    board = board_of(
        make_result("slow", "org/slow", wers=wers(0.10), rtf=0.5),
        make_result("fast", "org/fast", wers=wers(0.10004), rtf=0.1),  # equal at 0.01 percentage points
        make_result("third", "org/third", wers=wers(0.2)),
    )
    assert [(e.request_id, e.rank) for e in board.entries] == [("fast", 1), ("slow", 1), ("third", 3)]
    cells = list(board.view(Filters()).frame["Model"])
    assert cells[0].startswith("🥇") and cells[1].startswith("🥇") and cells[2].startswith("🥉")


def test_a_difference_visible_at_two_decimals_is_not_a_tie() -> None:
    entries = rank_entries(
        [
            make_entry(BoardInput(make_result("a", wers=wers(0.1000)))),
            make_entry(BoardInput(make_result("b", wers=wers(0.1001)))),
        ]
    )
    assert [(e.request_id, e.rank) for e in entries] == [("a", 1), ("b", 2)]


def test_unofficial_results_are_not_ranked_and_hidden_by_default() -> None:
    board = board_of(
        make_result("cpu", "org/cpu", wers=wers(0.01), official=False, gpu_class="cpu"),
        make_result("gpu", "org/gpu", wers=wers(0.2)),
    )
    assert board.entry("gpu").rank == 1 and board.entry("cpu").rank is None
    assert board.view(Filters()).request_ids == ("gpu",)
    everything = board.view(Filters(official_only=False))
    assert everything.request_ids == ("gpu", "cpu")  # ranked first, then the rest
    assert "unofficial (cpu)" in everything.frame["Badges"].iloc[1]
    assert pd.isna(everything.frame["Rank"].iloc[1])


def test_verifier_ranks_only_verified_results_and_labels_the_rest() -> None:
    board = board_of(
        make_result("good", "org/good", wers=wers(0.2)),
        make_result("forged", "org/forged", wers=wers(0.01)),
        verified=lambda result: result.request_id != "forged",
    )
    assert board.entry("good").rank == 1 and board.entry("forged").rank is None
    frame = board.view(Filters()).frame
    assert "🔏 verified" in frame["Badges"].iloc[0] and "❌ unverified" in frame["Badges"].iloc[1]


def test_without_a_verifier_no_verification_badge_is_shown() -> None:
    board = board_of(make_result("a"))
    assert board.entries[0].verified is None
    assert "verified" not in board.view(Filters()).frame["Badges"].iloc[0]


def test_nan_average_wer_is_never_ranked() -> None:
    board = board_of(make_result("nan", wers={"ami": math.nan}), make_result("ok", wers=wers(0.3)))
    assert board.entry("ok").rank == 1 and board.entry("nan").rank is None


def test_model_cell_links_to_the_hub_or_marks_local_models() -> None:
    board = board_of(
        make_result("hub", "openai/whisper-base"), make_result("loc", "test-org/my_model"), local=("test-org/my_model",)
    )
    hub = model_cell(board.entry("hub"))
    assert '<a href="https://huggingface.co/openai/whisper-base">openai/whisper-base</a>' in rendered_html(hub)
    local = model_cell(board.entry("loc"))
    assert "huggingface.co" not in local and "(local)" in local and "my&#95;model" in local


def test_escape_markdown() -> None:
    assert escape_markdown("org/a_b*c") == "org/a&#95;b&#42;c"


@pytest.mark.parametrize(
    ("architecture", "family"),
    [
        ("WhisperForConditionalGeneration", "whisper"),
        ("Wav2Vec2ForCTC", "wav2vec2"),
        ("HubertForCTC", "hubert"),
        ("ParakeetForTDT", "parakeet_tdt"),
        ("Qwen3ASRForConditionalGeneration", "qwen3_asr"),
        ("SpeechEncoderDecoderModel", "speech-encoder-decoder"),
        ("SeamlessM4TForSpeechToText", "seamlessm4t"),
        (None, "unknown"),
    ],
)
def test_architecture_family(architecture, family) -> None:
    assert architecture_family(architecture) == family


def test_format_params() -> None:
    assert format_params(39_000_000) == "39M"
    assert format_params(1_550_000_000) == "1.55B"
    assert format_params(7_438) == "7.44K"
    assert format_params(None) == ""


def test_badges() -> None:
    entry = make_entry(BoardInput(make_result("a", meets_realtime=True)))
    assert badges(entry) == "✅ official · ⚡ real-time"
    entry = make_entry(BoardInput(make_result("b", meets_realtime=False, official=False, gpu_class="T4")))
    assert badges(entry) == "⚠️ unofficial (T4)"


# --- filters ----------------------------------------------------------------------------------------------


@pytest.fixture
def board():
    return board_of(
        make_result("w-tiny", "openai/whisper-tiny", wers=wers(0.15), parameters=39_000_000, precision="float32"),
        make_result(
            "w-large",
            "openai/whisper-large-v3",
            wers=wers(0.05),
            parameters=1_550_000_000,
            rtf=2.0,
            meets_realtime=False,
        ),
        make_result(
            "w2v",
            "facebook/wav2vec2-base-960h",
            wers=wers(0.09),
            parameters=95_000_000,
            license="apache-2.0",
            architecture="Wav2Vec2ForCTC",
            precision="bfloat16",
        ),
        make_result(
            "cpu", "org/cpu-only", wers=wers(0.2), official=False, gpu_class="cpu", parameters=0, with_model=False
        ),
    )


def ids(board, **filters) -> set[str]:
    return set(board.view(Filters(**filters)).request_ids)


def test_default_filters_show_official_only(board) -> None:
    assert ids(board) == {"w-tiny", "w-large", "w2v"}
    assert ids(board, official_only=False) == {"w-tiny", "w-large", "w2v", "cpu"}


def test_search_matches_every_word_case_insensitively(board) -> None:
    assert ids(board, search="WHISPER") == {"w-tiny", "w-large"}
    assert ids(board, search="whisper large") == {"w-large"}
    assert ids(board, search="wav2vec2") == {"w2v"}
    assert ids(board, search="nothing-like-this") == set()


def test_license_filter(board) -> None:
    assert ids(board, licenses=("apache-2.0",)) == {"w2v"}
    assert ids(board, licenses=("apache-2.0", "mit")) == {"w-tiny", "w-large", "w2v"}


def test_precision_filter(board) -> None:
    assert ids(board, precisions=("float32",)) == {"w-tiny"}
    assert ids(board, precisions=("float16", "bfloat16")) == {"w-large", "w2v"}


def test_family_filter(board) -> None:
    assert board.families == ["unknown", "wav2vec2", "whisper"]
    assert ids(board, families=("wav2vec2",)) == {"w2v"}


def test_parameter_range_filter_leaves_out_unknown_counts(board) -> None:
    assert ids(board, params_max_m=100) == {"w-tiny", "w2v"}
    assert ids(board, params_min_m=50, params_max_m=100) == {"w2v"}
    assert ids(board, params_min_m=1000) == {"w-large"}
    assert "cpu" not in ids(board, official_only=False, params_max_m=10_000)


def test_realtime_filter(board) -> None:
    assert ids(board, realtime_only=True) == {"w-tiny", "w2v"}


def test_filters_combine(board) -> None:
    assert ids(board, search="openai", realtime_only=True, precisions=("float32",)) == {"w-tiny"}


# --- sorting and columns ----------------------------------------------------------------------------------


def test_sort_options(board) -> None:
    assert board.view(Filters()).request_ids == ("w-large", "w2v", "w-tiny")
    assert board.view(Filters(sort="rtf")).request_ids[-1] == "w-large"
    assert board.view(Filters(sort="params")).request_ids == ("w-tiny", "w2v", "w-large")
    assert board.view(Filters(sort="model")).request_ids == ("w2v", "w-large", "w-tiny")
    assert board.view(Filters(sort="wer.ami")).request_ids == ("w-large", "w2v", "w-tiny")
    assert board.view(Filters(sort="no-such-sort")).request_ids == ("w-large", "w2v", "w-tiny")


def test_columns_follow_the_selection_and_rank_and_model_always_show(board) -> None:
    everything = board.view(Filters())
    assert list(everything.frame.columns) == [
        "Rank",
        "Model",
        "Badges",
        "Avg WER (%)",
        "RTF",
        "RTFx",
        "p90 latency (s)",
        "$ per 1,000 audio hours",
        "ami (%)",
        "librispeech (%)",
        "Params",
        "Precision",
        "License",
        "Last audit",
    ]
    assert len(everything.datatypes) == len(everything.frame.columns)
    assert everything.datatypes[1] == "markdown"
    few = board.view(Filters(columns=("rtf", "wer.ami", "unknown")))
    assert list(few.frame.columns) == ["Rank", "Model", "RTF", "ami (%)"]


def test_percentages_in_the_table_fractions_in_the_records(board) -> None:
    frame = board.view(Filters()).frame
    assert frame["Avg WER (%)"].iloc[0] == 5.0
    assert frame["ami (%)"].iloc[0] == 5.0
    assert frame["Params"].iloc[0] == "1.55B"


def test_csv_frame_has_ids_and_percentages(board) -> None:
    view = board.view(Filters(precisions=("float32",)))
    frame = csv_frame(view, board.eval_sets)
    assert list(frame["model_id"]) == ["openai/whisper-tiny"]
    assert frame["avg_wer_pct"].iloc[0] == pytest.approx(15.0)
    assert frame["wer_pct.ami"].iloc[0] == pytest.approx(15.0)
    assert frame["request_id"].iloc[0] == "w-tiny" and frame["rank"].iloc[0] == 3
    assert "rank" in frame.to_csv(index=False).splitlines()[0]


def test_empty_board_views_without_errors() -> None:
    board = board_of()
    view = board.view(Filters(search="x", licenses=("mit",), params_min_m=1, realtime_only=True, sort="rtf"))
    assert view.empty and view.total == 0 and view.request_ids == ()
    assert list(view.frame.columns)[:2] == ["Rank", "Model"]
    assert csv_frame(view, board.eval_sets).empty


def test_eval_sets_only_in_results_get_columns_too() -> None:
    board = board_of(make_result("a", wers={"ami": 0.1, "extra": 0.3}), eval_sets=("ami",))
    assert board.eval_sets == ("ami", "extra")
    assert board.view(Filters()).frame["extra (%)"].iloc[0] == 30.0


def test_missing_dataset_shows_an_empty_cell() -> None:
    board = board_of(make_result("a", wers={"ami": 0.1}), make_result("b", wers={"ami": 0.2, "librispeech": 0.3}))
    frame = board.view(Filters()).frame
    assert frame["librispeech (%)"].isna().iloc[0]


def test_model_facts_fall_back_to_the_request() -> None:
    from openasr_core.records import ModelInfo

    result = make_result("a", with_model=False)
    entry = make_entry(BoardInput(result, model=ModelInfo("bsd-3-clause", 123_000_000, "HubertForCTC")))
    assert (entry.license, entry.parameters, entry.family) == ("bsd-3-clause", 123_000_000, "hubert")


def test_display_rounding_of_number_columns() -> None:
    import numpy as np

    from leaderboard.table import percent_array, significant_array

    values = np.array([0.0123456, 123.456, 0.0, np.inf, np.nan, -0.5])
    assert list(np.nan_to_num(significant_array(values), nan=-1)) == pytest.approx([0.0123, 123.0, 0.0, -1, -1, -0.5])
    assert list(np.nan_to_num(percent_array(np.array([0.063, 0.12346, np.inf])), nan=-1)) == [6.3, 12.35, -1]


def test_only_results_whose_signature_verifies_are_ranked() -> None:
    """R9 on the board: an untouched signed result is ranked; one altered by one character is labelled, not ranked."""
    import dataclasses

    from app import signature_checker
    from openasr_core.signing import generate_keypair, sign_result

    private, public = generate_keypair()
    good = sign_result(make_result("good", "org/good", wers={"s": 0.10}), private)
    bad = sign_result(make_result("bad", "org/bad", wers={"s": 0.05}), private)
    score = bad.datasets["s"]
    tampered = dataclasses.replace(bad, datasets={"s": dataclasses.replace(score, wer=0.04)})
    unsigned = make_result("unsigned", "org/unsigned", wers={"s": 0.01})
    board = build_board(
        [BoardInput(good), BoardInput(tampered), BoardInput(unsigned)],
        eval_sets=("s",),
        verified=signature_checker(public),
    )
    by_id = {e.request_id: e for e in board.entries}
    assert by_id["good"].verified is True and by_id["good"].rank == 1
    assert by_id["bad"].verified is False and by_id["bad"].rank is None
    assert by_id["unsigned"].verified is False and by_id["unsigned"].rank is None
    assert all(
        e.verified is False
        for e in build_board([BoardInput(good)], eval_sets=("s",), verified=signature_checker(None)).entries
    )
