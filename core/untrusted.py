"""Showing untrusted text (from a model repo, a submitter, or a stored record) on a page, safely.

Every page renders markdown (gradio's `gr.Markdown` and markdown table cells, marked with GFM) or HTML, so a
model card license like `<img src=x onerror=alert(1)> [Verify your account](https://evil.example/login)`
would become markup and a link. These helpers make such text render as exactly its characters:

- `md_text`: for markdown. HTML's `& < > " '` become entities (so no tag survives, even in the markdown
  source), the ASCII punctuation markdown uses is backslash-escaped (CommonMark allows that for any of it), so no
  emphasis, link, heading, table or code span can start, and GFM's bare-URL autolinks (`https://`, `www.`,
  `a@b.c`) no longer match. Line breaks and other control characters become spaces.
- `md_code`: the same, shown in a monospace `<code>` (a markdown code span cannot hold escaped text).
- `html_text`: for HTML pages and plotly labels: `html.escape` after the same cleaning.
- `echo`: for refusals that quote what was typed: cleaned, and cut to a short prefix with the length.

Cleaning replaces NUL and the other C0/C1 controls with a space and bidirectional controls (which can make
`evil` read as `live`) with U+FFFD, so the reader sees that something was there.
"""

from __future__ import annotations

import html
import re

REPLACEMENT = "\ufffd"
#: Bidirectional formatting characters: embeddings, overrides, isolates, and the implicit marks.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_BIDI = re.compile(f"[{BIDI_CONTROLS}]")
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}
#: Markdown syntax, and what GFM autolinks start with (`:` of `https://`, `.` of `www.`, `@` of an e-mail).
_PUNCTUATION = "!#$()*+-.:=@[\\]_`{|}~"
_MARKDOWN = str.maketrans({**_HTML_ENTITIES, **{c: "\\" + c for c in _PUNCTUATION}})
ECHO_LIMIT = 80


def clean(text: object) -> str:
    """`text` as one line: control characters become spaces, bidirectional controls U+FFFD."""
    return _BIDI.sub(REPLACEMENT, _CONTROL.sub(" ", str(text)))


def md_text(text: object) -> str:
    """Markdown that renders as exactly the characters of `text` (cleaned): no markup, link or autolink."""
    return clean(text).translate(_MARKDOWN)


def md_code(text: object) -> str:
    """`text` shown in monospace inside markdown, escaped like `md_text`."""
    return f"<code>{md_text(text)}</code>"


def html_text(text: object) -> str:
    """`text` (cleaned) escaped for HTML, quotes included so it is safe inside an attribute too."""
    return html.escape(clean(text), quote=True)


def shorten(text: object, limit: int = ECHO_LIMIT) -> str:
    """`text` cleaned and, when longer than `limit`, cut to a prefix that says how long the whole was."""
    value = clean(text)
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value):,} characters)"


def echo(text: object, limit: int = ECHO_LIMIT) -> str:
    """What a refusal quotes of an input: shortened, cleaned and escaped, in monospace."""
    return md_code(shorten(text, limit))
