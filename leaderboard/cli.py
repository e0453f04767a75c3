"""`python -m leaderboard submit`: submit a model from a terminal with exactly the checks of the Submit form.

It runs as the local user (`LEADERBOARD_LOCAL_USER`, default `local-user`), against the store the config
names, and counts towards that user's weekly limit like any submission. Running the command is taken as
accepting the rules (the form's check box). It prints the request id and exits 0, or prints the refusal
and exits 1; a broken config exits 2.
"""

from __future__ import annotations

import argparse
import html
import re
import sys
from collections.abc import Sequence
from typing import TextIO

from leaderboard import submission
from leaderboard.inspection import HubModels, LocalModels, ModelInspector
from leaderboard.submission import ModelSource, SubmissionForm
from openasr_core.board_files import open_store
from openasr_core.config import ConfigError, load_config
from openasr_core.records import PRECISIONS
from openasr_core.store import Store

_MARKDOWN = re.compile(r"\*\*|`|</?code>|^[✅❌] ")
_BACKSLASH_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")


def plain(markdown: str) -> str:
    """The form's markdown message as terminal text: bold, code marks and the leading emoji removed, and the
    escaping of quoted inputs (`openasr_core.untrusted.md_text`) undone; those inputs are already free of control
    characters, so no terminal escape sequence gets through."""
    return html.unescape(_BACKSLASH_ESCAPE.sub(r"\1", _MARKDOWN.sub("", markdown)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m leaderboard", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    submit = sub.add_parser("submit", help="submit a model for evaluation (the Submit form's checks)")
    submit.add_argument("--model", required=True, help="Hub id ORG/NAME, or <org>/<name> under the models folder")
    submit.add_argument("--revision", default="main", help="branch, tag or commit SHA (default main)")
    submit.add_argument("--precision", default="float32", help=f"one of {', '.join(PRECISIONS)}")
    submit.add_argument("--config", default=None, help="leaderboard-version TOML (default: LEADERBOARD_CONFIG)")
    submit.add_argument(
        "--throughput",
        action="store_true",
        help="also measure offline throughput after batch one (the form's tick box)",
    )
    submit.add_argument(
        "--publish-results",
        action="store_true",
        help="open a pull request with the verified results on the model's repo once finished (the form's tick box)",
    )
    return parser


def submit_command(
    args: argparse.Namespace, out: TextIO, err: TextIO, store: Store | None = None, source: ModelSource | None = None
) -> int:
    config = load_config(args.config)
    store = store or open_store(config)
    source = source or ModelInspector(LocalModels(config.models_dir), HubModels())
    form = SubmissionForm.from_inputs(
        args.model, args.revision, args.precision, True, args.throughput, args.publish_results
    )
    outcome = submission.submit(
        form, config.local_user, source=source, store=store, rules=config.rules, eval_sets=config.eval_sets
    )
    if not outcome.accepted or outcome.request is None:
        print(plain(outcome.message), file=err)
        return 1
    print(outcome.request.request_id, file=out)
    print(plain(outcome.message), file=err)
    return 0


def main(
    argv: Sequence[str] | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
    store: Store | None = None,
    source: ModelSource | None = None,
) -> int:
    args = _parser().parse_args(argv)
    try:
        return submit_command(args, out or sys.stdout, err or sys.stderr, store, source)
    except ConfigError as exc:
        print(f"error: {exc}", file=err or sys.stderr)
        return 2
