"""The Space's pages (gradio 6): Leaderboard, Plot, Model detail, Submit, Queue, Log, About.

Callbacks are thin: they read the cached snapshot and board (`leaderboard.data.BoardSource`), call the pure
functions of the other modules, and shape gradio updates. No callback mutates a global; per-visitor state
(the request ids of the rows shown, the board version shown) lives in `gr.State`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from core.config import ANY_GPU_CLASS, LeaderboardConfig
from core.files import atomic_write
from core.records import PRECISIONS
from core.store import Store
from leaderboard import submission
from leaderboard.about import about_markdown
from leaderboard.data import BoardSource, Loaded
from leaderboard.detail import EMPTY_DETAIL, detail_choices, detail_view
from leaderboard.inspection import ModelInspector
from leaderboard.logview import chain_markdown, log_frame
from leaderboard.plot import scatter_figure
from leaderboard.query import filters_from_query, filters_to_query
from leaderboard.queue import queue_view, running_html
from leaderboard.scheduler import SchedulerStatus
from leaderboard.table import DEFAULT_SORT, Board, BoardView, Filters, csv_frame, sort_options

TABS = ("leaderboard", "plot", "detail", "submit", "queue", "log", "about")
QUEUE_REFRESH_S = 3.0
BOARD_REFRESH_S = 5.0
PREVIEW_ROWS = 200
CSV_DIR = Path(tempfile.gettempdir()) / "asr-leaderboard-csv"
CSV_KEEP = 200

CSS = """
.lb-header { padding: 4px 0 2px 0; }
.lb-header h1 { margin: 0 0 2px 0; font-size: 1.75rem; }
.lb-header p { margin: 0; color: var(--body-text-color-subdued); }
.lb-stats { color: var(--body-text-color-subdued); font-size: 0.92rem; }
.lb-muted { color: var(--body-text-color-subdued); font-size: 0.88em; margin-left: 6px; }
.lb-empty { padding: 28px 16px; text-align: center; color: var(--body-text-color-subdued);
  border: 1px dashed var(--border-color-primary); border-radius: 10px; font-size: 1.02rem; }
.lb-running { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 14px;
  margin-bottom: 10px; background: var(--block-background-fill); }
.lb-running-head { margin-bottom: 8px; }
.lb-running-foot { margin-top: 6px; font-size: 0.92rem; color: var(--body-text-color-subdued); }
.lb-bar { height: 10px; background: var(--neutral-200); border-radius: 6px; overflow: hidden; }
.lb-bar-fill { height: 100%; background: var(--color-accent); transition: width 0.6s ease; }
.lb-status p { margin: 0; }
.table-wrap table, .table-wrap th, .table-wrap td, .table-wrap .cell-wrap {
  font-family: var(--font) !important; font-variant-numeric: tabular-nums; }
#lb-table a { color: var(--color-accent); text-decoration: none; font-weight: 600; }
#lb-table a:hover { text-decoration: underline; }
#about table td:first-child { white-space: nowrap; }
#about { max-width: 1200px; }
#detail-header a { color: var(--color-accent); text-decoration: none; }
.prose table.lb-kv, table.lb-kv { border-collapse: collapse; margin: 4px 0 10px 0; font-size: 0.94rem; border: none !important; }
table.lb-kv th, table.lb-kv td { border: none !important; border-bottom: 1px solid var(--border-color-primary) !important;
  background: none !important; padding: 4px 22px 4px 0 !important; text-align: left; vertical-align: top; }
table.lb-kv tr { border: none !important; }
table.lb-kv th { font-weight: 500; color: var(--body-text-color-subdued); white-space: nowrap; }
table.lb-kv td { font-family: var(--font-mono); font-size: 0.9em; }
"""

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


def on_space(env: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """Running as a Hugging Face Space (where login is real and required)."""
    env = os.environ if env is None else env
    return bool(env.get("SPACE_ID"))


def show_login_button(env: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """On a Space, always. Locally only when asked (`LEADERBOARD_LOCAL_LOGIN=1`): gradio's local mock of the
    login needs a Hugging Face token and asks the Hub who it belongs to at startup, which fails offline."""
    env = os.environ if env is None else env
    return on_space(env) or env.get("LEADERBOARD_LOCAL_LOGIN", "").strip().lower() in ("1", "true", "yes")


def resolve_submitter(username: str | None, space: bool, local_user: str) -> str | None:
    """Who submits: the logged-in user; locally, without a login, the configured local user; on a Space,
    nobody (the form then asks to log in)."""
    if username:
        return username
    return None if space else local_user


@dataclass(frozen=True)
class AppContext:
    """Everything the pages need, built once by `app.py`."""

    config: LeaderboardConfig
    store: Store
    source: BoardSource
    inspector: ModelInspector
    scheduler_status: Callable[[], SchedulerStatus]
    wake_scheduler: Callable[[], None] = lambda: None
    space: bool = False
    login_button: bool = False
    results_location: str = ""
    requests_location: str = ""
    public_key: str | None = None


# --- pure helpers for the controls ------------------------------------------------------------------------


def filters_from_controls(
    search: str | None,
    licenses: Sequence[str] | None,
    precisions: Sequence[str] | None,
    families: Sequence[str] | None,
    params_min: float | None,
    params_max: float | None,
    realtime_only: bool | None,
    official_only: bool | None,
    sort: str | None,
    columns: Sequence[str] | None,
    all_columns: Sequence[str],
) -> Filters:
    """The controls' values as `Filters`; showing every column is `columns=None`, so the URL stays short."""
    chosen = tuple(c for c in all_columns if c in set(columns or ()))
    return Filters(
        search=(search or "").strip(),
        licenses=tuple(licenses or ()),
        precisions=tuple(precisions or ()),
        families=tuple(families or ()),
        params_min_m=params_min if params_min else None,
        params_max_m=params_max if params_max is not None and params_max > 0 else None,
        realtime_only=bool(realtime_only),
        official_only=bool(official_only),
        sort=sort or DEFAULT_SORT,
        columns=None if set(chosen) == set(all_columns) else chosen,
    )


def sanitize(filters: Filters, board: Board) -> Filters:
    """Drop what this board cannot show (an unknown sort or column id from an old link)."""
    sorts = {o.id for o in sort_options(board.eval_sets)}
    columns = filters.columns
    if columns is not None:
        known = {c.id for c in board.columns}
        columns = tuple(c for c in columns if c in known)
    return Filters(
        **{
            **filters.__dict__,
            "sort": filters.sort if filters.sort in sorts else DEFAULT_SORT,
            "columns": columns,
        }
    )


def status_line(view: BoardView, filters: Filters) -> str:
    sort = {o.id: o.label for o in sort_options(())}.get(filters.sort, filters.sort)
    if filters.sort.startswith("wer."):
        sort = f"WER on {filters.sort[4:]}"
    shown = f"Showing **{len(view.frame)}** of {_plural(view.total, 'entry', 'entries')}"
    scope = " (official only)" if filters.official_only else " (official and unofficial)"
    return f"{shown}{scope} · sorted by {sort.lower()} · click a row for its details"


def number_text(value: Any) -> str:
    """How a number cell reads: '0.0123', '6.05', '250', '1,000'; empty for a missing value."""
    if value is None or isinstance(value, str) or pd.isna(value):
        return ""
    number = float(value)
    if abs(number) >= 1000:
        return f"{number:,.0f}"
    if abs(number) >= 100:
        return f"{number:.0f}"
    return f"{number:.3g}"


def styled(view: BoardView) -> Any:
    """The view's frame with display formats (two decimals for percentages) while cells stay numbers, so
    clicking a header still sorts numerically."""
    formats: dict[str, Callable[[Any], str]] = {}
    for label, datatype in zip(view.frame.columns, view.datatypes, strict=True):
        if datatype != "number":
            continue
        if label.endswith("(%)"):
            formats[label] = lambda v: "" if v is None or pd.isna(v) else f"{float(v):.2f}"
        elif label == "Rank":
            formats[label] = lambda v: "" if v is None or pd.isna(v) else str(int(v))
        else:
            formats[label] = number_text
    return view.frame.style.format(formats)


def column_widths(view: BoardView) -> list[str]:
    """Narrow rank, wide model name, the rest sized to their content class."""
    widths = []
    for label in view.frame.columns:
        if label == "Rank":
            widths.append("64px")
        elif label == "Model":
            widths.append("270px")
        elif label == "Badges":
            widths.append("210px")
        elif label in ("Precision", "License"):
            widths.append("100px")
        else:
            widths.append("92px")
    return widths


def write_csv(view: BoardView, eval_sets: Sequence[str], folder: Path = CSV_DIR, keep: int = CSV_KEEP) -> str:
    """The filtered view as a CSV file named by its content (so repeated views reuse one file), written
    atomically (two visitors may ask for the same view at once); only the newest `keep` files are kept."""
    data = csv_frame(view, eval_sets).to_csv(index=False).encode("utf-8")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"open-asr-leaderboard-{hashlib.sha256(data).hexdigest()[:12]}.csv"
    if not path.exists():
        atomic_write(path, data)
        old = sorted(folder.glob("open-asr-leaderboard-*.csv"), key=lambda p: p.stat().st_mtime, reverse=True)[keep:]
        for stale in old:
            stale.unlink(missing_ok=True)
    return str(path)


def empty_message(board: Board, view: BoardView) -> str:
    if not board.entries:
        return (
            '<div class="lb-empty">🎙️ <b>No results yet — submit a model.</b><br>Open the <b>Submit</b> tab, enter '
            "a model id, and it is evaluated in the background; its row appears here when it finishes.</div>"
        )
    if view.empty:
        return (
            '<div class="lb-empty">No entries match these filters. Clear the search or some filters '
            "(unofficial entries are hidden while <b>Official only</b> is ticked).</div>"
        )
    return ""


def _plural(count: int, one: str, many: str) -> str:
    return f"{count} {one if count == 1 else many}"


def header_html(config: LeaderboardConfig, loaded: Loaded | None) -> str:
    hardware = (
        "any hardware (local board)" if config.rules.gpu_class == ANY_GPU_CLASS else f"NVIDIA {config.rules.gpu_class}"
    )
    stats = ""
    if loaded is not None:
        check = loaded.snapshot.verify_log()
        log_state = "public log verifies ✅" if check.ok else "public log chain broken ❌"
        stats = (
            f"{_plural(loaded.board.ranked_count, 'ranked entry', 'ranked entries')} · measured on {hardware}, "
            "batch size one · "
            f"version <code>{config.version}</code> · {_plural(len(config.eval_sets), 'eval set', 'eval sets')} · "
            f"{log_state}"
        )
    return f"""<div class="lb-header">
<h1>🎙️ {config.title}</h1>
<p>Speech-recognition models ranked by word error rate and batch-one speed, every number measured by this
Space's own evaluator on fixed hardware, pinned revisions and a public, tamper-evident log.</p>
<div class="lb-stats">{stats}</div>
</div>"""


# --- the app ----------------------------------------------------------------------------------------------


def build_demo(ctx: AppContext) -> gr.Blocks:
    """All pages and their events."""
    config = ctx.config
    first = ctx.source.get()
    board0 = first.board
    column_choices0 = [(c.label, c.id) for c in board0.columns]
    sort_choices0 = [(o.label, o.id) for o in sort_options(board0.eval_sets)]

    # delete_cache: gradio copies every served file (the CSVs) into its cache; clear copies older than a day, hourly.
    with gr.Blocks(title=config.title, fill_width=True, delete_cache=(3600, 86400)) as demo:
        header = gr.HTML(header_html(config, first))
        with gr.Tabs(selected="leaderboard", elem_id="lb-tabs") as tabs:
            # --- Leaderboard ---------------------------------------------------------------------------
            with gr.Tab("🏆 Leaderboard", id="leaderboard") as tab_board:
                with gr.Row(equal_height=True):
                    search = gr.Textbox(
                        label="Search models",
                        placeholder="e.g. whisper, openai/, wav2vec2 …",
                        scale=3,
                        elem_id="lb-search",
                    )
                    sort = gr.Dropdown(sort_choices0, value=DEFAULT_SORT, label="Sort by", scale=1, elem_id="lb-sort")
                with gr.Row(equal_height=True):
                    licenses = gr.Dropdown(
                        board0.licenses, multiselect=True, label="License", allow_custom_value=True, scale=2
                    )
                    precisions = gr.CheckboxGroup(list(PRECISIONS), label="Precision", scale=3, elem_id="lb-precision")
                    families = gr.Dropdown(
                        board0.families,
                        multiselect=True,
                        label="Architecture family",
                        allow_custom_value=True,
                        scale=2,
                        elem_id="lb-family",
                    )
                    params_min = gr.Number(label="Params ≥ (M)", minimum=0, scale=1, elem_id="lb-pmin")
                    params_max = gr.Number(label="Params ≤ (M)", minimum=0, scale=1, elem_id="lb-pmax")
                    with gr.Column(scale=2, min_width=200):
                        realtime = gr.Checkbox(label="⚡ Meets real time only", value=False, elem_id="lb-realtime")
                        official = gr.Checkbox(label="✅ Official only", value=True, elem_id="lb-official")
                with gr.Accordion("Columns", open=False):
                    columns = gr.CheckboxGroup(
                        column_choices0, value=[c.id for c in board0.columns], show_label=False, elem_id="lb-columns"
                    )
                with gr.Row(equal_height=True):
                    status = gr.Markdown(elem_classes=["lb-status"], elem_id="lb-status")
                    download = gr.DownloadButton(
                        "⬇ CSV of this view", size="sm", scale=0, min_width=170, elem_id="lb-download"
                    )
                empty = gr.HTML(visible=False, elem_id="lb-empty")
                table = gr.Dataframe(
                    interactive=False,
                    wrap=True,
                    max_height=640,
                    pinned_columns=2,
                    elem_id="lb-table",
                    show_label=False,
                    buttons=["fullscreen", "copy"],
                )
                query_box = gr.Textbox(visible=False, elem_id="lb-query")
            # --- Plot ----------------------------------------------------------------------------------
            with gr.Tab("📈 Plot", id="plot") as tab_plot:
                gr.Markdown(
                    "Average WER against RTF (log scale): lower-left is better. The dotted staircase is the "
                    "**Pareto front**, the entries no other entry beats on both accuracy and speed. The plot shows "
                    "the entries of the Leaderboard tab's current view (its filters apply)."
                )
                plot = gr.Plot(show_label=False, elem_id="lb-plot")
            # --- Model detail --------------------------------------------------------------------------
            with gr.Tab("🔎 Model detail", id="detail") as tab_detail:
                detail_select = gr.Dropdown(
                    [],
                    label="Model",
                    info="Every entry of this leaderboard version; or click a row on the Leaderboard tab.",
                    elem_id="detail-select",
                )
                detail_header = gr.Markdown(EMPTY_DETAIL, elem_id="detail-header")
                detail_table = gr.Dataframe(
                    interactive=False, wrap=True, show_label=False, visible=False, elem_id="detail-table"
                )
                with gr.Row():
                    with gr.Column(scale=3):
                        detail_measurement = gr.Markdown()
                    with gr.Column(scale=2):
                        detail_reproduce = gr.Code(
                            label="Reproduce this entry",
                            language="shell",
                            interactive=False,
                            visible=False,
                            wrap_lines=True,
                            show_line_numbers=False,
                            lines=2,
                        )
                        detail_predictions = gr.Markdown()
                with gr.Accordion("Preview raw predictions", open=False, visible=False) as preview_box:
                    preview_set = gr.Dropdown([], label="Eval set")
                    preview_table = gr.Dataframe(interactive=False, wrap=True, show_label=False, max_height=420)
            # --- Submit --------------------------------------------------------------------------------
            with gr.Tab("🚀 Submit", id="submit") as tab_submit, gr.Row():
                with gr.Column(scale=3):
                    gr.Markdown(
                        "### Submit a model\nThe model is checked now (nothing is written unless every rule "
                        "holds), then queued; the evaluator runs it in the background, one utterance at a "
                        "time, and its result appears on the Leaderboard."
                    )
                    if ctx.login_button:
                        gr.LoginButton()
                    else:
                        gr.Markdown(
                            f"Running locally: you submit as **`{config.local_user}`** "
                            "(set `LEADERBOARD_LOCAL_USER` to change it). On the Space you sign in with "
                            "Hugging Face."
                        )
                    model_id = gr.Textbox(
                        label="Model id", placeholder="org/name, e.g. openai/whisper-base", elem_id="submit-model"
                    )
                    with gr.Row():
                        revision = gr.Textbox(
                            value="main",
                            label="Revision",
                            info="Branch, tag or commit SHA; pinned to a SHA now.",
                            elem_id="submit-revision",
                        )
                        precision = gr.Radio(
                            list(PRECISIONS), value="float16", label="Precision", elem_id="submit-precision"
                        )
                    accept = gr.Checkbox(
                        label="I accept the rules (About tab): batch size one, pinned revision, safetensors only, "
                        "public log, no retraction.",
                        elem_id="submit-accept",
                    )
                    submit_button = gr.Button("Submit for evaluation", variant="primary", elem_id="submit-button")
                    submit_result = gr.Markdown(elem_id="submit-result")
                with gr.Column(scale=2):
                    submit_help = gr.Markdown(elem_id="submit-help")
            # --- Queue ---------------------------------------------------------------------------------
            with gr.Tab("⏳ Queue", id="queue") as tab_queue:
                scheduler_md = gr.Markdown(elem_id="queue-scheduler")
                queue_counts = gr.Markdown(elem_id="queue-counts")
                gr.Markdown("### Running")
                running = gr.HTML(elem_id="queue-running")
                gr.Markdown("### Pending")
                pending_empty = gr.HTML(visible=False)
                pending = gr.Dataframe(interactive=False, wrap=True, show_label=False, elem_id="queue-pending")
                gr.Markdown(
                    "### Failed\nFailures stay visible (R8); the reason says what to change before resubmitting."
                )
                failed_empty = gr.HTML(visible=False)
                failed = gr.Dataframe(
                    interactive=False,
                    wrap=True,
                    show_label=False,
                    elem_id="queue-failed",
                    max_height=360,
                    column_widths=["200px", "220px", "90px", "80px", "440px", "220px"],
                )
                gr.Markdown("### Recently finished")
                finished_empty = gr.HTML(visible=False)
                finished = gr.Dataframe(
                    interactive=False, wrap=True, show_label=False, elem_id="queue-finished", max_height=360
                )
            # --- Log -----------------------------------------------------------------------------------
            with gr.Tab("📜 Log", id="log") as tab_log:
                chain = gr.Markdown(elem_id="log-chain")
                log_search = gr.Textbox(
                    label="Search the log", placeholder="model, request id, event, user …", elem_id="log-search"
                )
                log_table = gr.Dataframe(
                    interactive=False,
                    wrap=True,
                    show_label=False,
                    elem_id="log-table",
                    max_height=720,
                    column_widths=["56px", "165px", "125px", "220px", "150px", "430px", "130px"],
                )
            # --- About ---------------------------------------------------------------------------------
            with gr.Tab("ℹ️ About", id="about") as tab_about:
                gr.Markdown(
                    about_markdown(
                        config,
                        ctx.results_location,
                        ctx.requests_location,
                        public_key=ctx.public_key,
                    ),
                    elem_id="about",
                )

        rows_state = gr.State(())
        version_state = gr.State("")
        queue_timer = gr.Timer(QUEUE_REFRESH_S, active=False)
        board_timer = gr.Timer(BOARD_REFRESH_S)

        controls = [search, licenses, precisions, families, params_min, params_max, realtime, official, sort, columns]
        board_outputs = [table, empty, status, download, plot, query_box, rows_state, version_state]

        # --- leaderboard callbacks ---------------------------------------------------------------------

        def current_filters(*values: Any) -> tuple[Filters, Loaded]:
            loaded = ctx.source.get()
            all_ids = [c.id for c in loaded.board.columns]
            return sanitize(filters_from_controls(*values, all_columns=all_ids), loaded.board), loaded

        def render_board(filters: Filters, loaded: Loaded) -> list[Any]:
            board = loaded.board
            view = board.view(filters)
            message = empty_message(board, view)
            return [
                gr.Dataframe(
                    value=styled(view),
                    datatype=view.datatypes,
                    column_widths=column_widths(view),
                    visible=not view.empty,
                ),
                gr.HTML(value=message, visible=bool(message)),
                status_line(view, filters) if board.entries else "",
                gr.DownloadButton(value=write_csv(view, board.eval_sets) if not view.empty else None),
                scatter_figure(view.raw, max_rtf=config.rules.max_rtf),
                filters_to_query(filters),
                view.request_ids,
                loaded.snapshot.version,
            ]

        def on_filters(*values: Any) -> list[Any]:
            filters, loaded = current_filters(*values)
            return render_board(filters, loaded)

        def on_board_tick(version: str, detail_id: str | None, *values: Any) -> Any:
            """Re-render only when the store moved on (a new result, a new request), else send nothing."""
            loaded = ctx.source.get()
            if loaded.snapshot.version == version:
                return [gr.skip()] * (len(board_outputs) + 2 + len(detail_outputs))
            filters, loaded = current_filters(*values)
            if detail_id is None and loaded.board.entries:
                detail_id = loaded.board.entries[0].request_id
                detail = render_detail(detail_id)
            else:
                detail = [gr.skip()] * len(detail_outputs)
            return [
                *render_board(filters, loaded),
                header_html(config, loaded),
                detail_dropdown(loaded, detail_id),
                *detail,
            ]

        for control in controls:
            control.input(
                on_filters, inputs=controls, outputs=board_outputs, trigger_mode="always_last", show_progress="hidden"
            ).then(None, inputs=[query_box], js=URL_SYNC_JS)

        # --- detail ------------------------------------------------------------------------------------

        detail_outputs = [
            detail_header,
            detail_table,
            detail_measurement,
            detail_reproduce,
            detail_predictions,
            preview_box,
            preview_set,
            preview_table,
        ]

        def render_detail(request_id: str | None) -> list[Any]:
            loaded = ctx.source.get()
            result = loaded.snapshot.results.get(request_id or "")
            if result is None or request_id not in {e.request_id for e in loaded.board.entries}:
                message = EMPTY_DETAIL if not loaded.board.entries else "Choose a model above."
                return [
                    message,
                    gr.Dataframe(visible=False),
                    "",
                    gr.Code(visible=False),
                    "",
                    gr.Accordion(visible=False),
                    gr.Dropdown(choices=[], value=None),
                    None,
                ]
            assert request_id is not None
            links = {name: ctx.store.predictions_url(request_id, name) for name in result.datasets}
            view = detail_view(
                result,
                loaded.board.entry(request_id),
                loaded.snapshot.requests.get(request_id),
                links,
                max_rtf=config.rules.max_rtf,
            )
            sets = list(result.datasets)
            return [
                view.header,
                gr.Dataframe(value=view.datasets, visible=True),
                view.measurement,
                gr.Code(value=view.reproduce, visible=True),
                view.predictions,
                gr.Accordion(visible=True),
                gr.Dropdown(choices=sets, value=sets[0] if sets else None),
                preview(request_id, sets[0]) if sets else None,
            ]

        def preview(request_id: str | None, eval_set: str | None) -> pd.DataFrame | None:
            if not request_id or not eval_set:
                return None
            try:
                rows = ctx.store.predictions(request_id, eval_set)
            except (FileNotFoundError, KeyError, ValueError):
                return pd.DataFrame({"": [f"No stored predictions for {eval_set}."]})
            return pd.DataFrame([r.to_dict() for r in rows[:PREVIEW_ROWS]])

        def detail_dropdown(loaded: Loaded, selected: str | None) -> Any:
            choices = [(c.label, c.request_id) for c in detail_choices(list(loaded.board.entries))]
            ids = {c[1] for c in choices}
            return gr.Dropdown(choices=choices, value=selected if selected in ids else None)

        def on_row_select(request_ids: tuple[str, ...], evt: gr.SelectData) -> list[Any]:
            row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
            column = evt.index[1] if isinstance(evt.index, (list, tuple)) and len(evt.index) > 1 else None
            if column == 1 or not isinstance(row, int) or row >= len(request_ids):
                return [gr.skip()] * (2 + len(detail_outputs))
            request_id = request_ids[row]
            loaded = ctx.source.get()
            return [gr.Tabs(selected="detail"), detail_dropdown(loaded, request_id), *render_detail(request_id)]

        table.select(on_row_select, inputs=[rows_state], outputs=[tabs, detail_select, *detail_outputs])
        detail_select.input(render_detail, inputs=[detail_select], outputs=detail_outputs)
        board_timer.tick(
            on_board_tick,
            inputs=[version_state, detail_select, *controls],
            outputs=[*board_outputs, header, detail_select, *detail_outputs],
            show_progress="hidden",
        )
        preview_set.input(preview, inputs=[detail_select, preview_set], outputs=[preview_table])

        # --- submit ------------------------------------------------------------------------------------

        def submit_help_md() -> str:
            local = ctx.inspector.local
            models = local.model_ids()
            listed = "\n".join(f"- `{m}`" for m in models[:20]) if models else "- _none yet_"
            more = f"\n- … and {len(models) - 20} more" if len(models) > 20 else ""
            limit = config.rules.max_submissions_per_week
            return (
                "### What is checked\n"
                "- the id is `org/name` and the model exists (Hub, or the local models folder)\n"
                "- the revision resolves to a commit SHA (R4)\n"
                "- safetensors weights, no custom code, a transformers speech-recognition class (R6)\n"
                "- a license in the model card, and a parameter count from the weights\n"
                "- no identical (model, SHA, precision) pending, running or finished, and at most "
                f"{limit} submissions per user in 7 days (R10)\n\n"
                "### Local models\n"
                f"Folders under `{local.models_dir}` named `<org>/<name>/` (transformers format) can be submitted "
                "by that id; their revision is the digest of their files. Found:\n" + listed + more
            )

        def on_submit(
            model_text: str, revision_text: str, precision_value: str, accepted: bool, profile: gr.OAuthProfile | None
        ) -> list[Any]:
            username = profile.username if profile is not None else None
            submitter = resolve_submitter(username, ctx.space, config.local_user)
            form = submission.SubmissionForm.from_inputs(model_text, revision_text, precision_value, accepted)
            outcome = submission.submit(form, submitter, source=ctx.inspector, store=ctx.store, rules=config.rules)
            if outcome.accepted:
                ctx.source.invalidate()
                ctx.wake_scheduler()
            return [outcome.message, *render_queue()]

        # --- queue -------------------------------------------------------------------------------------

        def empty_box(text: str, frame: pd.DataFrame) -> tuple[Any, Any]:
            return (
                gr.HTML(f'<div class="lb-empty">{text}</div>', visible=frame.empty),
                gr.Dataframe(value=frame, visible=not frame.empty),
            )

        def render_queue() -> list[Any]:
            loaded = ctx.source.get()
            now = datetime.now(UTC)
            view = queue_view(loaded.snapshot.requests, loaded.snapshot.results, now)
            counts = view.counts
            summary = (
                f"**{counts['running']}** running · **{counts['pending']}** pending · **{counts['finished']}** "
                f"finished · **{counts['failed']}** failed · refreshes every {QUEUE_REFRESH_S:g} s"
            )
            return [
                ctx.scheduler_status().describe(now),
                summary,
                running_html(view.running, config.rules.max_attempts),
                *empty_box("The queue is empty — submit a model on the Submit tab.", view.pending),
                *empty_box("No failed requests.", view.failed),
                *empty_box("Nothing has finished yet.", view.finished),
            ]

        queue_outputs = [
            scheduler_md,
            queue_counts,
            running,
            pending_empty,
            pending,
            failed_empty,
            failed,
            finished_empty,
            finished,
        ]
        submit_button.click(
            on_submit,
            inputs=[model_id, revision, precision, accept],
            outputs=[submit_result, *queue_outputs],
            concurrency_limit=4,
        )
        queue_timer.tick(render_queue, outputs=queue_outputs, show_progress="hidden")
        tab_queue.select(lambda: [gr.Timer(active=True), *render_queue()], outputs=[queue_timer, *queue_outputs])
        for other in (tab_board, tab_plot, tab_detail, tab_submit, tab_log, tab_about):
            other.select(lambda: gr.Timer(active=False), outputs=[queue_timer])

        # --- log ---------------------------------------------------------------------------------------

        def render_log(text: str | None) -> list[Any]:
            loaded = ctx.source.get()
            frame = log_frame(loaded.snapshot.log, text or "")
            return [chain_markdown(loaded.snapshot.verify_log()), frame]

        log_search.input(render_log, inputs=[log_search], outputs=[chain, log_table], trigger_mode="always_last")
        tab_log.select(render_log, inputs=[log_search], outputs=[chain, log_table])

        # --- page load: restore the view from the URL --------------------------------------------------

        def on_load(request: gr.Request) -> list[Any]:
            params = dict(request.query_params) if request is not None else {}
            loaded = ctx.source.get()
            board = loaded.board
            filters = sanitize(filters_from_query(params), board)
            all_ids = [c.id for c in board.columns]
            shown = list(filters.columns) if filters.columns is not None else all_ids
            tab = params.get("tab") if params.get("tab") in TABS else "leaderboard"
            detail_id = params.get("detail") or None
            if detail_id:
                tab = "detail"
            elif board.entries:
                detail_id = board.entries[0].request_id  # the detail page opens on the leader, never blank
            control_values = [
                filters.search,
                gr.Dropdown(
                    choices=sorted({*board.licenses, *filters.licenses}), value=list(filters.licenses), multiselect=True
                ),
                list(filters.precisions),
                gr.Dropdown(
                    choices=sorted({*board.families, *filters.families}), value=list(filters.families), multiselect=True
                ),
                filters.params_min_m,
                filters.params_max_m,
                filters.realtime_only,
                filters.official_only,
                gr.Dropdown(choices=[(o.label, o.id) for o in sort_options(board.eval_sets)], value=filters.sort),
                gr.CheckboxGroup(choices=[(c.label, c.id) for c in board.columns], value=shown),
            ]
            return [
                header_html(config, loaded),
                *control_values,
                *render_board(filters, loaded),
                gr.Tabs(selected=tab),
                detail_dropdown(loaded, detail_id),
                *render_detail(detail_id),
                submit_help_md(),
                *render_queue(),
                gr.Timer(active=tab == "queue"),
                *render_log(""),
            ]

        demo.load(
            on_load,
            outputs=[
                header,
                *controls,
                *board_outputs,
                tabs,
                detail_select,
                *detail_outputs,
                submit_help,
                *queue_outputs,
                queue_timer,
                chain,
                log_table,
            ],
        )
    return demo


def theme() -> gr.themes.Base:
    """A calm theme: indigo accents and system fonts (no web-font download, so it renders offline too)."""
    return gr.themes.Soft(
        primary_hue="indigo",
        secondary_hue="emerald",
        neutral_hue="slate",
        font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
    )
