"""Submit through the Submit form's own code path, as a logged-in user, with models from a local folder."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from leaderboard import submission
from leaderboard.inspection import LocalModels, ModelInspector
from openasr_core.config import EvalSetConfig, Rules


def run_submit(
    store: Any,
    models_dir: Path,
    model_id: str,
    *,
    precision: str = "float32",
    revision: str = "main",
    accepted: bool = True,
    user: str = "alice",
    rules: Rules | None = None,
    now: datetime | None = None,
    eval_sets: Sequence[EvalSetConfig] = (),
    publish_results: bool = False,
) -> submission.SubmissionOutcome:
    """`submission.submit` of the form's inputs, with no Hub (`models_dir` holds the `<org>/<name>` folders);
    the repo's claims are mapped to `eval_sets` (R15)."""
    return submission.submit(
        submission.SubmissionForm.from_inputs(model_id, revision, precision, accepted, False, publish_results),
        user,
        source=ModelInspector(LocalModels(models_dir), None),
        store=store,
        rules=rules or Rules(),
        eval_sets=eval_sets,
        **({"now": now} if now else {}),
    )
