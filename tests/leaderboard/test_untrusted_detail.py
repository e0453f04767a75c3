"""Issue 26.7: a model's `generation_config.json`, its transcripts and an audit's reason reach the detail page as
text, never as a live link or a bidi override, checked on the strings and in Debian's chromium."""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaderboard.audit_view import audit_markdown
from leaderboard.detail_view import decoding_section, detail_choices, measurement_markdown
from leaderboard.table import BoardInput, build_board
from openasr_core.records import PredictionRow
from openasr_core.signing import local_private_key, sign_result
from openasr_core.store import LocalStore
from openasr_core.untrusted import FORMAT_CHARACTERS, REPLACEMENT, clean, html_text, md_code, md_text
from testkit.app_process import AppDidNotStart, log_tail, running_app
from testkit.factories import make_request, make_result
from testkit.markdown_render import rendered_html, shown_text
from tests.leaderboard.test_browser import CHROMIUM, CHROMIUM_ARGS, STARTUP_TIMEOUT_S

PHISH = "[Verify your account](https://evil.example/login)"
IGNORED = [f"generation_config.json: {PHISH}=1", f"generation_config.json: num_beams={PHISH}", "www.evil.example"]
BIDI_TRANSCRIPT = "pay \u202eevil\u202c to a\u200bb\u2066c\u2069 \ufeffd"
_LIVE_EVIL = re.compile(r"<a [^>]*href=\"[^\"]*evil", re.IGNORECASE)


def evil_result(request_id: str = "r1", version: str = "v1", gpu_class: str = "A10G"):
    return make_result(request_id, "org/model", version=version, gpu_class=gpu_class).replace(
        decoding={"strategy": "greedy", PHISH: PHISH}, ignored_settings=IGNORED
    )


# --- the helper ------------------------------------------------------------------------------------------


def test_every_invisible_format_character_and_separator_is_neutralised() -> None:
    """Every Unicode format character (category Cf: bidi controls, zero-width spaces, tags ...) this Python knows
    is replaced, so a new Unicode version adding one fails here instead of passing silently."""
    pattern = re.compile(f"[{FORMAT_CHARACTERS}]")
    missing = [hex(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Cf"]
    assert [c for c in missing if not pattern.match(chr(int(c, 16)))] == []
    assert clean(BIDI_TRANSCRIPT) == "pay \ufffdevil\ufffd to a\ufffdb\ufffdc\ufffd \ufffdd"
    assert clean("a\u2028b\u2029c\ud800") == f"a b c{REPLACEMENT}"
    for text in (BIDI_TRANSCRIPT, "\U000e0041\U000e007f\u00ad\u2060"):
        assert not any(unicodedata.category(ch) == "Cf" for ch in md_text(text) + html_text(text))


def test_one_escape_is_inert_in_markdown_and_in_html_inside_markdown() -> None:
    """The same escaped text is plain text in a paragraph, in inline HTML of a paragraph (where an HTML escape
    alone leaves a markdown link live) and in an HTML block (where a backslash escape would show)."""
    for text in (PHISH, "*a* `b` _c_ ~d~ | e", "www.evil.example", "a@evil.example", "- item", "1. item", "# h"):
        for markdown in (
            md_text(text),
            f"x <code>{md_text(text)}</code>",
            f"<table><tr><td>{md_text(text)}</td></tr></table>",
        ):
            assert not _LIVE_EVIL.search(rendered_html(markdown)), markdown
            assert text in shown_text(markdown) and "\\" not in shown_text(markdown)
    assert md_text("openai/whisper-base 2026-01-02T03:04:05Z 24.0 GiB (x)") == (
        "openai/whisper-base 2026-01-02T03:04:05Z 24.0 GiB (x)"
    )
    assert html_text is md_text and md_code("a_b") == "<code>a&#95;b</code>"


# --- the detail page's strings ---------------------------------------------------------------------------


def test_ignored_settings_and_decoding_keys_render_as_text_not_links() -> None:
    result = evil_result()
    for markdown in (decoding_section(result), measurement_markdown(result)):
        html = rendered_html(markdown)
        assert not _LIVE_EVIL.search(html), html
        assert "https://evil" not in markdown and "www.evil" not in markdown
        assert f"generation_config.json: {PHISH}=1" in shown_text(markdown)


def test_an_audit_dropped_reason_renders_as_text() -> None:
    store_log = _log_with_drop(f"{PHISH} \u202eevil")
    markdown = audit_markdown("r1", [], store_log)
    assert not _LIVE_EVIL.search(rendered_html(markdown))
    assert PHISH in shown_text(markdown) and "\u202e" not in markdown


def _log_with_drop(reason: str, root: Path | None = None):
    import tempfile

    store = LocalStore(root or Path(tempfile.mkdtemp()) / "store")
    store.drop_audit("r1", "scheduler", reason, requested=False)
    return store.snapshot().log


def test_transcript_preview_and_entry_labels_have_no_bidi_controls(tmp_path: Path) -> None:
    from leaderboard.pages.detail import DetailPage

    store = _evil_store(tmp_path / "store")
    page = DetailPage.__new__(DetailPage)  # only `preview` is called: it needs the store, not the components
    page.store = store
    frame = page.preview("r1", "ami")
    assert frame is not None and len(frame)
    cells = " ".join(str(v) for v in frame.to_numpy().ravel())
    assert not any(unicodedata.category(ch) == "Cf" for ch in cells) and "evil" in cells
    board = build_board([BoardInput(evil_result().replace(model_id="org/a\u202eb"))], eval_sets=["ami"])
    assert "\u202e" not in detail_choices(list(board.entries))[0].label


def _evil_store(root: Path, version: str = "v1", gpu_class: str = "A10G") -> LocalStore:
    """One finished, signed result whose model asked for phishing decoding settings, whose transcripts hold
    bidi controls, and whose audit was dropped with a phishing reason."""
    store = LocalStore(root)
    result = evil_result(version=version, gpu_class=gpu_class)
    store.submit(make_request("r1", result.model_id, precision=result.precision))
    claimed = store.claim("worker-1", 600, 3)
    assert claimed is not None
    rows = [PredictionRow(id="u\u202e1", reference="pay evil", prediction=BIDI_TRANSCRIPT, duration_s=2.0, time_s=0.2)]
    store.finish("r1", "worker-1", sign_result(result, local_private_key(root)), dict.fromkeys(result.datasets, rows))
    store.drop_audit("r1", "scheduler", f"{PHISH} \u202eevil", requested=False)
    return store


# --- in chromium -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def evil_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install -y chromium)")
    pytest.importorskip("playwright.sync_api")
    root = tmp_path_factory.mktemp("evil-detail")
    _evil_store(root / "store", version="local-v1", gpu_class="any")
    settings = {
        "LEADERBOARD_STORE": str(root / "store"),
        "LEADERBOARD_MODELS_DIR": str(root / "models"),
        "LEADERBOARD_SCHEDULER": "off",
    }
    try:
        with running_app(settings, root / "app.log", startup_timeout_s=STARTUP_TIMEOUT_S) as url:
            yield url
    except AppDidNotStart as exc:
        pytest.fail(str(exc))
    finally:
        print(f"--- app.py log (tail) ---\n{log_tail(root / 'app.log', 2000)}")


@pytest.mark.browser
def test_the_detail_page_in_chromium_has_no_evil_link_and_no_bidi_override(evil_app: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.goto(evil_app.rstrip("/") + "/?detail=r1")
            expect(page.locator("#detail-header")).to_contain_text("org/model", timeout=30_000)
            page.get_by_text("Preview raw predictions").click()
            expect(page.locator("#preview-table")).to_contain_text("evil", timeout=15_000)
            expect(page.get_by_text(f"generation_config.json: {PHISH}=1").first).to_be_visible()
            expect(page.locator("#detail-audit")).to_contain_text(PHISH)
            assert page.locator('a[href*="evil.example"]').count() == 0
            body = page.locator("body").inner_text()
            assert not any(ch in body for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b")
        finally:
            browser.close()
