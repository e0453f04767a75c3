"""The whole product in a real browser: `python app.py` on a temporary store, driven by Debian's chromium.

A tiny random Whisper sits in the local models folder as `test-org/tiny-whisper`. The test submits it through
the form, checks two refusals, waits for the background scheduler to evaluate it, finds it on the board,
filters it away and back (and through a shared URL), opens its detail, and saves a screenshot of every page
under `test-output/screenshots/`.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"python app.py exited with {process.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    pytest.fail(f"python app.py did not answer within {STARTUP_TIMEOUT_S} s:\n{log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory, tiny_model_sources: dict[str, Path]) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("browser")
    models = root / "models"
    shutil.copytree(tiny_model_sources["whisper"], models / MODEL)
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("SPACE_ID", "REQUESTS_REPO", "RESULTS_REPO", "LEADERBOARD_CONFIG")
    }
    env.update(
        LEADERBOARD_STORE=str(root / "store"),
        LEADERBOARD_MODELS_DIR=str(models),
        LEADERBOARD_TICK_S="1",
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        HF_HUB_OFFLINE="1",  # the Hub is not reachable here; say so at once instead of timing out
        PYTHONUNBUFFERED="1",
    )
    log = root / "app.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "app.py"], cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_http(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        print(f"--- app.py log (tail) ---\n{log.read_text(errors='replace')[-3000:]}")


def test_the_whole_product_in_a_browser(app_url: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            def tab(name: str) -> None:
                page.get_by_role("tab", name=re.compile(name)).click()

            def shot(name: str) -> None:
                page.wait_for_timeout(600)
                page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

            # The page renders, with a friendly empty board.
            page.goto(app_url)
            expect(page.get_by_role("heading", name=re.compile("Open ASR Leaderboard"))).to_be_visible(timeout=30_000)
            expect(page.locator("#lb-empty")).to_contain_text("No results yet", timeout=20_000)
            shot("leaderboard-empty")

            # Submit: two refusals with their reasons, then the tiny model is accepted with its queue position.
            tab("Submit")
            expect(page.locator("#submit-help")).to_contain_text(MODEL)
            result = page.locator("#submit-result")
            model_box = page.locator("#submit-model").get_by_role("textbox")
            model_box.fill(MODEL)
            page.locator("#submit-precision").get_by_text("float32").click()
            page.locator("#submit-button").click()
            expect(result).to_contain_text("I accept the rules", timeout=20_000)
            accept = page.locator("#submit-accept").get_by_role("checkbox")
            accept.check()
            model_box.fill("nosuchorg/nomodel")
            page.locator("#submit-button").click()
            expect(result).to_contain_text("not in the local models folder either", timeout=20_000)
            expect(result).to_contain_text("Not accepted")
            model_box.fill(MODEL)
            page.locator("#submit-button").click()
            expect(result).to_contain_text("Accepted", timeout=30_000)
            expect(result).to_contain_text("#1 in the queue")
            shot("submit")

            # The queue shows it; the scheduler evaluates it in the background.
            tab("Queue")
            expect(page.locator("#queue-scheduler")).to_contain_text("Scheduler", timeout=10_000)
            shot("queue-while-evaluating")

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
            search = page.locator("#lb-search").get_by_role("textbox")
            search.press_sequentially("no-such-model")  # typed, as a person would (fill() skips gradio's input event)
            expect(page.locator("#lb-empty")).to_contain_text("No entries match", timeout=10_000)
            page.wait_for_function("() => window.location.search.includes('q=no-such-model')", timeout=10_000)
            search.fill("")
            search.press_sequentially("tiny")
            expect(board).to_contain_text(MODEL, timeout=10_000)

            # A shared link restores the view.
            page.goto(app_url + "?q=no-such-model&precision=float32")
            expect(page.locator("#lb-empty")).to_contain_text("No entries match", timeout=20_000)
            expect(page.locator("#lb-search").get_by_role("textbox")).to_have_value("no-such-model")
            expect(page.locator("#lb-precision").get_by_label("float32", exact=True)).to_be_checked()
            page.goto(app_url)
            expect(board).to_contain_text(MODEL, timeout=20_000)

            # Clicking the row opens the model's detail.
            board.get_by_role("gridcell", name="float32").first.click()
            header = page.locator("#detail-header")
            expect(header).to_contain_text(MODEL, timeout=10_000)
            expect(header).to_contain_text("Average WER")
            expect(page.locator("#detail-table")).to_contain_text("ljspeech-sample")
            expect(page.get_by_text("python -m evaluator evaluate").first).to_be_visible()
            shot("detail")

            tab("Plot")
            expect(page.locator("#lb-plot")).to_contain_text("Pareto front", timeout=10_000)
            shot("plot")
            tab("Queue")
            expect(page.locator("#queue-finished")).to_contain_text(MODEL, timeout=10_000)
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
            assert not errors, f"JavaScript errors on the page: {errors}"
        finally:
            browser.close()
