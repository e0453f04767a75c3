"""The Plot page: average WER against RTF for the Leaderboard page's current view."""

from __future__ import annotations

import gradio as gr
from gradio.components.plot import PlotData

from leaderboard.data import Loaded
from leaderboard.pages.board import Update
from leaderboard.scatter import scatter_json
from leaderboard.table import BoardView, Filters


class PlotPage:
    """The components of the Plot tab; build inside its `gr.Tab`."""

    def __init__(self, max_rtf: float) -> None:
        self.max_rtf = max_rtf
        gr.Markdown(
            "Average WER against RTF (log scale): lower-left is better. The dotted staircase is the "
            "**Pareto front**, the entries no other entry beats on both accuracy and speed. The plot shows "
            "the entries of the Leaderboard tab's current view (its filters apply); entries whose signature "
            "does not verify are never plotted."
        )
        self.plot = gr.Plot(show_label=False, elem_id="lb-plot")

    def render(self, view: BoardView, filters: Filters, loaded: Loaded) -> Update:
        """The figure for `view`, serialized once per store version and set of entries shown (the sort and the
        columns do not change the plot), as plotly JSON built without plotly's figure objects (`scatter_json`);
        gradio passes an already serialized plot through."""

        def serialized() -> PlotData:
            return PlotData(
                type="plotly",
                plot=scatter_json(view.raw, max_rtf=self.max_rtf, board_entries=len(loaded.board.entries)),
            )

        return {self.plot: loaded.cached(("plot", frozenset(view.request_ids)), serialized)}
