"""The project installs as one package (issue 24): `pyproject.toml` declares what `requirements.txt` installs on
the Space, its console scripts resolve, and the benchmarks import installed packages, never `tests/`."""

from __future__ import annotations

import ast
import importlib
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _requirements(lines: list[str]) -> set[str]:
    return {str(Requirement(line)) for line in lines}


def test_pyproject_declares_exactly_the_spaces_requirements() -> None:
    space = [line.split("#")[0].strip() for line in (REPO_ROOT / "requirements.txt").read_text().splitlines()]
    assert _requirements(PYPROJECT["project"]["dependencies"]) == _requirements([line for line in space if line])


def test_console_scripts_name_callables() -> None:
    scripts = PYPROJECT["project"]["scripts"]
    assert set(scripts) == {"asr-evaluator", "asr-leaderboard", "asr-leaderboard-app"}
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name)), target


def test_every_top_level_package_is_installed() -> None:
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.parent.name for p in REPO_ROOT.glob("*/__init__.py")} - {"tests"}
    assert {f"{name}*" for name in packages} == set(include)


def test_benchmarks_import_installed_packages_not_tests() -> None:
    offenders = []
    for path in sorted((REPO_ROOT / "bench").glob("*.py")):
        source = path.read_text(encoding="utf-8")
        if "sys.path" in source:
            offenders.append(f"{path.name}: edits sys.path")
        for node in ast.walk(ast.parse(source)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            offenders += [f"{path.name}: imports {n}" for n in names if n == "tests" or n.startswith("tests.")]
    assert offenders == []
