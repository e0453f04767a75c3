"""The Log page: whether the public hash chain verifies, and the searchable list of every event."""

from __future__ import annotations

import gradio as gr

from leaderboard.data import BoardSource
from leaderboard.log_view import chain_markdown, damaged_markdown, log_frame
from leaderboard.pages.board import Update
from leaderboard.pages.serving import READ_ONLY

#: The Event column fits the longest event name (`⚠️ audit_attempt_failed`) on one line; see `style.CSS`.
LOG_WIDTHS = ["56px", "165px", "200px", "220px", "150px", "360px", "130px"]


class LogPage:
    """The components of the Log tab; build inside its `gr.Tab`."""

    def __init__(self, source: BoardSource) -> None:
        self.source = source
        self.chain = gr.Markdown(elem_id="log-chain")
        self.search = gr.Textbox(
            label="Search the log", placeholder="model, request id, event, user …", elem_id="log-search"
        )
        self.table = gr.Dataframe(
            interactive=False,
            wrap=True,
            show_label=False,
            elem_id="log-table",
            max_height=720,
            column_widths=LOG_WIDTHS,
        )

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [self.chain, self.table]

    def wire(self) -> None:
        self.search.change(
            self.render,
            inputs=[self.search],
            outputs=self.outputs,
            trigger_mode="always_last",
            show_progress="hidden",
            **READ_ONLY,
        )

    def render(self, text: str | None) -> Update:
        loaded = self.source.get()
        query = (text or "").strip()
        chain = loaded.cached("chain", loaded.snapshot.verify_log)
        frame = loaded.cached(("log", query), lambda: log_frame(loaded.snapshot.log, query))
        damaged = damaged_markdown(loaded.snapshot.damaged)
        return {self.chain: chain_markdown(chain) + (f"\n\n{damaged}" if damaged else ""), self.table: frame}
