"""Code shape: no function or method in the product (app.py and the three packages) is longer than 60 lines
(issue 24), and none in tests, benchmarks or the test kit longer than 80 (issue 11's bar, kept)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 80
PRODUCT_MAX_LINES = 60
PRODUCT = {"app.py", "openasr_core", "evaluator", "leaderboard"}
TOP_LEVEL_SKIP = {".venv", ".git", "store"}  # `store/` at the root is the default local store, not code


def python_files(root: Path) -> list[Path]:
    """Every `.py` file under `root`, sorted, never descending into the skipped top-level folders (`.venv` alone
    holds some 15,000 files: walking it cost a third of a second)."""
    files = []
    for top in root.iterdir():
        if top.is_dir() and top.name not in TOP_LEVEL_SKIP:
            files.extend(top.rglob("*.py"))
        elif top.suffix == ".py" and top.is_file():
            files.append(top)
    return sorted(files)


def long_functions(root: Path = REPO_ROOT, limit: int = MAX_LINES, product_limit: int = PRODUCT_MAX_LINES) -> list[str]:
    found = []
    for path in python_files(root):
        parts = path.relative_to(root).parts
        if "node_modules" in parts:
            continue
        most = product_limit if parts[0] in PRODUCT else limit
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > most:
                    found.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({length} lines)")
    return found


def test_no_function_is_longer_than_its_limit() -> None:
    assert long_functions() == []


def test_the_check_finds_a_long_function(tmp_path: Path) -> None:
    def body(lines: int) -> str:
        return "\n".join(f"    x{i} = {i}" for i in range(lines))

    (tmp_path / "m.py").write_text(f"def too_long() -> None:\n{body(MAX_LINES)}\n")
    (tmp_path / "evaluator").mkdir()
    (tmp_path / "evaluator" / "e.py").write_text(f"def product() -> None:\n{body(PRODUCT_MAX_LINES)}\n")
    (tmp_path / "evaluator" / "ok.py").write_text(f"def fits() -> None:\n{body(PRODUCT_MAX_LINES - 1)}\n")
    assert long_functions(tmp_path) == [
        f"evaluator/e.py:1 product ({PRODUCT_MAX_LINES + 1} lines)",
        f"m.py:1 too_long ({MAX_LINES + 1} lines)",
    ]
