"""The Space's pages (gradio 6): Leaderboard, Plot, Model detail, Submit, Queue, Log, About.

Each page is a class in `leaderboard.pages` that owns its components; this module lays the pages out as tabs
and wires what crosses pages: the filters driving both the table and the plot, a row click opening the
detail page, the page load restoring a shared URL, the URL following the page, and the timer that re-renders
when the store moves on. Callbacks return `{component: value}` dicts, read the cached snapshot and board
(`leaderboard.data.BoardSource`, with a memo per store version) and mutate no global; per-visitor state
lives in components and `gr.State`. Every event but the submission only reads, so none of them queues
behind another visitor's (`concurrency_limit=None`).
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from leaderboard.about import about_markdown
from leaderboard.data import Loaded
from leaderboard.pages.board import BoardPage, Update
from leaderboard.pages.context import AppContext, on_space, resolve_submitter, show_login_button
from leaderboard.pages.detail import DetailPage
from leaderboard.pages.format import (
    filters_from_controls,
    header_html,
    number_text,
    sanitize,
    status_line,
    styled,
    write_csv,
)
from leaderboard.pages.log import LogPage
from leaderboard.pages.plot import PlotPage
from leaderboard.pages.queue import QueuePage
from leaderboard.pages.style import CSS, theme
from leaderboard.pages.submit import SubmitPage
from leaderboard.query import BOARD_TAB, DETAIL_TAB, filters_from_query, page_query
from leaderboard.table import Filters

__all__ = [
    "CSS",
    "AppContext",
    "Ui",
    "build_demo",
    "filters_from_controls",
    "number_text",
    "on_space",
    "resolve_submitter",
    "sanitize",
    "show_login_button",
    "status_line",
    "styled",
    "theme",
    "write_csv",
]

TABS = {
    "leaderboard": "🏆 Leaderboard",
    "plot": "📈 Plot",
    "detail": "🔎 Model detail",
    "submit": "🚀 Submit",
    "queue": "⏳ Queue",
    "log": "📜 Log",
    "about": "ℹ️ About",
}
BOARD_REFRESH_S = 5.0
READ_ONLY: dict[str, Any] = {"concurrency_limit": None}  # reads never wait for another visitor's event

URL_SYNC_JS = """
(query) => {
  const q = query || "";
  const url = q ? `?${q}` : window.location.pathname;
  window.history.replaceState(null, "", url);
  if (window.parent !== window) {  // inside the Space's iframe: update the huggingface.co page's URL too
    try { window.parent.postMessage({ queryString: q }, "https://huggingface.co"); } catch (e) {}
  }
  return [];
}
"""


class Ui:
    """Every page, laid out as tabs, with its events; `demo` is what `app.py` serves."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        first = ctx.source.get()
        # delete_cache: gradio copies every served file (the CSVs) into its cache; clear copies older than a day.
        with gr.Blocks(title=ctx.config.title, fill_width=True, delete_cache=(3600, 86400)) as self.demo:
            self.header = gr.HTML(header_html(ctx.config, first))
            self._build_tabs(first)
            self.tab = gr.Textbox(value=BOARD_TAB, visible=False, elem_id="lb-tab")  # the open tab's id
            self.query = gr.Textbox(visible=False, elem_id="lb-query")  # the URL's query string
            self.board_timer = gr.Timer(BOARD_REFRESH_S)
            self._wire()

    def _build_tabs(self, first: Loaded) -> None:
        ctx, rules = self.ctx, self.ctx.config.rules
        self.tab_items: dict[str, gr.Tab] = {}
        with gr.Tabs(selected=BOARD_TAB, elem_id="lb-tabs") as self.tabs:
            with self._tab("leaderboard"):
                self.board = BoardPage(first)
            with self._tab("plot"):
                self.plot = PlotPage(rules.max_rtf)
            with self._tab("detail"):
                self.detail = DetailPage(ctx.store, rules.max_rtf)
            with self._tab("submit"):
                self.submit = SubmitPage(ctx)
            with self._tab("queue"):
                self.queue = QueuePage(ctx.source, ctx.scheduler_status, rules.max_attempts)
            with self._tab("log"):
                self.log = LogPage(ctx.source)
            with self._tab("about"):
                gr.Markdown(
                    about_markdown(ctx.config, ctx.results_location, ctx.requests_location, public_key=ctx.public_key),
                    elem_id="about",
                )

    def _tab(self, tab_id: str) -> gr.Tab:
        tab = gr.Tab(TABS[tab_id], id=tab_id)
        self.tab_items[tab_id] = tab
        return tab

    # --- wiring ---------------------------------------------------------------------------------------

    @property
    def view_outputs(self) -> list[gr.components.Component]:
        return [*self.board.outputs, self.plot.plot]

    def _wire(self) -> None:
        board, detail = self.board, self.detail
        for control in board.controls:
            # Text and numbers follow every change of value (typed, pasted, cleared, set from a link); the
            # choice controls change only by a click, and `input` keeps the page load from filtering twice.
            event = control.change if isinstance(control, (gr.Textbox, gr.Number)) else control.input
            event(
                self.on_filters,
                inputs=board.controls,
                outputs=self.view_outputs,
                trigger_mode="always_last",
                show_progress="hidden",
                **READ_ONLY,
            )
        gr.on(
            [board.filters_query.change, self.tab.change, detail.select.change],
            page_query,
            inputs=[board.filters_query, self.tab, detail.select],
            outputs=[self.query],
            trigger_mode="always_last",
            show_progress="hidden",
            **READ_ONLY,
        ).then(None, inputs=[self.query], js=URL_SYNC_JS)
        board.table.select(
            self.on_row_select,
            inputs=[board.rows],
            outputs=[self.tabs, self.tab, detail.select, *detail.outputs],
            **READ_ONLY,
        )
        detail.select.input(self.on_detail, inputs=[detail.select], outputs=detail.outputs, **READ_ONLY)
        detail.wire()
        self.queue.wire()
        self.log.wire()
        self._wire_tabs()
        self._wire_submit()
        self.board_timer.tick(
            self.on_board_tick,
            inputs=[board.version, detail.select, *board.controls],
            outputs=[*self.view_outputs, self.header, detail.select, *detail.outputs],
            show_progress="hidden",
            **READ_ONLY,
        )
        self.demo.load(self.on_load, outputs=self.load_outputs, **READ_ONLY)

    def _wire_tabs(self) -> None:
        outputs = [self.tab, self.queue.timer, *self.queue.outputs, *self.log.outputs, self.submit.help]
        for tab_id, tab in self.tab_items.items():
            tab.select(
                lambda text, tab_id=tab_id: self.on_tab(tab_id, text),
                inputs=[self.log.search],
                outputs=outputs,
                **READ_ONLY,
            )

    def _wire_submit(self) -> None:
        submit, queue = self.submit, self.queue

        def on_submit(
            model: str, revision: str, precision: str, accepted: bool, profile: gr.OAuthProfile | None
        ) -> Update:
            return {**submit.submit(model, revision, precision, accepted, profile), **queue.render()}

        submit.button.click(
            on_submit, inputs=submit.inputs, outputs=[submit.result, *queue.outputs], concurrency_limit=4
        )

    @property
    def load_outputs(self) -> list[gr.components.Component]:
        return [
            self.header,
            *self.board.controls,
            *self.view_outputs,
            self.tabs,
            self.tab,
            self.detail.select,
            *self.detail.outputs,
            self.submit.help,
            *self.queue.outputs,
            self.queue.timer,
            *self.log.outputs,
        ]

    # --- callbacks ------------------------------------------------------------------------------------

    def render_view(self, filters: Filters, loaded: Loaded) -> Update:
        """The Leaderboard table and the Plot for `filters`, computed once per store version and view."""
        view = loaded.cached(("view", filters), lambda: loaded.board.view(filters))
        return {**self.board.render(view, filters, loaded), **self.plot.render(view, filters, loaded)}

    def on_filters(self, *values: Any) -> Update:
        loaded = self.ctx.source.get()
        return self.render_view(self.board.filters(loaded, *values), loaded)

    def on_detail(self, request_id: str | None) -> Update:
        return self.detail.render(self.ctx.source.get(), request_id)

    def on_row_select(self, request_ids: tuple[str, ...], evt: gr.SelectData) -> Update:
        """A click on a row opens that entry's detail; a click on the model's link cell only follows it."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        column = evt.index[1] if isinstance(evt.index, (list, tuple)) and len(evt.index) > 1 else None
        if column == 1 or not isinstance(row, int) or row >= len(request_ids):
            return {}
        return self.open_detail(self.ctx.source.get(), request_ids[row])

    def open_detail(self, loaded: Loaded, request_id: str) -> Update:
        return {
            self.tabs: gr.Tabs(selected=DETAIL_TAB),
            self.tab: DETAIL_TAB,
            **self.detail.choose(loaded, request_id),
            **self.detail.render(loaded, request_id),
        }

    def on_tab(self, tab_id: str, log_search: str | None) -> Update:
        """The open tab is remembered (for the URL); the Queue, Log and Submit pages render when opened."""
        update: Update = {self.tab: tab_id, self.queue.timer: gr.Timer(active=tab_id == "queue")}
        if tab_id == "queue":
            update.update(self.queue.render())
        elif tab_id == "log":
            update.update(self.log.render(log_search))
        elif tab_id == "submit":
            update[self.submit.help] = self.submit.help_markdown()
        return update

    def on_board_tick(self, version: str, detail_id: str | None, *values: Any) -> Update:
        """Re-render only when the store moved on (a new result, a new request), else send nothing."""
        loaded = self.ctx.source.get()
        if loaded.snapshot.version == version:
            return {}
        update = {**self.render_view(self.board.filters(loaded, *values), loaded), self.header: self.header_of(loaded)}
        if detail_id is None and loaded.board.entries:
            detail_id = loaded.board.entries[0].request_id  # the detail page opens on the leader, never blank
            update.update(self.detail.render(loaded, detail_id))
        update.update(self.detail.choose(loaded, detail_id))
        return update

    def header_of(self, loaded: Loaded) -> str:
        return loaded.cached("header", lambda: header_html(self.ctx.config, loaded))

    def on_load(self, request: gr.Request) -> Update:
        """Restore the page a shared URL points at: filters, the open tab, an entry's detail."""
        params = dict(request.query_params) if request is not None else {}
        loaded = self.ctx.source.get()
        board = loaded.board
        filters = sanitize(filters_from_query(params), board)
        tab = params.get("tab") if params.get("tab") in TABS else BOARD_TAB
        detail_id = params.get("detail") or None
        if detail_id:
            tab = DETAIL_TAB
        elif board.entries:
            detail_id = board.entries[0].request_id  # the detail page opens on the leader, never blank
        update: Update = {
            self.header: self.header_of(loaded),
            **self.board.restore(filters, loaded),
            **self.render_view(filters, loaded),
            self.tabs: gr.Tabs(selected=tab),
            **self.detail.choose(loaded, detail_id),
            **self.detail.render(loaded, detail_id),
        }
        update.update(self.on_tab(tab or BOARD_TAB, ""))
        return update


def build_demo(ctx: AppContext) -> gr.Blocks:
    """All pages and their events."""
    return Ui(ctx).demo
