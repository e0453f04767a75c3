"""Untrusted text (model repo, submitter, stored records) never reaches a page as markup (issue 10.6)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leaderboard.detail_view import detail_view
from leaderboard.queue_view import queue_view, running_html
from leaderboard.scatter import scatter_figure
from leaderboard.table import BoardInput, Filters, build_board
from openasr_core.licenses import DeclaredLicense, license_id, license_problem, shown_license
from openasr_core.model_files import card_license, hub_card_license
from openasr_core.records import HUB_REPO_ID, Lease, Progress, Status
from openasr_core.store import LocalStore
from openasr_core.untrusted import md_text, shorten
from testkit.bad_inputs import BAD_INPUTS, EVIL_LICENSE, BadInput, try_bad_input
from testkit.factories import make_request, make_result
from testkit.markdown_render import rendered_html, shown_text
from testkit.submit import run_submit

EVIL_ID = "<img src=x onerror=alert(1)>/[x](https://evil.example/login)"
_LINK_TO_EVIL = re.compile(r'href="[^"]*evil', re.IGNORECASE)


def assert_inert(markdown: str) -> None:
    """Neither the markdown source nor what it renders to holds the tag or a link to evil.example, and no
    GFM autolink can start (a `https://`, `www.` or `@` left unescaped next to evil.example)."""
    html = rendered_html(markdown)
    assert "<img" not in markdown and "<img" not in html
    assert not _LINK_TO_EVIL.search(html)
    assert "](https://evil" not in markdown and "https://evil" not in markdown


# --- the text helpers -------------------------------------------------------------------------------------


def test_md_text_renders_as_exactly_its_characters() -> None:
    for text in (EVIL_LICENSE, "org/my_model_v2", "*a* `b` # c | d ~e~ $x$ 1. <b>", "www.evil.example a@evil.example"):
        assert_inert(md_text(text))
        assert shown_text(md_text(text)) == text
    assert "www." not in md_text("www.evil.example") and "@" not in md_text("a@evil.example").replace("\\@", "")


def test_shorten_cuts_long_text_and_replaces_controls() -> None:
    cut = shorten("a" * 10_000)
    assert len(cut) < 120 and cut.endswith("(10,000 characters)")
    assert shorten("a\x00b\u202ec\u2066d\ne") == "a b\ufffdc\ufffdd e"


def test_hub_repo_id_is_the_hubs_rule() -> None:
    assert HUB_REPO_ID.match("openai/whisper-base") and HUB_REPO_ID.match("org/name.gitx")
    for bad in ("/etc/passwd", "etc/passwd/", "org/name.git", "org/name\n", "a--b/c", "a/b..c", "org/", "org"):
        assert not HUB_REPO_ID.match(bad), bad


# --- licenses ---------------------------------------------------------------------------------------------


def test_licenses_from_the_hubs_list_or_other_with_a_name() -> None:
    assert license_id(DeclaredLicense("Apache-2.0")) == "apache-2.0"
    assert license_id(DeclaredLicense("other", "acme-research-1.0")) == "other:acme-research-1.0"
    for declared in (
        DeclaredLicense(EVIL_LICENSE),
        DeclaredLicense("free"),
        DeclaredLicense("unknown"),
        DeclaredLicense("other"),
        DeclaredLicense("other", EVIL_LICENSE),
        DeclaredLicense(None),
    ):
        assert license_id(declared) is None and license_problem(declared)


def test_card_readers_return_only_accepted_licenses(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(f'---\nlicense: "{EVIL_LICENSE}"\n---\n')
    assert card_license(tmp_path) is None
    (tmp_path / "README.md").write_text("---\nlicense: other\nlicense_name: acme\n---\n")
    assert card_license(tmp_path) == "other:acme"
    assert hub_card_license(type("Info", (), {"card_data": {"license": EVIL_LICENSE}, "tags": []})()) is None


def test_stored_licenses_not_on_the_list_show_as_unknown() -> None:
    assert shown_license("mit") == "mit" and shown_license("other:acme") == "other:acme"
    assert shown_license(EVIL_LICENSE) == "unknown" and shown_license("other") == "unknown"
    assert shown_license("other:<b>") == "unknown"


# --- refusals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[b.name for b in BAD_INPUTS])
def test_bad_input_is_refused_safely(bad: BadInput, place_model, models_dir: Path, tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    assert try_bad_input(bad, store, models_dir, place_model) == []
    assert store.snapshot().requests == {} and store.snapshot().log == []


def test_a_wrong_refusal_is_reported(place_model, models_dir: Path, tmp_path: Path) -> None:
    """The bench counts on `try_bad_input` to notice: an expectation the refusal does not meet is a problem."""
    wrong = BadInput("wrong expectation", "/etc/passwd", "try again in a few minutes")
    assert try_bad_input(wrong, LocalStore(tmp_path / "store"), models_dir, place_model)


def test_an_accepted_other_license_is_stored_with_its_name(place_model, models_dir: Path, tmp_path: Path) -> None:
    folder = place_model("test-org/other-ok")
    (folder / "README.md").write_text("---\nlicense: other\nlicense_name: acme-research\n---\n")
    outcome = run_submit(LocalStore(tmp_path / "store"), models_dir, "test-org/other-ok")
    assert outcome.accepted and outcome.request is not None
    assert outcome.request.model.license == "other:acme-research"


# --- a stored result carrying it, on every page -----------------------------------------------------------


def _board(result):
    return build_board([BoardInput(result)], eval_sets=["ami", "librispeech"])


def test_stored_evil_license_and_id_render_escaped_on_the_board() -> None:
    result = make_result("r1", EVIL_ID, license=EVIL_LICENSE)
    view = _board(result).view(Filters(official_only=False))
    model_cell = view.frame.loc[0, "Model"]
    assert_inert(model_cell)
    assert view.frame.loc[0, "License"] == "unknown"
    assert view.datatypes[list(view.frame.columns).index("License")] == "str"  # gradio escapes str cells


def test_stored_evil_license_renders_escaped_on_the_detail_page() -> None:
    result = make_result("r1", EVIL_ID, license=EVIL_LICENSE, architecture=EVIL_LICENSE)
    board = _board(result)
    request = make_request("r1", EVIL_ID, submitter=EVIL_LICENSE, model=result.model)
    links = {"ami": "https://huggingface.co/datasets/x/y/resolve/main/p.jsonl", "librispeech": EVIL_LICENSE}
    view = detail_view(result, board.entry("r1"), request, links, max_rtf=1.0)
    for markdown in (view.header, view.measurement, view.predictions):
        assert_inert(markdown)
    assert "license unknown" in shown_text(view.header)
    assert "architecture " + EVIL_LICENSE in shown_text(view.header)  # shown as text, every character


def test_stored_evil_text_is_escaped_in_plot_hover_and_queue() -> None:
    result = make_result("r1", EVIL_ID, license=EVIL_LICENSE, architecture="<b>Evil</b>ForCTC")
    figure = scatter_figure(_board(result).view(Filters(official_only=False)).raw)
    labels = [t for trace in figure.data for t in (trace.hovertext or ())] + [trace.name or "" for trace in figure.data]
    # plotly renders <b>, <br> and <a href> in hover text and trace names (not markdown): no tag of the record's
    assert labels and not any(re.search(r"<(img|a |b>evil)", t, re.IGNORECASE) for t in labels)
    running = make_request(
        "r2",
        EVIL_ID,
        status=Status.RUNNING,
        lease=Lease(worker=EVIL_LICENSE, expires_at="2026-11-27T10:05:00Z"),
        progress=Progress(eval_set=EVIL_LICENSE, done=1, total=2),
    )
    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    view = queue_view({"r2": running}, {}, now)
    page = running_html(view.running, 3)
    assert "<img" not in page and 'evil.example/login"' not in page


def test_scheduler_outcome_quoting_an_error_is_escaped() -> None:
    from leaderboard.pages.queue import scheduler_markdown
    from leaderboard.scheduler import SchedulerStatus

    now = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    status = SchedulerStatus(enabled=True, last_finished_at=now, last_outcome=f"error: ValueError: {EVIL_LICENSE}")
    line = scheduler_markdown(status, now, ())
    assert_inert(line)
    assert EVIL_LICENSE in shown_text(line)


def test_status_line_escapes_an_eval_set_name_from_the_results() -> None:
    from leaderboard.pages.format import status_line

    board = build_board([BoardInput(make_result("r1", wers={EVIL_LICENSE: 0.1}))], eval_sets=())
    line = status_line(board.view(Filters()), Filters(sort=f"wer.{EVIL_LICENSE}"))
    assert_inert(line)


def test_tables_of_submitter_and_record_text_are_plain_text_cells() -> None:
    """The Queue and Log tables show model ids, submitters, failure reasons and log details as they are: their
    cells are gradio's "str" type, which the browser inserts escaped (only "markdown"/"html" cells render)."""
    import gradio as gr

    from leaderboard.pages.log import LogPage
    from leaderboard.pages.queue import QueuePage
    from leaderboard.scheduler import SchedulerStatus

    with gr.Blocks():
        log = LogPage(source=None)  # type: ignore[arg-type]
        queue = QueuePage(source=None, scheduler_status=lambda: SchedulerStatus(enabled=False), max_attempts=3)  # type: ignore[arg-type]
    for table in (log.table, queue.pending, queue.failed, queue.finished):
        assert table.datatype == "str"
