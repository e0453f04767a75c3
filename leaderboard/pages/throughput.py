"""The Throughput page (R14): the offline track's own ranking and its WER-against-RTFx plot.

Its rows come from the store's throughput records (`Store.throughput_results`), read once per store version
(`Loaded.cached`), never from the batch-one board: nothing here can change the Leaderboard's ranking.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from leaderboard.data import Loaded
from leaderboard.pages.board import Update
from leaderboard.throughput_view import (
    NO_THROUGHPUT,
    THROUGHPUT_COLUMNS,
    ThroughputRow,
    throughput_board,
    throughput_figure,
    throughput_frame,
)
from openasr_core.records import ThroughputResult
from openasr_core.store import Store

INTRO = (
    "**Offline throughput**: the same pinned model, precision, eval sets and hardware as the Leaderboard, but "
    "batched (utterances sorted longest first; batch sizes 1, 4, 16, 64, … until the memory runs out or RTFx "
    "stops improving). Ranked by average WER at the chosen batch size; the WER change from batch one is shown, "
    "since padding can change outputs. This track never enters the Leaderboard's ranking or its real-time verdict."
)
DATATYPES = ["str", "str", "str", "number", "number", "number", "number", "number", "str", "str"]


def throughput_records(loaded: Loaded, store: Store) -> dict[str, ThroughputResult]:
    """Every throughput record of the store, read once per store version."""
    return loaded.cached("throughput-records", store.throughput_results)


class ThroughputPage:
    """The components of the Throughput tab; build inside its `gr.Tab`."""

    def __init__(self, store: Store, version: str, verified: Callable[[ThroughputResult], bool] | None) -> None:
        self.store, self.version, self.verified = store, version, verified
        gr.Markdown(INTRO, elem_id="thr-intro")
        self.empty = gr.Markdown(NO_THROUGHPUT, elem_id="thr-empty")
        self.table = gr.Dataframe(
            headers=list(THROUGHPUT_COLUMNS),
            datatype=DATATYPES,
            interactive=False,
            wrap=True,
            show_label=False,
            visible=False,
            elem_id="thr-table",
        )
        self.plot = gr.Plot(show_label=False, elem_id="thr-plot")

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.empty, self.table, self.plot]

    def rows(self, loaded: Loaded) -> list[ThroughputRow]:
        """The ranked rows of this leaderboard version (finished requests only), once per store version."""
        return loaded.cached(
            "throughput-rows",
            lambda: throughput_board(
                throughput_records(loaded, self.store).values(),
                loaded.snapshot.requests,
                leaderboard_version=self.version,
                verified=self.verified,
                flagged={e.request_id for e in loaded.board.entries if e.flagged},
            ),
        )

    def render(self, loaded: Loaded) -> Update:
        rows = self.rows(loaded)
        figure = loaded.cached("throughput-plot", lambda: self.plot.postprocess(throughput_figure(rows)))
        return {
            self.empty: gr.update(visible=not rows),
            self.table: gr.update(value=throughput_frame(rows), visible=bool(rows)),
            self.plot: figure,
        }
