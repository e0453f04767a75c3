"""What keeps a visit cheap (`leaderboard.pages.serving`): reads skip gradio's queue, the board's events send
values in the wire format, the table's properties are sent only when its layout changes, and gradio's
component signatures are read once."""

from __future__ import annotations

import asyncio
import importlib.machinery
import importlib.util
import inspect
import json
from pathlib import Path
from typing import Any

import gradio as gr
import gradio_client.utils as client_utils
import pytest
from gradio.blocks import Block
from gradio.processing_utils import async_move_files_to_cache
from gradio.routes import ORJSONResponse

from app import build_app
from leaderboard.pages.board import sent_as_is, table_value
from leaderboard.pages.format import styled
from leaderboard.pages.serving import cache_component_signatures, skip_repeated_lookups
from leaderboard.table import Filters
from openasr_core.store import LocalStore
from testkit.factories import finish_in_store, make_result
from tests.leaderboard.test_app import make_env


def default_controls(ui: Any, columns: list[str] | None = None) -> list[Any]:
    """The controls as a fresh page shows them (the default columns), in `BoardPage.controls` order."""
    every = [c.id for c in ui.ctx.source.get().board.columns if c.default]
    return ["", [], [], [], None, None, False, True, "avg_wer", every if columns is None else columns, False]


WRITES = {"on_submit", "on_audit_request"}  # the only events that change the store


@pytest.fixture(scope="module")
def ui(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two finished results, the app built once for the module: its tests call the callbacks, which read the
    store and change nothing in it."""
    folder = tmp_path_factory.mktemp("serving")
    results = [
        make_result("r1", "openai/whisper-tiny", wers={"ljspeech-sample": 0.2}, version="local-v1"),
        make_result("r2", "openai/whisper-base", wers={"ljspeech-sample": 0.1}, version="local-v1"),
    ]
    finish_in_store(LocalStore(folder / "store"), results)
    return build_app(env=make_env(folder, folder / "models")).ui


def is_property_update(value: Any) -> bool:
    return isinstance(value, dict) and value.get("__type__") == "update"


def test_only_the_writes_wait_in_gradios_queue(ui: Any) -> None:
    callbacks = [fn for fn in ui.demo.fns.values() if fn.fn is not None]
    queued = {fn.name for fn in callbacks if fn.queue is not False}
    assert queued == WRITES
    assert {fn.name for fn in callbacks} >= {"on_load", "on_filters", "on_store_change", "on_restore", "render"}
    skipping = {fn.name for fn in callbacks if not fn.postprocess}
    assert skipping == {"on_load", "on_filters", "on_store_change", "on_plot_tab"}  # they send serialized values


def test_the_api_page_documents_the_writes_only_and_every_read_stays_callable(ui: Any) -> None:
    """gradio rebuilds the API documentation on every `GET /`: the page's read plumbing is left out of it."""
    documented = ui.demo.get_api_info()["named_endpoints"]
    assert {name.lstrip("/") for name in documented} == WRITES
    reads = [fn for fn in ui.demo.fns.values() if fn.fn is not None and fn.name not in WRITES]
    assert reads and all(fn.api_visibility == "undocumented" and fn.api_name for fn in reads)


def test_the_table_sends_its_properties_only_when_its_layout_changes(ui: Any) -> None:
    board = ui.board
    first = ui.on_filters(None, *default_controls(ui))  # layout unknown: the properties go with the values
    assert is_property_update(first[board.table]) and first[board.table]["datatype"]
    layout = first[board.layout]
    again = ui.on_filters(layout, *default_controls(ui))
    assert not is_property_update(again[board.table]) and again[board.table]["headers"][:2] == ["Rank", "Model"]
    assert not any(is_property_update(again[c]) for c in (board.empty, board.download))
    assert again[board.download]["path"].endswith(".csv")  # a file in the wire format (FileData), not a path
    columns = [c.id for c in ui.ctx.source.get().board.columns if c.default and c.id != "params"]
    narrower = ui.on_filters(layout, *default_controls(ui, columns))
    assert is_property_update(narrower[board.table]) and narrower[board.layout] != layout
    assert len(narrower[board.table]["datatype"]) == len(first[board.table]["datatype"]) - 1


def test_the_page_load_sends_values_only_and_a_shared_link_a_path(ui: Any) -> None:
    board = ui.board
    loaded = ui.on_load()
    assert not is_property_update(loaded[board.table]) and loaded[board.layout] == board.built_layout
    assert loaded[board.download]["orig_name"].endswith(".csv")
    restored = ui.on_restore("q=tiny")  # an event gradio postprocesses: the download is the CSV's path
    download = restored[board.download]
    assert isinstance(download["value"], str) and Path(download["value"]).is_file()


def sent(value: Any, block: Any) -> Any:
    """`value` as gradio sends it for an event without postprocessing: looked through for files, then JSON."""
    moved = asyncio.run(async_move_files_to_cache(value, block, postprocess=True))
    return json.loads(ORJSONResponse._render(moved))


def test_the_page_load_sends_no_blank_cell_styles_but_keeps_display_values(ui: Any) -> None:
    """Every cell style of the board is blank: they are not sent (a third of the table's cells), while the
    display values (two decimals for a WER) still are, exactly as pandas' Styler would make them."""
    table = sent(ui.on_load()[ui.board.table], ui.board.table)
    assert table["metadata"]["styling"] is None
    shown = table["metadata"]["display_value"]
    assert len(shown) == 2 and all(isinstance(cell, str) for cell in shown[0]) and "openai/whisper" in shown[0][1]
    view = ui.ctx.source.get().board.view(Filters(official_only=False, sort="rtf"))
    through_styler = ui.board.table.postprocess(styled(view)).model_dump()  # what gradio makes of the Styler
    assert not any(cell for row in through_styler["metadata"]["styling"] for cell in row)
    through_styler["metadata"]["styling"] = None
    assert json.dumps(table_value(ui.board.table, view)) == json.dumps(through_styler)  # NaN == NaN as text


def test_gradio_sends_the_table_s_cells_as_they_are_without_walking_them(
    ui: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The cell matrices reach the page exactly as the plain lists would, and gradio's search for files looks
    at a handful of values, not at every cell."""
    board = ui.board
    loaded = ui.ctx.source.get()
    value = ui.on_load()[board.table]
    plain = table_value(board.table, loaded.board.view(Filters()))
    looked: list[Any] = []
    real = client_utils.is_file_obj_with_meta
    monkeypatch.setattr(client_utils, "is_file_obj_with_meta", lambda d: looked.append(d) or real(d))
    assert sent(value, board.table) == json.loads(json.dumps(plain, allow_nan=True).replace("NaN", "null"))
    assert len(looked) < 20
    assert sent_as_is(plain)["data"].root is plain["data"]  # wrapped, not copied


def test_an_empty_board_hides_the_table_on_page_load(tmp_path: Path, models_dir: Path) -> None:
    ui = build_app(env=make_env(tmp_path, models_dir)).ui
    loaded = ui.on_load()
    assert loaded[ui.board.table]["visible"] is False and loaded[ui.board.empty]["visible"] is True


def test_component_signatures_are_cached_unchanged() -> None:
    class Late(Block):  # a block class loaded after the app started: cached on the next call (a component
        # subclass would do as well, but gradio writes a .pyi stub beside the module that defines one)
        def __init__(self, value: str = "", *, note: str = "", **kwargs: Any) -> None:
            super().__init__(**kwargs)

    expected = inspect.signature(Late.__init__)
    assert "__signature__" not in vars(Late.__init__)
    assert cache_component_signatures() >= 1 and cache_component_signatures() == 0
    assert vars(Late.__init__)["__signature__"] == expected
    assert list(inspect.signature(Late.__init__).parameters)[:3] == ["self", "value", "note"]
    assert "label" in inspect.signature(gr.Dataframe.__init__).parameters


def test_no_event_or_session_searches_sys_path_for_a_missing_module(ui: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """gradio tries `import matplotlib` around every event and `import bokeh` in every session's plot config;
    a missing module is searched for on every `sys.path` folder each time. After the app is built, neither
    searches, and neither module appears to be installed."""
    import gradio.routes
    import gradio.utils

    if importlib.util.find_spec("matplotlib") is not None:
        pytest.skip("matplotlib is installed: gradio's import of it is cached and costs nothing")
    searches: list[str] = []
    real = importlib.machinery.PathFinder.find_spec

    def counted(name: str, *args: Any, **kwargs: Any) -> Any:
        searches.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec", counted)
    with gradio.utils.MatplotlibBackendMananger():  # what `route_utils.call_process_api` does per event
        pass
    assert "bokeh_version" in ui.plot.plot.get_config()  # what every new session's config does per plot
    assert searches == []
    with pytest.raises(ImportError):
        import bokeh  # noqa: F401
    assert gradio.routes.templates.env.auto_reload is False
    assert skip_repeated_lookups() == []  # idempotent


def test_the_timer_moves_the_version_box_only_for_a_version_not_shown(ui: Any) -> None:
    current = ui.ctx.source.get().board_version
    assert ui.current_version("polled before", current) == "polled before"  # the table shows it: no change
    assert ui.current_version("polled before", "an older version") == current


def test_a_store_change_already_shown_sends_every_output_as_values(ui: Any) -> None:
    """gradio fails an event that leaves outputs out; the re-send is memoized values, no property updates."""
    loaded = ui.ctx.source.get()
    outputs = ui.on_store_change(loaded.board_version, ui.board.built_layout, "r1", *default_controls(ui))
    assert set(outputs) == {*ui.view_outputs, ui.plot.plot, ui.header, ui.detail.select}
    assert not any(is_property_update(value) for value in outputs.values()) and outputs[ui.detail.select] == "r1"
    moved = ui.on_store_change("an older version", ui.board.built_layout, "r1", *default_controls(ui))
    assert set(moved) == set(outputs) and moved[ui.detail.select].value == "r1"  # new choices for the new version
