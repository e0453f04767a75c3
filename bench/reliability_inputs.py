"""Bad submissions through the Submit form's code path, on a store with a damaged log, for `bench/reliability.py`.

The inputs are `testkit/bad_inputs.py`'s `BAD_INPUTS`, the list the submission tests run. An input counts as
refused when `leaderboard.submission.submit` says "Not accepted" and the store's files are byte-identical
afterwards; a refusal that is wrong or unsafe by `refused_safely` (the untrusted-text rule: short, no markup,
NUL or bidirectional controls echoed) is noted.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from reliability_checks import Tally


def _fingerprint(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != ".lock"):
        digest.update(path.relative_to(root).as_posix().encode() + path.read_bytes())
    return digest.hexdigest()


def bad_inputs(workdir: Path) -> Tally:
    from reliability_worker import open_store

    from leaderboard.inspection import LocalModels, ModelInspector
    from leaderboard.submission import SubmissionForm, submit
    from openasr_core import layout
    from openasr_core.config import load_config
    from testkit.bad_inputs import BAD_INPUTS, refused_safely
    from testkit.tiny_models import make_tiny_ctc

    tally = Tally("bad inputs on a damaged store", "local", bad_inputs=len(BAD_INPUTS))
    store, models = open_store(workdir / "store"), workdir / "models"
    chunk = store.requests_root / layout.log_chunk_path(0)
    store.submit(_seed_request())
    chunk.write_bytes(chunk.read_bytes() + b"{garbage\n")
    template = make_tiny_ctc(workdir / "tiny")
    for item in BAD_INPUTS:
        if item.card is not None:
            shutil.copytree(template, models / item.model_id, dirs_exist_ok=True)
            (models / item.model_id / "README.md").write_text(item.card, encoding="utf-8")
    rules, source = load_config(None, env={}).rules, ModelInspector(LocalModels(models), None)
    unsafe = []
    for item in BAD_INPUTS:
        before = _fingerprint(store.root)
        form = SubmissionForm.from_inputs(item.model_id, item.revision, item.precision, item.accepted)
        outcome = submit(form, "bench-user", source=source, store=store, rules=rules)
        if not outcome.accepted and _fingerprint(store.root) == before:
            tally.refused += 1
        else:
            tally.notes.append(f"NOT refused: {item.name}")
        if not outcome.accepted and refused_safely(item, outcome.message):
            unsafe.append(item.name)
    tally.notes.insert(0, "inputs from testkit/bad_inputs.py")
    if unsafe:
        tally.notes.append(f"refusal wrong or unsafe (testkit/bad_inputs.py refused_safely): {', '.join(unsafe)}")
    return tally


def _seed_request():
    from testkit.factories import make_request

    return make_request("seed-000", "org/seeded", submitted_at="2026-11-27T09:00:00Z")
