"""Issue 11's bar, kept: no function or method in the project is longer than 80 lines."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 80
TOP_LEVEL_SKIP = {".venv", ".git", "store"}  # `store/` at the root is the default local store, not code


def long_functions(root: Path = REPO_ROOT, limit: int = MAX_LINES) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts[0] in TOP_LEVEL_SKIP or "node_modules" in parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_80_lines() -> None:
    assert long_functions() == []


def test_the_check_finds_a_long_function(tmp_path: Path) -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES))
    (tmp_path / "m.py").write_text(f"def too_long() -> None:\n{body}\n")
    assert long_functions(tmp_path) == [f"m.py:1 too_long ({MAX_LINES + 1} lines)"]
