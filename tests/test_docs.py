"""What a new user reads and runs: the README's test command, CI, the rules file, what the checkout ignores."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from leaderboard.about import RULES_FILE, about_markdown, rules_link
from openasr_core.config import load_config

REPO_ROOT = Path(__file__).resolve().parents[1]
README = (REPO_ROOT / "README.md").read_text(encoding="utf-8")


def readme_test_command() -> str:
    """The one command of the README's "Run the tests" block."""
    block = README.split("Run the tests", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    lines = [line for line in block.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_readme_test_command_works_on_a_fresh_debian_machine() -> None:
    command = readme_test_command()
    assert "apt-get update && apt-get install -y --no-install-recommends chromium" in command
    assert command.endswith("python -m pytest")
    assert '-m "not browser"' in README  # how to leave the browser test out


def test_ci_runs_the_linters_then_exactly_the_readme_test_command() -> None:
    steps = [line for line in (REPO_ROOT / ".ci" / "run").read_text().splitlines() if line and line[0] != "#"]
    assert steps[-3:] == ["ruff check .", "ruff format --check .", readme_test_command()]


def test_rules_are_in_the_repo_and_linked_from_readme_and_about() -> None:
    rules = (REPO_ROOT / RULES_FILE).read_text(encoding="utf-8")
    assert all(f"**R{n} " in rules for n in range(1, 15))
    assert "../shared" not in README and f"]({RULES_FILE})" in README
    about = about_markdown(load_config(REPO_ROOT / "configs" / "local.toml"), "r", "q", public_key=None)
    assert RULES_FILE in about


def test_rules_link_points_at_the_space_repo_only_for_a_valid_space_id() -> None:
    assert "https://huggingface.co/spaces/org/board/blob/main/docs/rules.md" in rules_link("org/board")
    assert "http" not in rules_link("<script>/x y") and "http" not in rules_link(None)


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO_ROOT / ".git").exists(), reason="needs a git checkout of the repo"
)
def test_folders_documented_commands_write_are_git_ignored() -> None:
    """`evaluate --out` folders named in the README and About, and the `reproduce` command's folder."""
    from evaluator.spec import reproduce_command

    config = load_config(REPO_ROOT / "configs" / "local.toml")
    reproduce = reproduce_command(config, "org/model", "abc", "float32", None, None)
    about = about_markdown(config, "r", "q", public_key=None)
    outs = re.findall(r"evaluate [^\n]*--out (\S+)", README + about + "\n" + reproduce)
    assert "reproduce/model" in outs and len(outs) >= 3
    for out in outs:
        path = out.replace("<name>", "x")
        done = subprocess.run(["git", "check-ignore", "-q", f"{path}/result.json"], cwd=REPO_ROOT, check=False)
        assert done.returncode == 0, f"{path} is not in .gitignore"
