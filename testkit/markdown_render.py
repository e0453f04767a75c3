"""What a reader sees of a markdown string: rendered by a CommonMark renderer (markdown-it, raw HTML on, as
gradio's marked has it), as HTML or as plain text. Tests of messages that escape untrusted text check this,
not the escaped source."""

from __future__ import annotations

import html
import re

from markdown_it import MarkdownIt

_RENDERER = MarkdownIt("commonmark")
_TAG = re.compile(r"<[^>]+>")


def rendered_html(markdown: str) -> str:
    """The HTML a CommonMark renderer makes of `markdown` (raw HTML passes through, as in gradio)."""
    return _RENDERER.render(markdown)


def shown_text(markdown: str) -> str:
    """The text a reader sees: the rendered HTML without its tags, entities decoded, on one line."""
    return " ".join(html.unescape(_TAG.sub("", rendered_html(markdown))).split())
