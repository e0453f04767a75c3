"""The Space's pages (gradio 6): Leaderboard, Plot, Throughput, Model detail, Submit, Queue, Log, About.

Each page is a class in `leaderboard.pages` that owns its components; this module lays the pages out as tabs
and wires what crosses pages: the filters driving both the table and the plot, a row click opening the
detail page, the page load restoring a shared URL, the URL following the page, and the timer that re-renders
when the store moves on. Callbacks return `{component: value}` dicts, read the cached snapshot and board
(`leaderboard.data.BoardSource`, with a memo per store version) and mutate no global; per-visitor state
lives in components and `gr.State`. Every event but the submission and the audit request only reads, so it
skips gradio's queue (`pages.serving.READ_ONLY`).
"""

from __future__ import annotations

from functools import partial
from typing import Any
from urllib.parse import parse_qsl

import gradio as gr

from leaderboard.about import about_markdown
from leaderboard.audit_request import ask_for_audit
from leaderboard.data import Loaded
from leaderboard.pages.board import BoardPage, Layout, Update
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
from leaderboard.pages.serving import (
    READ_ONLY,
    SERIALIZED,
    cache_component_signatures,
    lazy_session_configs,
    skip_repeated_lookups,
)
from leaderboard.pages.style import CSS, theme
from leaderboard.pages.submit import SubmitPage
from leaderboard.pages.throughput import ThroughputPage
from leaderboard.query import BOARD_TAB, DETAIL_TAB, filters_from_query, page_query
from leaderboard.scheduler import utc_now
from leaderboard.table import BoardView, Filters

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
    "throughput": "🏭 Throughput",
    "detail": "🔎 Model detail",
    "submit": "🚀 Submit",
    "queue": "⏳ Queue",
    "log": "📜 Log",
    "about": "ℹ️ About",
}
BOARD_REFRESH_S = 5.0

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
        cache_component_signatures()
        skip_repeated_lookups()
        lazy_session_configs()
        first = ctx.source.get()
        # delete_cache: gradio copies every served file (the CSVs) into its cache; clear copies older than a day.
        with gr.Blocks(title=ctx.config.title, fill_width=True, delete_cache=(3600, 86400)) as self.demo:
            self.header = gr.HTML(header_html(ctx.config, first))
            self._build_tabs(first)
            # Hidden values that drive events ("hidden" keeps them in the page, so their change events fire).
            self.tab = gr.Textbox(value=BOARD_TAB, visible="hidden", elem_id="lb-tab")  # the open tab's id
            self.query = gr.Textbox(visible="hidden", elem_id="lb-query")  # the URL's query string
            self.url_params = gr.Textbox(visible="hidden", elem_id="lb-url-params")  # the query the page opened with
            self.store_version = gr.Textbox(first.board_version, visible="hidden", elem_id="lb-store-version")
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
            with self._tab("throughput"):
                self.throughput = ThroughputPage(ctx.store, ctx.config.version, ctx.source.verified)
            with self._tab("detail"):
                self.detail = DetailPage(
                    ctx.store, rules.max_rtf, ctx.source.verified, ctx.current_work, ctx.config.throughput
                )
            with self._tab("submit"):
                self.submit = SubmitPage(ctx)
            with self._tab("queue"):
                self.queue = QueuePage(
                    ctx.source,
                    ctx.scheduler_status,
                    rules.max_attempts,
                    dispatch_status=ctx.dispatch_status,
                    current_work=ctx.current_work,
                    throughput=ctx.config.throughput,
                )
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
        """What a filter change sends: the Leaderboard tab's table and its companions. The plot is drawn when
        its tab opens (`on_plot_tab`), not on every visit and filter change (a plotly figure of 1,000 points
        is a third of what a page load sends)."""
        return self.board.outputs

    def _wire(self) -> None:
        board, detail = self.board, self.detail
        for control in board.controls:
            # Text and numbers follow every change of value (typed, pasted, cleared, set from a link); the
            # choice controls change only by a click, and `input` keeps the page load from filtering twice.
            event = control.change if isinstance(control, (gr.Textbox, gr.Number)) else control.input
            event(
                self.on_filters,
                inputs=[board.layout, *board.controls],
                outputs=self.view_outputs,
                trigger_mode="always_last",
                show_progress="hidden",
                **SERIALIZED,
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
        self._wire_audit_request()
        # The timer only asks for the store's version (one small value); the page re-renders when it changed.
        self.board_timer.tick(
            self.current_version,
            inputs=[self.store_version, board.version],
            outputs=[self.store_version],
            show_progress="hidden",
            **READ_ONLY,
        )
        self.store_version.change(
            self.on_store_change,
            inputs=[board.version, board.layout, detail.select, *board.controls],
            outputs=[*self.view_outputs, self.plot.plot, self.header, detail.select],
            show_progress="hidden",
            **SERIALIZED,
        )
        self._wire_load()

    def _wire_load(self) -> None:
        """Every visit renders the default page; only a URL with a query (a shared link) costs a second
        event, restoring its filters, tab or entry. Each event lists only outputs it fills: gradio rebuilds
        every output a callback leaves out, which would cost more than the callback."""
        self.demo.load(self.on_load, outputs=self.load_outputs, show_progress="hidden", **SERIALIZED).then(
            None, js="() => window.location.search.replace(/^[?]/, '')", outputs=[self.url_params]
        )
        self.url_params.change(
            self.on_restore, inputs=[self.url_params], outputs=self.restore_outputs, show_progress="hidden", **READ_ONLY
        )

    def _wire_tabs(self) -> None:
        pages: dict[str, list[gr.components.Component]] = {
            "queue": self.queue.outputs,
            "log": self.log.outputs,
            "submit": [self.submit.help],
            "throughput": self.throughput.outputs,
            DETAIL_TAB: [self.detail.select, *self.detail.outputs],
        }
        self.tab_items["plot"].select(
            self.on_plot_tab,
            inputs=self.board.controls,
            outputs=[self.tab, self.queue.timer, self.plot.plot],
            show_progress="hidden",
            **SERIALIZED,
        )
        for tab_id, tab in self.tab_items.items():
            if tab_id == "plot":
                continue
            tab.select(
                partial(self.on_tab, tab_id),
                inputs=[self.log.search, self.detail.select],
                outputs=[self.tab, self.queue.timer, *pages.get(tab_id, [])],
                show_progress="hidden",
                **READ_ONLY,
            )

    def _wire_submit(self) -> None:
        submit, queue = self.submit, self.queue

        def on_submit(
            model: str,
            revision: str,
            precision: str,
            accepted: bool,
            throughput: bool,
            profile: gr.OAuthProfile | None,
            publish: bool = False,  # gradio passes the profile by its type and the inputs in order around it
        ) -> Update:
            answer = submit.submit(model, revision, precision, accepted, throughput, profile, publish)
            return {**answer, **queue.render()}

        submit.button.click(
            on_submit, inputs=submit.inputs, outputs=[submit.result, *queue.outputs], concurrency_limit=4
        )

    def _wire_audit_request(self) -> None:
        """The detail page's "Request an audit" button (R13): logged in, rate-limited, written to the log."""
        detail, ctx = self.detail, self.ctx

        def on_audit_request(request_id: str | None, profile: gr.OAuthProfile | None) -> Update:
            requester = resolve_submitter(profile.username if profile else None, ctx.space, ctx.config.local_user)
            board = ctx.source.get().board  # only ranked entries can be requested
            accepted, message = ask_for_audit(ctx.store, request_id, requester, ctx.config.audit, utc_now, board=board)
            if not accepted:
                return {detail.audit_result: message}
            ctx.source.invalidate()
            ctx.wake_scheduler()
            loaded = ctx.source.get()
            return {detail.audit_result: message, detail.audit: detail.audits(loaded, request_id or "")}

        detail.audit_button.click(
            on_audit_request, inputs=[detail.select], outputs=[detail.audit_result, detail.audit], concurrency_limit=4
        )

    @property
    def load_outputs(self) -> list[gr.components.Component]:
        return [self.header, *self.view_outputs, self.board.licenses, self.board.families, *self.board.params]

    @property
    def restore_outputs(self) -> list[gr.components.Component]:
        return [
            *self.board.controls,
            *self.view_outputs,
            self.plot.plot,
            self.tabs,
            self.tab,
            self.queue.timer,
            *self.queue.outputs,
            *self.log.outputs,
            self.submit.help,
            *self.throughput.outputs,
            self.detail.select,
            *self.detail.outputs,
        ]

    # --- callbacks ------------------------------------------------------------------------------------

    def render_view(
        self,
        filters: Filters,
        loaded: Loaded,
        shown: Layout | None = None,
        *,
        serialized: bool = True,
        plot: bool = False,
    ) -> Update:
        """The Leaderboard table for `filters` (`shown`, `serialized`: see `BoardPage.render`), and the Plot
        when `plot`."""
        view = view_of(filters, loaded)
        board = self.board.render(view, filters, loaded, shown, serialized=serialized)
        return {**board, **self.plot.render(view, filters, loaded)} if plot else board

    def on_filters(self, shown: Layout | None, *values: Any) -> Update:
        """The controls' values (`BoardPage.controls` order) after the table's layout as shown."""
        loaded = self.ctx.source.get()
        return self.render_view(self.board.filters(loaded, *values), loaded, shown)

    def on_plot_tab(self, *values: Any) -> Update:
        """The Plot tab opened: the plot of the Leaderboard tab's current view (the controls' values)."""
        loaded = self.ctx.source.get()
        filters = self.board.filters(loaded, *values)
        return {**self.on_tab("plot"), **self.plot.render(view_of(filters, loaded), filters, loaded)}

    def on_detail(self, request_id: str | None) -> Update:
        return self.detail.render(self.ctx.source.get(), request_id)

    def on_row_select(self, request_ids: tuple[str, ...], evt: gr.SelectData) -> Update:
        """A click on a row opens that entry's detail; a click on the model's link cell only follows it."""
        row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
        column = evt.index[1] if isinstance(evt.index, (list, tuple)) and len(evt.index) > 1 else None
        if column == 1 or not isinstance(row, int) or row >= len(request_ids):
            return {}
        return {self.tabs: gr.Tabs(selected=DETAIL_TAB), **self.open_detail(self.ctx.source.get(), request_ids[row])}

    def open_detail(self, loaded: Loaded, request_id: str | None) -> Update:
        """The detail page of `request_id`, or of the leader when none is chosen (never a blank page)."""
        if request_id is None and loaded.board.entries:
            request_id = loaded.board.entries[0].request_id
        return {
            self.tab: DETAIL_TAB,
            **self.detail.choose(loaded, request_id),
            **self.detail.render(loaded, request_id),
        }

    def on_tab(self, tab_id: str, log_search: str | None = "", detail_id: str | None = None) -> Update:
        """The open tab is remembered (for the URL); the pages other than the board render when opened."""
        update: Update = {self.tab: tab_id, self.queue.timer: gr.update(active=tab_id == "queue")}
        if tab_id == "queue":
            update.update(self.queue.render())
        elif tab_id == "log":
            update.update(self.log.render(log_search))
        elif tab_id == "submit":
            update[self.submit.help] = self.submit.help_markdown()
        elif tab_id == "throughput":
            update.update(self.throughput.render(self.ctx.source.get()))
        elif tab_id == DETAIL_TAB:
            update.update(self.open_detail(self.ctx.source.get(), detail_id))
        return update

    def current_version(self, polled: str, shown_version: str) -> str:
        """The store's board version when it moved past the one the table shows, else the value already polled:
        the version box changes, and the page re-renders, only for a version the visitor has not seen."""
        version = self.ctx.source.get().board_version
        return polled if version == shown_version else version

    def on_store_change(self, shown_version: str, shown: Layout | None, detail_id: str | None, *values: Any) -> Update:
        """Re-render the board, plot, header and entry list when the store moved on (a new result). Should the
        table already show this version (a filter change got there first), the same values go again: every
        output needs one, and these are memoized and free of property updates."""
        loaded = self.ctx.source.get()
        view = {
            **self.render_view(self.board.filters(loaded, *values), loaded, shown, plot=True),
            self.header: self.header_of(loaded),
        }
        if loaded.board_version == shown_version:
            return {**view, self.detail.select: detail_id}
        return {**view, **self.detail.choose(loaded, detail_id)}

    def header_of(self, loaded: Loaded) -> str:
        return loaded.cached("header", lambda: header_html(self.ctx.config, loaded))

    def on_load(self) -> Update:
        """The default page, the same for every visitor of one store version: computed once (`Loaded.cached`),
        sent as values only where the page was built showing the same layout (a left-out output, or a property,
        would cost gradio a component rebuild)."""
        loaded = self.ctx.source.get()
        board = loaded.board
        update = fresh_updates(loaded.cached("load", lambda: self._default_page(loaded)))
        if (board.licenses, board.families) != self.board.built_choices:
            update[self.board.licenses] = gr.update(choices=board.licenses, value=[])
            update[self.board.families] = gr.update(choices=board.families, value=[])
        else:
            update[self.board.licenses] = update[self.board.families] = []
        return update

    def _default_page(self, loaded: Loaded) -> Update:
        view = self.render_view(Filters(), loaded, self.board.built_layout)
        return {self.header: self.header_of(loaded), **view, **dict.fromkeys(self.board.params)}  # "no limit"

    def on_restore(self, query: str | None) -> Update:
        """Restore what a shared link points at: the filters, the open tab, an entry's detail."""
        params = dict(parse_qsl((query or "").lstrip("?"), keep_blank_values=True))
        loaded = self.ctx.source.get()
        filters = sanitize(filters_from_query(params), loaded.board)
        tab = params.get("tab") if params.get("tab") in TABS else BOARD_TAB
        detail_id = params.get("detail") or None
        if detail_id:
            tab = DETAIL_TAB
        view = self.render_view(filters, loaded, serialized=False, plot=True)  # outputs postprocessed here
        update: Update = {**self.board.restore(filters, loaded), **view}
        update[self.tabs] = gr.Tabs(selected=tab)
        update.update(self.on_tab(tab or BOARD_TAB, "", detail_id))
        return update


def view_of(filters: Filters, loaded: Loaded) -> BoardView:
    """The board's view for `filters`, made once per store version."""
    return loaded.cached(("view", filters), lambda: loaded.board.view(filters))


def fresh_updates(update: Update) -> Update:
    """A copy of a memoized answer that gradio may consume: gradio pops `value` out of every property update
    (`gr.update(...)`, a dict) it sends, so a memoized one would reach the next visitor without its value (the
    empty board's "No results yet" reached only the first visitor). Values that are not updates are shared."""
    return {k: dict(v) if isinstance(v, dict) and v.get("__type__") == "update" else v for k, v in update.items()}


def build_demo(ctx: AppContext) -> gr.Blocks:
    """All pages and their events."""
    return Ui(ctx).demo
