"""`python -m evaluator <subcommand> --help` answers at once: no subcommand's help imports torch or transformers
(issue 25, item 6: `audit --help` took about 14 s when `evaluator.audit` imported `evaluator.evaluate` at the top).
The heavy modules are imported where a model is loaded, never when the CLI starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from evaluator.cli import DELEGATED, build_parser

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "torchaudio")

#: Runs each subcommand's --help in one fresh interpreter and reports, after each, which heavy modules it loaded.
PROBE = """
import contextlib, io, json, sys
from evaluator.cli import main
heavy, commands, loaded = sys.argv[1].split(","), sys.argv[2:], {}
for command in commands:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        try:
            main([command, "--help"])
        except SystemExit:
            pass
    assert "usage:" in out.getvalue(), (command, out.getvalue()[:200])
    loaded[command] = sorted(m for m in heavy if m in sys.modules)
print(json.dumps(loaded))
"""


def subcommands() -> list[str]:
    """Every subcommand the CLI offers: its own parser's and the delegated ones (`verify`, `keygen`, `audit`)."""
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    return sorted(set(sub.choices) | set(DELEGATED))


def test_no_subcommand_help_imports_torch() -> None:
    commands = subcommands()
    assert {"audit", "verify", "keygen", "evaluate", "run-once", "publish-results"} <= set(commands)
    run = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY), *commands],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    loaded = json.loads(run.stdout.strip().splitlines()[-1])
    assert loaded == {c: [] for c in commands}, f"--help imported heavy modules: {loaded}"
