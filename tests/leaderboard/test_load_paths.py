"""What a visit costs at 1,000 results (issue 26, item 9), and that the cheap paths give the same answers as the
plain ones: rows picked from the board's precomputed cells and CSV lines, the plot drawn when its tab opens,
the page's HTML replayed, gradio's per-session configurations made on demand, a store read that does not hold
every visitor up."""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from gradio.state_holder import SessionState

from leaderboard.data import BoardSource
from leaderboard.pages.board import board_cells, table_value
from leaderboard.pages.format import csv_lines
from leaderboard.pages.page_cache import PageCache
from leaderboard.pages.serving import lazy_session_configs
from leaderboard.scatter import ALL_FILTERED
from leaderboard.table import BoardInput, Filters, build_board, csv_frame
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_result
from tests.leaderboard.test_data import Clock
from tests.leaderboard.test_serving import default_controls
from tests.leaderboard.test_serving import ui as ui

VARIED = [
    Filters(),
    Filters(official_only=False, show_flagged=True),
    Filters(search="whisper large", sort="rtf"),
    Filters(precisions=("float16",), sort="newest"),
    Filters(families=("wav2vec2",), sort="model", columns=("rtf", "license")),
    Filters(params_min_m=50, params_max_m=500, sort="params"),
    Filters(sort="wer.ami", columns=("audit", "claims_gap", "wer.ami")),
    Filters(licenses=("no such license",)),  # empty
]


def _board() -> Any:
    """30 entries: official or not, a NaN RTF, unknown parameter counts, a license with a comma, quotes and a
    newline (the CSV quotes it), two families and precisions, ties in the sort columns."""
    items = []
    for n in range(30):
        result = make_result(
            f"r{n:02d}",
            f"org/{'whisper-large' if n % 3 == 0 else 'model'}-{n}",
            wers={"ami": 0.05 + (n * 37 % 11) / 100},
            rtf=float("nan") if n == 4 else 0.01 * (n % 9 + 1),
            official=n % 4 != 0,
            precision=("float32", "float16")[n % 2],
            parameters=0 if n % 5 == 0 else 10_000_000 * (n + 1),
            license='mit, "quoted"\nsecond line' if n % 7 == 0 else "apache-2.0",
            architecture=("WhisperForConditionalGeneration", "Wav2Vec2ForCTC")[n % 2],
            finished_at=f"2026-11-{1 + n % 5:02d}T10:00:00Z",
        )
        items.append(BoardInput(result))
    return build_board(items, eval_sets=("ami",))


def test_picked_cells_are_what_gradio_makes_of_each_view() -> None:
    board, table = _board(), gr.Dataframe(interactive=False)
    cells = board_cells(table, board)
    for filters in VARIED:
        view = board.view(filters)
        assert json.dumps(table_value(table, view, cells)) == json.dumps(table_value(table, view)), filters


def test_joined_csv_lines_are_the_view_s_csv_byte_for_byte() -> None:
    board = _board()
    lines = csv_lines(board)
    for filters in VARIED:
        view = board.view(filters)
        assert lines.text(view) == csv_frame(view, board.eval_sets).to_csv(index=False), filters


def test_a_visit_and_a_filter_change_send_no_plot_until_the_plot_tab_opens(ui: Any) -> None:
    assert ui.plot.plot not in ui.on_load() and ui.plot.plot not in ui.on_filters(None, *default_controls(ui))
    opened = ui.on_plot_tab(*default_controls(ui))
    assert opened[ui.tab] == "plot" and ALL_FILTERED not in opened[ui.plot.plot].plot
    controls = default_controls(ui)
    controls[0] = "no model is called this"  # the Leaderboard tab's filters hide every entry: so does the plot
    assert ALL_FILTERED in ui.on_plot_tab(*controls)[ui.plot.plot].plot


class _Page:
    """A bare ASGI app answering every request with its count; `cookie`: it sets one."""

    def __init__(self, cookie: bool = False) -> None:
        self.calls = 0
        self.cookie = cookie

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        headers = [(b"content-type", b"text/html")] + ([(b"set-cookie", b"a=b")] if self.cookie else [])
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": f"page {self.calls}".encode()})


def _get(cache: PageCache, path: str = "/", host: bytes = b"a", method: str = "GET", auth: Any = None) -> str:
    app = type("App", (), {"auth": auth, "auth_dependency": None})()
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", host), (b"user-agent", b"x")],
        "app": app,
    }
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(cache(scope, None, send))  # type: ignore[arg-type]
    return b"".join(m.get("body", b"") for m in sent).decode()


def test_the_page_is_rendered_once_per_address_and_nothing_else_is_replayed() -> None:
    inner = _Page()
    cache = PageCache(inner)
    assert _get(cache) == _get(cache) == "page 1" and cache.hits == 1
    assert _get(cache, host=b"b") == "page 2"  # another root URL
    assert _get(cache, path="/gradio_api/info") == "page 3" and _get(cache, path="/gradio_api/info") == "page 4"
    assert _get(cache, method="POST") == "page 5"
    assert _get(cache, host=b"c", auth=("u", "p")) == "page 6" and _get(cache, host=b"c", auth=("u", "p")) == "page 7"
    with_cookie = PageCache(_Page(cookie=True))
    assert _get(with_cookie) == "page 1" and _get(with_cookie) == "page 2"


def test_a_new_session_makes_no_component_configuration_until_one_is_read(ui: Any) -> None:
    lazy_session_configs()
    demo = ui.demo
    demo.config = demo.get_config_file()
    lazy = SessionState(demo)
    assert dict.__len__(lazy.config_values) == 0
    eager = {k: demo.default_config.config_for_block(k, [], v) for k, v in demo.default_config.blocks.items()}
    eager = {k: v for k, v in eager.items() if k in demo.blocks}
    assert list(lazy.components) == list(eager.values())  # a deep link reads them all, in gradio's order
    assert set(vars(lazy)) == {"blocks_config", "config_values", "state_data", "_state_ttl", "is_closed"} | {
        "STATE_TTL_WHEN_CLOSED"
    }
    assert lazy_session_configs() is False  # idempotent


class SlowStore(LocalStore):
    """A store whose reads wait for `release` once `slow` is set."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.slow = False
        self.reading = threading.Event()
        self.release = threading.Event()

    def snapshot(self):  # type: ignore[no-untyped-def]
        if self.slow:
            self.reading.set()
            assert self.release.wait(10)
        return super().snapshot()


def test_an_expired_read_in_progress_does_not_hold_other_visitors_up(tmp_path: Path) -> None:
    store = SlowStore(tmp_path / "store")
    finish_in_store(store, [make_result("r1", "org/a", version="v1")])
    clock = Clock()
    source = BoardSource(store, version="v1", eval_sets=("ami",), ttl_s=2.0, clock=clock)
    first = source.get()
    clock.now, store.slow = 5.0, True
    reader = threading.Thread(target=source.get)
    reader.start()
    assert store.reading.wait(10)
    assert source.get() is first  # served at once while the other caller reads
    store.release.set()
    reader.join(10)
    assert source.get() is not first and source.reads == 2


def test_after_invalidate_every_caller_waits_for_the_new_read(tmp_path: Path) -> None:
    store = SlowStore(tmp_path / "store")
    source = BoardSource(store, version="v1", eval_sets=(), ttl_s=60.0, clock=Clock())
    first = source.get()
    source.invalidate()
    store.slow = True
    store.release.set()
    assert source.get() is not first


@pytest.mark.parametrize("filters", VARIED)
def test_a_view_s_frame_is_the_picked_rows(filters: Filters) -> None:
    board = _board()
    view = board.view(filters)
    assert list(view.frame.columns) == view.labels and len(view.frame) == view.shown
    assert tuple(view.raw["request_id"]) == view.request_ids
