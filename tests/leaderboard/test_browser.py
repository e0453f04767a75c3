"""The whole product in a real browser: `python app.py` on a temporary store, driven by Debian's chromium.

A tiny random Whisper sits in the local models folder as `test-org/tiny-whisper`. The test submits it through
the form, checks two refusals, waits for the background scheduler to evaluate it, finds it on the board,
filters it away and back (typed, pasted, cleared, and through a shared URL), checks that the URL follows the
open page and an entry's detail (and the "copy link" button), that the plot keeps the real-time line in view
and says when the filters hide every entry, and saves a screenshot of every page under
`test-output/screenshots/`.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leaderboard.pages.context import machine_has_gpu
from openasr_core.activity import AUDIT, KIND_LABELS, THROUGHPUT
from testkit.app_process import APP_COMMAND, AppDidNotStart, log_tail, running_app
from testkit.gated_app import reached, released

pytestmark = pytest.mark.browser

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = REPO_ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
MODEL = "test-org/tiny-whisper"
STARTUP_TIMEOUT_S = 60
EVALUATION_TIMEOUT_S = 120


@dataclass(frozen=True)
class Served:
    """The app's URL, and the folder of its gates (`testkit.gated_app`): its throughput run and audit each wait
    there, shown as running, until the test releases them."""

    url: str
    gates: Path

    def wait_until_reached(self, kind: str) -> None:
        deadline = time.monotonic() + EVALUATION_TIMEOUT_S
        while not reached(self.gates, kind).exists():
            assert time.monotonic() < deadline, f"the {kind} run never started"
            time.sleep(0.1)

    def release(self, kind: str) -> None:
        released(self.gates, kind).touch()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, tiny_model_sources: dict[str, Path]) -> Iterator[Served]:
    needs_chromium()
    root = tmp_path_factory.mktemp("browser")
    shutil.copytree(tiny_model_sources["whisper"], root / "models" / MODEL)
    gates = root / "gates"
    gates.mkdir()
    for url in serve(root, tick_s=1, gates=gates):
        yield Served(url, gates)


def needs_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")


def serve(root: Path, tick_s: float, gates: Path | None = None) -> Iterator[str]:
    """`python app.py` on `root`'s store and models folder, its scheduler checking every `tick_s` seconds; the
    app's log tail is printed afterwards. With `gates`, its throughput runs and audits wait there
    (`testkit.gated_app`)."""
    settings = {
        "LEADERBOARD_STORE": str(root / "store"),
        "LEADERBOARD_MODELS_DIR": str(root / "models"),
        "LEADERBOARD_TICK_S": f"{tick_s:g}",
    }
    command = APP_COMMAND
    if gates is not None:
        settings.update(TESTKIT_GATE_DIR=str(gates), TESTKIT_GATED_KINDS=f"{THROUGHPUT},{AUDIT}")
        command = ("-m", "testkit.gated_app")
    log = root / "app.log"
    try:
        with running_app(settings, log, startup_timeout_s=STARTUP_TIMEOUT_S, command=command) as url:
            yield url
    except AppDidNotStart as exc:
        pytest.fail(str(exc))
    finally:
        print(f"--- app.py log (tail) ---\n{log_tail(log, 3000)}")


def test_the_whole_product_in_a_browser(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    app_url = served.url
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1440, "height": 1000})
            context.grant_permissions(["clipboard-read", "clipboard-write"], origin=app_url.rstrip("/"))
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            def tab(name: str) -> None:
                page.get_by_role("tab", name=re.compile(name)).click()

            def shot(name: str) -> None:
                screenshot(page, name)

            # The page renders, with a friendly empty board.
            page.goto(app_url)
            expect(page.get_by_role("heading", name=re.compile("Open ASR Leaderboard"))).to_be_visible(timeout=30_000)
            expect(page.locator("#lb-empty")).to_contain_text("No results yet", timeout=20_000)
            shot("leaderboard-empty")
            # Issue 25 item 1: every later visitor reads it too (the memoized page load lost it after the first).
            second = context.new_page()
            second.goto(app_url)
            expect(second.locator("#lb-empty")).to_contain_text("No results yet", timeout=20_000)
            screenshot(second, "leaderboard-empty-second-visitor")
            second.close()

            submit_the_model(page, tab, shot)

            # The queue shows it; the scheduler evaluates it in the background.
            tab("Queue")
            expect(page.locator("#queue-scheduler")).to_contain_text("Scheduler", timeout=10_000)
            shot("queue-while-evaluating")
            running = page.locator("#queue-running").inner_text()
            assert "space:" not in running, f"a raw worker id is shown: {running}"

            tab("Leaderboard")
            board = page.locator("#lb-table")
            expect(board).to_contain_text(MODEL, timeout=EVALUATION_TIMEOUT_S * 1000)
            expect(page.locator("#lb-status")).to_contain_text("Showing 1 of 1 entry")
            shot("leaderboard")
            with page.expect_download(timeout=10_000) as download:
                page.locator("#lb-download").click()
            csv_text = Path(download.value.path()).read_text(encoding="utf-8")
            assert csv_text.startswith("rank,model_id,revision,precision,avg_wer_pct") and MODEL in csv_text

            # A filter changes the rows, and the URL carries it.
            page.locator("#lb-precision").get_by_label("float16", exact=True).check()
            expect(page.locator("#lb-empty")).to_contain_text("No entries match these filters", timeout=10_000)
            expect(board).to_be_hidden()
            page.wait_for_function("() => window.location.search.includes('precision=float16')", timeout=10_000)
            page.locator("#lb-precision").get_by_label("float16", exact=True).uncheck()
            expect(board).to_contain_text(MODEL, timeout=10_000)
            check_search_follows_every_change(page, board)

            # A shared link restores the view.
            page.goto(app_url + "?q=no-such-model&precision=float32")
            expect(page.locator("#lb-empty")).to_contain_text("No entries match", timeout=20_000)
            expect(page.locator("#lb-search").get_by_role("textbox")).to_have_value("no-such-model")
            expect(page.locator("#lb-precision").get_by_label("float32", exact=True)).to_be_checked()
            page.goto(app_url)
            expect(board).to_contain_text(MODEL, timeout=20_000)

            detail = open_detail_from_the_board(page, board, shot)

            check_url_follows_the_page(page, app_url, tab, shot)
            check_plot(page, tab, shot)
            check_background_work(page, served, detail)

            visit_the_other_pages(page, tab, shot)
            assert not errors, f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()


#: Fonts loaded, then two animation frames and gradio's short CSS transitions: the page as a visitor sees it.
SETTLE_JS = """async () => {
    await document.fonts.ready;
    for (let i = 0; i < 2; i++) await new Promise(requestAnimationFrame);
    await new Promise(done => setTimeout(done, 200));
}"""


def screenshot(page: Any, name: str) -> None:
    """A full-page screenshot under test-output/screenshots/, taken once the page has settled."""
    page.evaluate(SETTLE_JS)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def url_query(page: Any) -> str:
    return page.evaluate("() => window.location.search")


def wait_for_url(page: Any, predicate_js: str) -> None:
    page.wait_for_function(f"() => {{ const q = window.location.search; return {predicate_js}; }}", timeout=10_000)


def check_search_follows_every_change(page: Any, board: Any) -> None:
    """Issue 9 item 2: the filter and the URL follow every change of the search box: typed, pasted (as a
    real Ctrl+V from the clipboard, and as a programmatic fill), and cleared with select-all + Backspace."""
    from playwright.sync_api import expect

    search = page.locator("#lb-search").get_by_role("textbox")
    empty = page.locator("#lb-empty")
    search.press_sequentially("no-such-model")  # typed, key by key
    expect(empty).to_contain_text("No entries match", timeout=10_000)
    wait_for_url(page, "q.includes('q=no-such-model')")
    search.press("Control+a")
    search.press("Backspace")  # cleared: the board comes back and the URL drops q
    expect(board).to_contain_text(MODEL, timeout=10_000)
    wait_for_url(page, "!q.includes('q=')")
    page.evaluate("() => navigator.clipboard.writeText('pasted-nothing')")
    search.click()
    search.press("Control+v")  # pasted, no key typed after it
    expect(search).to_have_value("pasted-nothing")
    expect(empty).to_contain_text("No entries match", timeout=10_000)
    wait_for_url(page, "q.includes('q=pasted-nothing')")
    search.fill("tiny")  # set at once, as a paste from the context menu or an autofill does
    expect(board).to_contain_text(MODEL, timeout=10_000)
    wait_for_url(page, "q.includes('q=tiny')")
    search.fill("")
    expect(board).to_contain_text(MODEL, timeout=10_000)
    wait_for_url(page, "q === ''")


def check_url_follows_the_page(page: Any, app_url: str, tab: Any, shot: Any) -> None:
    """Issue 9 item 6: the open tab and an entry's detail are in the URL, and a copied link opens them."""
    from playwright.sync_api import expect

    tab("Plot")
    wait_for_url(page, "q.includes('tab=plot')")
    tab("Log")
    wait_for_url(page, "q === '?tab=log'")
    tab("Model detail")
    wait_for_url(page, "q.startsWith('?detail=')")
    detail = url_query(page)
    page.locator("#detail-copy-link").click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    assert copied.endswith(detail) and copied.startswith("http"), copied
    expect(page.locator("#detail-link")).to_contain_text(detail.lstrip("?"))
    tab("Leaderboard")
    wait_for_url(page, "q === ''")
    page.goto(copied)  # the copied link opens that entry's detail
    expect(page.locator("#detail-header")).to_contain_text(MODEL, timeout=20_000)
    expect(page.get_by_role("tab", name=re.compile("Model detail"))).to_have_attribute("aria-selected", "true")
    shot("detail-from-link")
    page.goto(app_url + "?tab=queue")
    expect(page.get_by_role("tab", name=re.compile("Queue"))).to_have_attribute("aria-selected", "true", timeout=20_000)
    expect(page.locator("#queue-finished")).to_contain_text(MODEL, timeout=10_000)
    page.goto(app_url)
    expect(page.locator("#lb-table")).to_contain_text(MODEL, timeout=20_000)


def check_plot(page: Any, tab: Any, shot: Any) -> None:
    """Issue 9 item 4: the RTF = 1 line is always in view, and a plot emptied by filters says so."""
    from playwright.sync_api import expect

    tab("Plot")
    plot = page.locator("#lb-plot")
    expect(plot).to_contain_text("Pareto front", timeout=10_000)
    low, high = page.evaluate("() => document.querySelector('#lb-plot .js-plotly-plot').layout.xaxis.range")
    assert 10**low < 1 < 10**high, f"the RTF = 1 line is outside the x range 10^{low}..10^{high}"
    shot("plot")
    tab("Leaderboard")
    page.locator("#lb-precision").get_by_label("float16", exact=True).check()
    expect(page.locator("#lb-empty")).to_contain_text("No entries match these filters", timeout=10_000)
    expect(page.locator("#lb-download")).to_be_hidden()  # nothing to download from an empty view
    tab("Plot")
    expect(plot).to_contain_text("No entry matches the Leaderboard tab's filters", timeout=10_000)
    expect(plot).not_to_contain_text("No results to plot yet")
    shot("plot-filtered-empty")
    tab("Leaderboard")
    page.locator("#lb-precision").get_by_label("float16", exact=True).uncheck()
    expect(page.locator("#lb-table")).to_contain_text(MODEL, timeout=10_000)


def submit_the_model(page: Any, tab: Any, shot: Any) -> None:
    """Submit: two refusals with their reasons, then the tiny model is accepted with its queue position."""
    from playwright.sync_api import expect

    # Submit: two refusals with their reasons, then the tiny model is accepted with its queue position.
    tab("Submit")
    expect(page.locator("#submit-help")).to_contain_text(MODEL)
    result = page.locator("#submit-result")
    model_box = page.locator("#submit-model").get_by_role("textbox")
    model_box.fill(MODEL)
    if not machine_has_gpu():  # the form's default follows the hardware: float32 without a GPU
        expect(page.locator("#submit-precision").get_by_label("float32", exact=True)).to_be_checked()
    page.locator("#submit-precision").get_by_text("float32").click()
    page.locator("#submit-button").click()
    expect(result).to_contain_text("I accept the rules", timeout=20_000)
    accept = page.locator("#submit-accept").get_by_role("checkbox")
    accept.check()
    page.locator("#submit-throughput").get_by_role("checkbox").check()  # held at its gate once it starts
    model_box.fill("nosuchorg/nomodel")
    page.locator("#submit-button").click()
    expect(result).to_contain_text("There is no local model", timeout=20_000)
    expect(result).to_contain_text("Not accepted")
    model_box.fill(MODEL)
    page.locator("#submit-button").click()
    expect(result).to_contain_text("Accepted", timeout=30_000)
    expect(result).to_contain_text("#1 in the queue")
    shot("submit")


def open_detail_from_the_board(page: Any, board: Any, shot: Any) -> str:
    """Clicking the row opens the model's detail, the URL points at it, and the predictions preview shows
    every column within the page (the prediction column was cut off at the right); returns its URL's query."""
    from playwright.sync_api import expect

    board.get_by_role("gridcell", name="float32").first.click()
    header = page.locator("#detail-header")
    expect(header).to_contain_text(MODEL, timeout=10_000)
    expect(header).to_contain_text("Average WER")
    expect(page.locator("#detail-table")).to_contain_text("ljspeech-sample")
    expect(page.get_by_text("python -m evaluator evaluate").first).to_be_visible()
    wait_for_url(page, "q.startsWith('?detail=')")
    detail = url_query(page)
    shot("detail")
    page.get_by_text("Preview raw predictions").click()
    preview = page.locator("#preview-table")
    expect(preview).to_contain_text("prediction", timeout=10_000)
    check_every_column_in_view(page, preview)
    preview.scroll_into_view_if_needed()
    screenshot(page, "detail-preview")
    return detail


def check_every_column_in_view(page: Any, table: Any) -> None:
    """The table's last column ends within the table, and the table within the page: nothing is cut off."""
    box = table.bounding_box()
    last = table.get_by_role("columnheader").last.bounding_box()
    assert box is not None and last is not None
    name = table.get_attribute("id")
    assert last["x"] + last["width"] <= box["x"] + box["width"] + 1, f"#{name}'s last column is cut off"
    assert box["x"] + box["width"] <= page.viewport_size["width"], f"#{name} is wider than the page"


def check_background_work(page: Any, served: Served, detail: str) -> None:
    """Issue 25 item 2 in chromium: this Space's own throughput run (ticked at submission) and an audit (asked
    for on the detail page) each show, while they run, on the Queue page with their kind, progress and ETA, in
    the scheduler's line, and on the entry's detail page. Each is held at its gate until seen."""
    from playwright.sync_api import expect

    for kind, on_detail in ((THROUGHPUT, "Throughput run in progress"), (AUDIT, "Audit running")):
        label = KIND_LABELS[kind]  # "throughput run (R14)", "audit (R13)"
        if kind == AUDIT:  # asked for by a visitor; it runs once the throughput run has published
            page.goto(served.url + detail)
            page.locator("#detail-audit-request").click()
            expect(page.locator("#detail-audit-result")).to_contain_text("requested", timeout=20_000)
        served.wait_until_reached(kind)
        page.goto(served.url + "?tab=queue")
        card = page.locator(f".lb-work-{kind}")
        expect(card).to_contain_text(label[0].upper() + label[1:], timeout=20_000)
        expect(card).to_contain_text(MODEL)
        expect(card).to_contain_text("ETA")
        expect(page.locator("#queue-scheduler")).to_contain_text(f"running the {label}")
        check_every_column_in_view(page, page.locator("#queue-finished"))  # its throughput words are long
        screenshot(page, f"queue-{kind}-running")
        page.goto(served.url + detail)
        expect(page.locator("#detail-tracks" if kind == THROUGHPUT else "#detail-audit")).to_contain_text(
            on_detail, timeout=20_000
        )
        screenshot(page, f"detail-{kind}-running")
        served.release(kind)


def visit_the_other_pages(page: Any, tab: Any, shot: Any) -> None:
    """Queue, Log, About and Submit after the evaluation."""
    from playwright.sync_api import expect

    tab("Queue")
    expect(page.locator("#queue-finished")).to_contain_text(MODEL, timeout=10_000)
    scheduler = page.locator("#queue-scheduler").inner_text()
    assert not ("evaluating" in scheduler and "nothing pending" in scheduler), scheduler
    shot("queue")
    tab("Log")
    expect(page.locator("#log-chain")).to_contain_text("hash chain verifies", timeout=10_000)
    expect(page.locator("#log-table")).to_contain_text("finished")
    shot("log")
    tab("About")
    expect(page.locator("#about")).to_contain_text("Batch size one")
    shot("about")
    tab("Submit")
    shot("submit-after")


@pytest.fixture(scope="module")
def background_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A board whose finished entry asked for a throughput run that a Job holds (its lease, in the public log):
    the state a visitor sees while the run goes on elsewhere. The Space's own scheduler waits an hour."""
    needs_chromium()
    from openasr_core.records import PredictionRow
    from openasr_core.store import LocalStore
    from testkit.factories import make_request, make_result

    root = tmp_path_factory.mktemp("background")
    store = LocalStore(root / "store")
    result = make_result("req-thr", "test-org/tiny", precision="float32", wers={"ljspeech-sample": 0.3})
    store.submit(make_request("req-thr", "test-org/tiny", precision="float32", throughput=True))
    claimed = store.claim("worker-1", 600, 3)
    assert claimed is not None
    rows = [PredictionRow(id="u1", reference="a", prediction="a", duration_s=1.0, time_s=0.1)]
    store.finish("req-thr", "worker-1", result, {"ljspeech-sample": rows})
    store.start_throughput("req-thr", "job-7f3a", lease_s=3600)
    (root / "models").mkdir()
    yield from serve(root, tick_s=3600)


def test_a_throughput_run_held_elsewhere_shows_as_running_in_a_browser(background_url: str) -> None:
    """Issue 25 item 2 in chromium: the Queue page says the run asked for is running, whose lease until when."""
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            page.goto(background_url)
            page.get_by_role("tab", name=re.compile("Queue")).click()
            finished = page.locator("#queue-finished")
            expect(finished).to_contain_text("test-org/tiny", timeout=20_000)
            expect(finished).to_contain_text("running: attempt 1", timeout=10_000)
            expect(finished).to_contain_text("lease until")
            screenshot(page, "queue-throughput-running-elsewhere")
        finally:
            browser.close()
