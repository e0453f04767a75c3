"""The escaped page strings, rendered by gradio's own markdown renderer (marked, GFM, line breaks on), as
`gr.Markdown` and markdown table cells render them in the browser: no tag, no link, no autolink survives.

It runs the `marked` bundled in the installed gradio under node, so it skips where node or that bundle is
missing; the renderer's (minified) class is found by its shape, `X=class{defaults=`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import gradio
import pytest

from leaderboard.detail_view import detail_view
from leaderboard.table import BoardInput, Filters, build_board
from openasr_core.store import LocalStore
from testkit.bad_inputs import EVIL_LICENSE, card
from testkit.factories import make_request, make_result
from testkit.submit import run_submit

CHUNKS = Path(gradio.__file__).parent / "templates" / "node" / "build" / "server" / "chunks"
EVIL = EVIL_LICENSE + " www.evil.example a@evil.example"
_RENDER = """
import { MarkedClass } from './%s';
import fs from 'fs';
const marked = new MarkedClass();
marked.use({ gfm: true, pedantic: false, breaks: true });
console.log(JSON.stringify(JSON.parse(fs.readFileSync(0, 'utf8')).map((s) => marked.parse(s))));
"""


@pytest.fixture(scope="module")
def render(tmp_path_factory: pytest.TempPathFactory):
    node = shutil.which("node")
    bundles = sorted(CHUNKS.glob("markdown-code-*.js"))
    if node is None or not bundles:
        pytest.skip("node or gradio's bundled markdown renderer is not available")
    found = re.search(r"(\w+)=class\{defaults=", bundles[0].read_text(encoding="utf-8"))
    if found is None:
        pytest.skip("gradio's markdown bundle has no recognisable marked class")
    folder = tmp_path_factory.mktemp("gradio") / "chunks"
    shutil.copytree(CHUNKS, folder)
    module = folder / bundles[0].name
    module.write_text(module.read_text(encoding="utf-8") + f"\nexport {{ {found[1]} as MarkedClass }};\n")
    script = folder / "render.mjs"
    script.write_text(_RENDER % bundles[0].name)

    def run(markdowns: list[str]) -> list[str]:
        done = subprocess.run(
            [node, str(script)], input=json.dumps(markdowns), capture_output=True, text=True, timeout=60, check=True
        )
        return json.loads(done.stdout)

    return run


def _unsafe(html: str) -> bool:
    return "<img" in html or bool(re.search(r'href="[^"]*evil', html))


def test_page_strings_render_without_tags_or_links(render, place_model, models_dir: Path, tmp_path: Path) -> None:
    result = make_result("r1", "org/model", license=EVIL, architecture=EVIL)
    board = build_board([BoardInput(result)], eval_sets=["ami", "librispeech"])
    detail = detail_view(result, board.entry("r1"), make_request("r1", submitter=EVIL), {"ami": EVIL}, max_rtf=1.0)
    folder = place_model("test-org/evil-license")
    (folder / "README.md").write_text(card(EVIL))
    refusal = run_submit(LocalStore(tmp_path / "store"), models_dir, "test-org/evil-license").message
    long_id = run_submit(LocalStore(tmp_path / "store"), models_dir, EVIL * 200).message
    evil_board = build_board([BoardInput(make_result("r2", EVIL))], eval_sets=[])
    cell = evil_board.view(Filters(official_only=False)).frame.loc[0, "Model"]
    pages = [detail.header, detail.measurement, detail.predictions, refusal, long_id, cell]
    raw, *rendered = render([EVIL, *pages])
    assert _unsafe(raw)  # the renderer is live: the unescaped text becomes a tag and links
    for markdown, html in zip(pages, rendered, strict=True):
        assert not _unsafe(html), (markdown, html)
    assert "&lt;img src=x onerror=alert(1)&gt;" in rendered[0]  # shown as text (the architecture)
