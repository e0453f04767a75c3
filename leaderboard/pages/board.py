"""The Leaderboard page: search, filters, sort and column controls, the table, its status line and the CSV
download of the current view. The view's filters also drive the Plot page (`leaderboard.ui` joins them)."""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import gradio as gr
from gradio.data_classes import JsonData

from leaderboard.data import Loaded
from leaderboard.pages.format import (
    column_widths,
    csv_lines,
    display_values,
    empty_message,
    filters_from_controls,
    sanitize,
    status_line,
    write_csv,
)
from leaderboard.query import filters_to_query
from leaderboard.table import DEFAULT_SORT, Board, BoardView, Filters, sort_options
from openasr_core.records import PRECISIONS

Update = dict[gr.components.Component, Any]
#: What the table's properties are set to: its column datatypes and widths, and whether the view is empty (the
#: table hidden, the empty message shown). Values alone can change the page while this stays the same.
Layout = tuple[tuple[str, ...], tuple[str, ...], bool]


def layout_of(view: BoardView) -> Layout:
    return tuple(view.datatypes), tuple(column_widths(view)), view.empty


def table_value(table: gr.Dataframe, view: BoardView, cells: BoardCells | None = None) -> dict[str, Any]:
    """The table's wire value for `view`: what gradio makes of `styled(view)`, the cells as numbers (a click
    on a header sorts numerically) with their display text, made without pandas' Styler (`display_values`)
    and without cell styles (the board styles no cell; the page reads a missing style as none). With `cells`
    (`board_cells` of the same board) the rows are picked from those, without building the view's frame."""
    if cells is not None and view.empty:
        return {"headers": view.labels, "data": [], "metadata": None}  # what gradio makes of an empty frame
    if cells is not None:
        pick = itemgetter(*(cells.positions[c.id] for c in view.columns))  # rank and model: always 2 or more
        rows = view.rows.tolist()
        return {
            "headers": view.labels,
            "data": [list(pick(cells.data[i])) for i in rows],
            "metadata": {"display_value": [list(pick(cells.display[i])) for i in rows], "styling": None},
        }
    value: dict[str, Any] = table.postprocess(view.frame).model_dump()
    if value["data"]:
        value["metadata"] = {"display_value": display_values(view), "styling": None}
    return value


@dataclass(frozen=True)
class BoardCells:
    """Every row of a board (board order) under every column (`positions`: column id -> index), in the table's
    wire format, as sent (`data`) and as shown (`display`): made once per store version, so that a filter
    change only picks rows and columns (a view's own frame, its gradio postprocessing and display values cost
    some 10 ms at 1,000 rows on every new filter; picking costs well under one)."""

    positions: dict[str, int]
    data: list[list[Any]]
    display: list[list[Any]]


def board_cells(table: gr.Dataframe, board: Board) -> BoardCells:
    """`table_value` of the whole board, every column shown, kept as rows to pick from (see `BoardCells`)."""
    everything = board.full_view()
    value = table_value(table, everything)
    display = value["metadata"]["display_value"] if value["data"] else []
    return BoardCells({c.id: n for n, c in enumerate(everything.columns)}, value["data"], display)


def sent_as_is(table: dict[str, Any]) -> dict[str, Any]:
    """The table's wire value with its cell matrices (values, display values, styles) wrapped in gradio's
    `JsonData`, "JSON data ... that should not be modified further": gradio walks every value an event sends,
    twice, looking for files to serve (some 30,000 cells, a third of a page load's CPU at 1,000 entries), but
    not inside a `JsonData`, which its JSON encoder writes out as the same lists. Only for events that skip
    gradio's postprocessing (`pages.serving.SERIALIZED`): a postprocessed value must stay plain lists."""
    wrapped = {**table, "data": _Cells.model_construct(root=table["data"])}
    metadata = table.get("metadata")
    if metadata:
        wrapped["metadata"] = {
            key: _Cells.model_construct(root=value) if isinstance(value, list) else value
            for key, value in metadata.items()
        }
    return wrapped


class _Cells(JsonData):
    """A matrix of cells that gradio sends as it is. Its JSON encoder (orjson) calls `model_dump` on a
    `JsonData` and writes the result: the plain lists here, which orjson writes natively; pydantic's own dump
    would look at every cell's type again (8 ms for 1,000 rows)."""

    def model_dump(self, **_: Any) -> Any:  # type: ignore[override]
        return self.root


class BoardPage:
    """The components of the Leaderboard tab; build inside its `gr.Tab`."""

    def __init__(self, loaded: Loaded) -> None:
        board = loaded.board
        self.built_choices = (board.licenses, board.families)
        with gr.Row(equal_height=True):
            self.search = gr.Textbox(
                label="Search models", placeholder="e.g. whisper, openai/, wav2vec2 …", scale=3, elem_id="lb-search"
            )
            self.sort = gr.Dropdown(
                [(o.label, o.id) for o in sort_options(board.eval_sets)],
                value=DEFAULT_SORT,
                label="Sort by",
                scale=1,
                elem_id="lb-sort",
            )
        with gr.Row(equal_height=True):
            self.licenses = gr.Dropdown(
                board.licenses, multiselect=True, label="License", allow_custom_value=True, scale=2
            )
            self.precisions = gr.CheckboxGroup(list(PRECISIONS), label="Precision", scale=3, elem_id="lb-precision")
            self.families = gr.Dropdown(
                board.families,
                multiselect=True,
                label="Architecture family",
                allow_custom_value=True,
                scale=2,
                elem_id="lb-family",
            )
            # Empty means no limit, and says so: gradio draws a built-in empty Number as "0" ("≤ 0" reads as a limit
            # of zero), so the page load sends None (`ui.App._default_page`) and the box shows the placeholder.
            self.params_min = gr.Number(
                label="Params ≥ (M)", placeholder="no limit", minimum=0, scale=1, elem_id="lb-pmin"
            )
            self.params_max = gr.Number(
                label="Params ≤ (M)", placeholder="no limit", minimum=0, scale=1, elem_id="lb-pmax"
            )
            with gr.Column(scale=2, min_width=200):
                self.realtime = gr.Checkbox(label="⚡ Meets real time only", value=False, elem_id="lb-realtime")
                self.official = gr.Checkbox(label="✅ Official only", value=True, elem_id="lb-official")
                self.flagged = gr.Checkbox(
                    label="🚩 Show flagged (failed audit)",
                    value=False,
                    elem_id="lb-flagged",
                    info="Entries whose latest audit failed are left out of the ranking (R13).",
                )
                self.claims = gr.Checkbox(
                    label="Has claims",
                    value=False,
                    elem_id="lb-claims",
                    info="Only models whose own repo claims a WER on these eval sets (R15); never ranked.",
                )
        with gr.Accordion("Columns", open=False):
            self.columns = gr.CheckboxGroup(
                [(c.label, c.id) for c in board.columns],
                value=[c.id for c in board.columns if c.default],
                show_label=False,
                elem_id="lb-columns",
            )
        self._build_table(board.view(Filters()))

    def _build_table(self, default: BoardView) -> None:
        """Built as a fresh page shows the default view (every column, some rows), so that a page load
        sends only values, not properties (each property update costs gradio a component rebuild)."""
        self.built_layout: Layout = (*layout_of(default)[:2], False)
        with gr.Row(equal_height=True):
            self.status = gr.Markdown(elem_classes=["lb-status"], elem_id="lb-status")
            self.download = gr.DownloadButton(
                "⬇ CSV of this view", size="sm", scale=0, min_width=170, elem_id="lb-download"
            )
        self.empty = gr.HTML(visible=False, elem_id="lb-empty")
        self.table = gr.Dataframe(
            datatype=default.datatypes,
            column_widths=column_widths(default),
            interactive=False,
            wrap=True,
            max_height=640,
            pinned_columns=2,
            elem_id="lb-table",
            show_label=False,
            buttons=["fullscreen", "copy"],
        )
        self.filters_query = gr.Textbox(visible=False, elem_id="lb-filters-query")  # the filters' part of the URL
        self.rows = gr.State(())  # the request ids of the rows shown, for clicks
        self.version = gr.State("")  # the store version shown, so the timer re-renders only on change
        self.layout = gr.State(self.built_layout)  # the table's properties as shown (`Layout`)

    @property
    def params(self) -> tuple[gr.Number, gr.Number]:
        """The two parameter-count filters, which the page load empties so they show "no limit", not 0."""
        return self.params_min, self.params_max

    @property
    def controls(self) -> list[gr.components.Component]:
        """The filter controls, in `filters_from_controls`'s argument order."""
        return [
            self.search,
            self.licenses,
            self.precisions,
            self.families,
            self.params_min,
            self.params_max,
            self.realtime,
            self.official,
            self.sort,
            self.columns,
            self.flagged,
            self.claims,
        ]

    @property
    def outputs(self) -> list[gr.components.Component]:
        return [
            self.table,
            self.empty,
            self.status,
            self.download,
            self.filters_query,
            self.rows,
            self.version,
            self.layout,
        ]

    def filters(self, loaded: Loaded, *values: Any) -> Filters:
        """The controls' values as filters this board can show."""
        columns = loaded.board.columns
        all_ids, defaults = [c.id for c in columns], [c.id for c in columns if c.default]
        return sanitize(filters_from_controls(*values, all_columns=all_ids, default_columns=defaults), loaded.board)

    def render(
        self, view: BoardView, filters: Filters, loaded: Loaded, shown: Layout | None = None, *, serialized: bool = True
    ) -> Update:
        """The table, its status and download for `view`. `shown`: the table's layout on the page (None when
        unknown); when `view` keeps it, only values are sent, else the properties too (see `Layout`).
        `serialized`: every value in the page's wire format, for events that skip gradio's postprocessing
        (`pages.serving.SERIALIZED`); else the download is the CSV's path."""
        board = loaded.board
        message = empty_message(board, view)
        cells = loaded.cached("table-cells", lambda: board_cells(self.table, board))
        table = loaded.cached(("table", filters), lambda: table_value(self.table, view, cells))
        if serialized:
            table = loaded.cached(("table-wire", filters), lambda: sent_as_is(table))
        csv = None if view.empty else loaded.cached(("csv", view.request_ids), lambda: self._csv(view, loaded))
        if csv is not None and serialized:
            csv = loaded.cached(("csv-file", csv), lambda: self.download.postprocess(csv).model_dump())
        layout = layout_of(view)
        update: Update = {
            self.status: status_line(view, filters) if board.entries else "",
            self.filters_query: filters_to_query(filters),
            self.rows: view.request_ids,
            self.version: loaded.board_version,
            self.layout: layout,
        }
        if layout == shown:
            return {**update, self.table: table, self.empty: message, self.download: csv}
        return {
            **update,
            self.table: gr.update(
                value=table, datatype=view.datatypes, column_widths=column_widths(view), visible=not view.empty
            ),
            self.empty: gr.update(value=message, visible=bool(message)),
            # An empty view has nothing to download: the button goes away instead of doing nothing.
            self.download: gr.update(value=csv, visible=not view.empty),
        }

    @staticmethod
    def _csv(view: BoardView, loaded: Loaded) -> str:
        """The CSV file of `view`, its lines joined from the board's (`csv_lines`, made once per version)."""
        lines = loaded.cached("csv-lines", lambda: csv_lines(loaded.board))
        return write_csv(view, loaded.board.eval_sets, lines=lines)

    def restore(self, filters: Filters, loaded: Loaded) -> Update:
        """The controls set to `filters` (from a shared link), with choices from this board."""
        board = loaded.board
        shown = [c.id for c in board.visible_columns(filters.columns)]
        return {
            self.search: filters.search,
            self.licenses: gr.Dropdown(
                choices=sorted({*board.licenses, *filters.licenses}), value=list(filters.licenses), multiselect=True
            ),
            self.precisions: list(filters.precisions),
            self.families: gr.Dropdown(
                choices=sorted({*board.families, *filters.families}), value=list(filters.families), multiselect=True
            ),
            self.params_min: filters.params_min_m,
            self.params_max: filters.params_max_m,
            self.realtime: filters.realtime_only,
            self.official: filters.official_only,
            self.sort: gr.Dropdown(
                choices=[(o.label, o.id) for o in sort_options(board.eval_sets)], value=filters.sort
            ),
            self.columns: gr.CheckboxGroup(choices=[(c.label, c.id) for c in board.columns], value=shown),
            self.flagged: filters.show_flagged,
            self.claims: filters.claims_only,
        }
