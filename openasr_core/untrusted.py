"""Showing untrusted text (from a model repo, a submitter, or a stored record) on a page, safely.

Every page renders markdown (gradio's `gr.Markdown` and markdown table cells, marked with GFM), HTML inside that
markdown (tables and lists built as HTML, where markdown is parsed again between inline tags), plain HTML, or
plotly labels, so a model card license like `<img src=x onerror=alert(1)> [Verify your account](https://evil.example/login)`
would become markup and a live link. One escaping makes such text render as exactly its characters in all of
those places (issue 26: a backslash escape is not decoded inside an HTML block, and an HTML escape leaves
markdown's `[...](...)` live in a paragraph):

- `md_text`: every character markdown or HTML gives a meaning to becomes a numeric character reference
  (`[` -> `&#91;`). CommonMark decodes a reference as literal text, never as syntax; HTML, plotly and attribute
  values decode it to the character. Always: `& < > " '` and the punctuation that means something anywhere in a
  line (`[ ] * _ | ~ @`, the backtick, the backslash and `$$`, gradio's LaTeX delimiter); where it would start a
  block: a leading `- + # > =` or `1.`/`1)`;
  where GFM would autolink: the `:` of `://` and the `.` of `www.` (`@` is always escaped, for `a@b.c`). So no
  emphasis, link, heading, list, table or code span can start and no autolink matches, while ordinary text
  (`openai/whisper-base`, `2026-01-02T03:04:05Z`) keeps its characters. Line breaks and other control
  characters become spaces.
- `html_text`: the same function, named for HTML pages and plotly labels.
- `md_code`: the same, shown in a monospace `<code>` (a markdown code span cannot hold escaped text).
- `echo`: for refusals that quote what was typed: cleaned, and cut to a short prefix with the length.
- `clean`: the text as one line of plain characters, for components that show text as text (a dataframe's
  `str` cells, a dropdown's labels) and so need no escaping, only the cleaning.

Cleaning replaces NUL and the other C0/C1 controls and the line/paragraph separators with a space, and every
invisible format character (Unicode category Cf: the bidirectional controls, which can make `evil` read as
`live`, zero-width spaces and joiners, the word joiner, the byte-order mark, tag characters) and lone
surrogates with U+FFFD, so the reader sees that something was there.
"""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
#: Bidirectional formatting characters: embeddings, overrides, isolates, and the implicit marks.
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
#: Every format character (Unicode 15's category Cf, which includes `BIDI_CONTROLS`) and the surrogates.
FORMAT_CHARACTERS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\U000110bd\U000110cd\U00013430-\U0001343f"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0001\U000e0020-\U000e007f\ud800-\udfff"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_FORMAT = re.compile(f"[{FORMAT_CHARACTERS}]")
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&#34;", "'": "&#39;"}
#: Markdown syntax anywhere in a line, and the `@` of a GFM e-mail autolink. (`(`, `)` and `!` mean something
#: only next to an escaped `[`/`]`, or as a list's `1)`, escaped where it starts the text.)
_PUNCTUATION = "*@[\\]_`|~"
_MARKDOWN = str.maketrans({**_HTML_ENTITIES, **{c: f"&#{ord(c)};" for c in _PUNCTUATION}})
#: A block marker at the start (followed by a space, the end or more of its kind): bullet, heading, thematic
#: break, setext underline, ordered item (`1. x`; `24.0` is no marker). A block quote's `>` is always `&gt;`.
_LINE_START = re.compile(r"^(\s*)(?:([-+#=])(?=[\s=+#-]|$)|(\d{1,9})([.)])(?=\s|$))")
#: What GFM's extended autolinks start with: `scheme://` and `www.` (any case).
_AUTOLINK = re.compile(r"(?i):(?=//)|(?<=www)\.")
ECHO_LIMIT = 80


def clean(text: object) -> str:
    """`text` as one line: control characters and line separators become spaces, format characters (bidi
    controls, zero-width and other invisible ones) and lone surrogates U+FFFD."""
    return _FORMAT.sub(REPLACEMENT, _CONTROL.sub(" ", str(text)))


def md_text(text: object) -> str:
    """`text` (cleaned) as characters that render as exactly themselves in markdown, in HTML inside markdown, in
    HTML and in plotly labels: no markup, link or autolink (see the module doc)."""
    value = _AUTOLINK.sub(_reference, clean(text).translate(_MARKDOWN)).replace("$$", "&#36;&#36;")  # gradio's LaTeX
    return _LINE_START.sub(_escape_line_start, value, count=1)


def _reference(match: re.Match[str]) -> str:
    return f"&#{ord(match.group(0))};"


def _escape_line_start(match: re.Match[str]) -> str:
    """The leading block marker as a reference: `- x` stays a dash, `1. x` a number and a dot."""
    space, marker, digits, delimiter = match.groups()
    if marker is not None:
        return f"{space}&#{ord(marker)};"
    return f"{space}{digits}&#{ord(delimiter)};"


#: For HTML pages and plotly labels: the same escaping as `md_text` (one helper, right in every context).
html_text = md_text


def md_code(text: object) -> str:
    """`text` shown in monospace inside markdown, escaped like `md_text`."""
    return f"<code>{md_text(text)}</code>"


def shorten(text: object, limit: int = ECHO_LIMIT) -> str:
    """`text` cleaned and, when longer than `limit`, cut to a prefix that says how long the whole was."""
    value = clean(text)
    if len(value) <= limit:
        return value
    return f"{value[:limit]}… ({len(value):,} characters)"


def echo(text: object, limit: int = ECHO_LIMIT) -> str:
    """What a refusal quotes of an input: shortened, cleaned and escaped, in monospace."""
    return md_code(shorten(text, limit))
