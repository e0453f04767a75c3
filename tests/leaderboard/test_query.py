"""Filters survive a round trip through the URL query string, and bad links never break the page."""

from __future__ import annotations

import pytest

from leaderboard.query import filters_from_query, filters_to_query
from leaderboard.table import Filters


def test_default_view_has_an_empty_query() -> None:
    assert filters_to_query(Filters()) == ""
    assert filters_from_query({}) == Filters()


@pytest.mark.parametrize(
    "filters",
    [
        Filters(search="whisper large"),
        Filters(licenses=("mit", "apache-2.0")),
        Filters(precisions=("float16",), families=("whisper", "wav2vec2")),
        Filters(params_min_m=10, params_max_m=1500.5),
        Filters(realtime_only=True, official_only=False),
        Filters(sort="wer.librispeech_test_clean"),
        Filters(columns=("avg_wer", "rtf", "wer.ami")),
        Filters(columns=()),
        Filters(
            search="openai/",
            licenses=("cc-by-4.0",),
            precisions=("bfloat16", "float32"),
            families=("whisper",),
            params_min_m=0.5,
            params_max_m=300,
            realtime_only=True,
            official_only=False,
            sort="rtf",
            columns=("rtf",),
        ),
    ],
)
def test_round_trip(filters: Filters) -> None:
    query = filters_to_query(filters)
    assert filters_from_query(query) == filters
    assert filters_from_query("?" + query) == filters


def test_query_is_readable() -> None:
    query = filters_to_query(Filters(precisions=("float16", "bfloat16"), params_max_m=300, official_only=False))
    assert query == "precision=float16,bfloat16&pmax=300&official=0"


def test_malformed_values_keep_their_defaults() -> None:
    filters = filters_from_query({"pmin": "lots", "pmax": "-3", "realtime": "maybe", "official": "", "q": "  "})
    assert filters == Filters()
    assert filters_from_query({"pmax": "inf"}).params_max_m is None


def test_lists_are_deduplicated_and_trimmed() -> None:
    assert filters_from_query({"precision": " float16 ,float16,, bfloat16"}).precisions == ("float16", "bfloat16")


def test_special_characters_in_search_survive() -> None:
    filters = Filters(search="a&b=c #d")
    assert filters_from_query(filters_to_query(filters)) == filters
