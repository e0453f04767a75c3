"""Bad submissions through the Submit form's code path, on a store with a damaged log, for `bench/reliability.py`.

The list is `tests/bad_inputs.py`'s `BAD_INPUTS` when that module exists (the untrusted-text work keeps it next
to its tests); otherwise the fallback below, which names the same kinds of input. An input counts as refused
when `leaderboard.submission.submit` says "Not accepted" and the store's files are byte-identical afterwards.
A refusal that echoes the input's markup, NUL or bidirectional controls, or more than 2,000 characters, is
noted (that is the untrusted-text work's rule; the count does not depend on it).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from bench.reliability_checks import Tally

LONG = 10_000
EVIL = "<img src=x onerror=alert(1)> [Verify your account](https://evil.example/login)"


@dataclass(frozen=True)
class Input:
    name: str
    model_id: str
    revision: str = "main"
    precision: str = "float32"
    accepted: bool = True
    card: str | None = None


def _card(license_value: str | None) -> str:
    return "---\n" + (f"license: {json.dumps(license_value)}\n" if license_value is not None else "") + "---\n# x\n"


FALLBACK = (
    Input("empty id", ""),
    Input("absolute path", "/etc/passwd"),
    Input("git url tail", "org/name.git"),
    Input("three parts", "org/name/extra"),
    Input("dot dot", "org/../name"),
    Input("space", "org/my model"),
    Input("newline", "org/name\nx"),
    Input("10,000 characters", "a" * LONG),
    Input("NUL", "org/na\x00me"),
    Input("right-to-left override", "org/\u202etxt.exe"),
    Input("html id", "<img src=x onerror=alert(1)>/x"),
    Input("markdown link id", "[Verify](https://evil.example/login)"),
    Input("revision traversal", "org/name", revision="../../etc/passwd"),
    Input("long revision", "org/name", revision="b" * LONG),
    Input("html revision", "org/name", revision="<script>alert(1)</script>"),
    Input("precision", "org/name", precision="int8"),
    Input("rules not accepted", "org/name", accepted=False),
    Input("no license", "test-org/unlicensed", card=_card(None)),
    Input("license with html and a link", "test-org/evil-license", card=_card(EVIL)),
)


def _inputs() -> tuple[list[Input], str]:
    try:
        from tests.bad_inputs import BAD_INPUTS  # type: ignore[import-not-found]
    except ImportError:
        return list(FALLBACK), "fallback list in bench/reliability_inputs.py"
    converted = [Input(b.name, b.model_id, b.revision, b.precision, b.accepted, b.card) for b in BAD_INPUTS]
    return converted, "tests/bad_inputs.py"


def _fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock"):
        digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def _unsafe(message: str) -> bool:
    return len(message) > 2000 or "<img" in message or "<script" in message or "\x00" in message or "\u202e" in message


def bad_inputs(workdir: Path) -> Tally:
    from bench.reliability_worker import open_store
    from core import layout
    from core.config import load_config
    from leaderboard.inspection import LocalModels, ModelInspector
    from leaderboard.submission import SubmissionForm, submit
    from tests.fixtures.tiny_models import make_tiny_ctc

    inputs, source_name = _inputs()
    tally = Tally("bad inputs on a damaged store", "local", bad_inputs=len(inputs))
    store, models = open_store(workdir / "store"), workdir / "models"
    chunk = store.requests_root / layout.log_chunk_path(0)
    store.submit(_seed_request())
    chunk.write_bytes(chunk.read_bytes() + b"{garbage\n")
    template = make_tiny_ctc(workdir / "tiny")
    for item in inputs:
        if item.card is not None:
            shutil.copytree(template, models / item.model_id, dirs_exist_ok=True)
            (models / item.model_id / "README.md").write_text(item.card, encoding="utf-8")
    rules, source = load_config(None, env={}).rules, ModelInspector(LocalModels(models), None)
    unsafe = []
    for item in inputs:
        before = _fingerprint(store.root)
        form = SubmissionForm.from_inputs(item.model_id, item.revision, item.precision, item.accepted)
        outcome = submit(form, "bench-user", source=source, store=store, rules=rules)
        if not outcome.accepted and _fingerprint(store.root) == before:
            tally.refused += 1
        else:
            tally.notes.append(f"NOT refused: {item.name}")
        if _unsafe(outcome.message):
            unsafe.append(item.name)
    tally.notes.insert(0, f"inputs from {source_name}")
    if unsafe:
        tally.notes.append(f"refusal echoes markup/controls/length (untrusted-text work): {', '.join(unsafe)}")
    return tally


def _seed_request():
    from tests.factories import make_request

    return make_request("seed-000", "org/seeded", submitted_at="2026-11-27T09:00:00Z")
