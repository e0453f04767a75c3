"""Submissions that must be refused, with what the refusal must say: the list the submission tests run and
`bench/reliability.py` imports to count "bad inputs tried and refused".

Each `BadInput` is what the Submit form holds and, when `card` is set, the README.md (model card) of a local
tiny model placed at `model_id` first (the other model rules pass, so the card alone decides). `expected` is a
substring of the refusal *as a reader sees it* (`testkit.markdown_render.shown_text` of the markdown message);
`refused_safely` also checks what every refusal must be: short, and free of the input's markup and controls;
`try_bad_input` submits one against a store and says what went wrong (nothing, when it was refused right).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from openasr_core.untrusted import BIDI_CONTROLS
from testkit.markdown_render import rendered_html, shown_text

EVIL_LICENSE = "<img src=x onerror=alert(1)> [Verify your account](https://evil.example/login)"
LONG = 10_000
#: A refusal is read on the Submit page: it quotes a prefix of a long input, never all of it.
MAX_MESSAGE_CHARS = 2_000


def card(license_value: str | None = None, license_name: str | None = None) -> str:
    """A model card whose YAML front matter holds these values (JSON strings are valid YAML scalars)."""
    lines = [f"license: {json.dumps(license_value)}"] if license_value is not None else []
    lines += [f"license_name: {json.dumps(license_name)}"] if license_name is not None else []
    return "---\n" + "\n".join(lines) + "\n---\n# A tiny test model\n"


@dataclass(frozen=True)
class BadInput:
    name: str
    model_id: str
    expected: str
    revision: str = "main"
    precision: str = "float32"
    accepted: bool = True
    card: str | None = None


BAD_INPUTS: tuple[BadInput, ...] = (
    BadInput("empty id", "", "Enter a model id"),
    BadInput("absolute path", "/etc/passwd", "/etc/passwd is not a model id. It starts or ends with /"),
    BadInput("git url tail", "org/name.git", "org/name.git is not a model id. It ends in .git"),
    BadInput("trailing slash", "org/name/", "is not a model id"),
    BadInput("three parts", "org/name/extra", "is not a model id"),
    BadInput("dot dot", "org/../name", "is not a model id"),
    BadInput("double dash", "org--x/name", "is not a model id"),
    BadInput("space", "org/my model", "is not a model id"),
    BadInput("newline", "org/name\nx", "is not a model id"),
    BadInput("10,000 characters", "a" * LONG, f"({LONG:,} characters) is not a model id"),
    BadInput("10,000 characters with a slash", "o/" + "a" * LONG, f"({LONG + 2:,} characters) is not a model id"),
    BadInput("NUL", "org/na\x00me", "org/na me is not a model id"),
    BadInput("right-to-left override", "org/\u202etxt.exe", "org/\ufffdtxt.exe is not a model id"),
    BadInput("html id", "<img src=x onerror=alert(1)>/x", "<img src=x onerror=alert(1)>/x is not a model id"),
    BadInput("markdown link id", "[Verify](https://evil.example/login)", "is not a model id"),
    BadInput("revision traversal", "org/name", "is not a revision", revision="../../etc/passwd"),
    BadInput("long revision", "org/name", f"({LONG:,} characters) is not a revision", revision="b" * LONG),
    BadInput("html revision", "org/name", "is not a revision", revision="<script>alert(1)</script>"),
    BadInput("precision", "org/name", "Choose a precision", precision="int8"),
    BadInput("rules not accepted", "org/name", "I accept the rules", accepted=False),
    BadInput(
        "license with html and a link",
        "test-org/evil-license",
        "declares a license that is not one of the Hub's license ids",
        card=card(EVIL_LICENSE),
    ),
    BadInput("license not on the list", "test-org/made-up", "not one of the Hub's license ids", card=card("free")),
    BadInput("no license", "test-org/unlicensed", "declares no license", card=card()),
    BadInput("license unknown", "test-org/unknown", "declares its license as unknown", card=card("unknown")),
    BadInput("other without a name", "test-org/other", "without a valid license_name", card=card("other")),
    BadInput(
        "other with an html name",
        "test-org/other-html",
        "without a valid license_name",
        card=card("other", EVIL_LICENSE),
    ),
)


def refused_safely(bad: BadInput, message: str) -> list[str]:
    """What is wrong with `message` as the refusal of `bad` (empty when it is right)."""
    problems = []
    shown = shown_text(message)
    if bad.expected not in shown:
        problems.append(f"expected {bad.expected!r} in {shown[:300]!r}")
    if len(message) > MAX_MESSAGE_CHARS:
        problems.append(f"message is {len(message)} characters long")
    rendered = rendered_html(message)
    if re.search(r"<(img|script)", message + rendered) or re.search(r'href="[^"]*evil', rendered):
        problems.append("the input's markup or link reached the message or its rendered HTML")
    if "\x00" in message or any(c in message for c in BIDI_CONTROLS):
        problems.append("a NUL or bidirectional control character is echoed")
    return problems


def try_bad_input(bad: BadInput, store: Any, models_dir: Path, place_model: Callable[[str], Path]) -> list[str]:
    """Submit `bad` as `alice` through the Submit form's code against `store` (local models in `models_dir`;
    `place_model(model_id)` copies a valid tiny model there, whose card is then replaced by `bad.card`).
    Returns the problems: accepted, a wrong or unsafe refusal, or anything written to the store."""
    from testkit.submit import run_submit

    if bad.card is not None:
        (place_model(bad.model_id) / "README.md").write_text(bad.card, encoding="utf-8")
    before = store.snapshot()
    outcome = run_submit(
        store, models_dir, bad.model_id, precision=bad.precision, revision=bad.revision, accepted=bad.accepted
    )
    if outcome.accepted:
        return [f"{bad.name}: accepted"]
    problems = [f"{bad.name}: {p}" for p in refused_safely(bad, outcome.message)]
    after = store.snapshot()
    if after.requests != before.requests or len(after.log) != len(before.log):
        problems.append(f"{bad.name}: the store changed")
    return problems
