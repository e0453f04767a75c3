"""`python -m leaderboard submit`: the Submit form's checks from a terminal, as the local user."""

from __future__ import annotations

import io
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from leaderboard.cli import main, plain
from leaderboard.inspection import LocalModels, ModelInspector
from openasr_core.board_files import open_store
from openasr_core.records import Status
from testkit.audio import make_audiofolder, write_config

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def board(tmp_path: Path, tiny_ctc: Path):
    shutil.copytree(tiny_ctc, tmp_path / "models" / "org" / "tiny")
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["hi"])})
    return config, ModelInspector(LocalModels(config.models_dir), None)


def _submit(config, source, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["submit", "--config", str(config.path), *args], out=out, err=err, source=source)
    return code, out.getvalue(), err.getvalue()


def test_accepted_prints_the_request_id(board) -> None:
    config, source = board
    code, out, err = _submit(config, source, "--model", "org/tiny", "--precision", "float32")
    request_id = out.strip()
    assert code == 0 and "Accepted." in err and "#1 in the queue" in err and "**" not in err
    request = open_store(config).snapshot().requests[request_id]
    assert request.status is Status.PENDING and request.model_id == "org/tiny" and request.submitter == "local-user"
    assert request.model is not None and request.model.weight_files and request.throughput is False
    code, out, err = _submit(config, source, "--model", "org/tiny", "--precision", "float32")
    assert code == 1 and out == "" and "already" in err  # the duplicate rule, checked at write time


def test_throughput_flag_asks_for_the_throughput_track(board) -> None:
    config, source = board
    code, out, _ = _submit(config, source, "--model", "org/tiny", "--precision", "float32", "--throughput")
    assert code == 0 and open_store(config).snapshot().requests[out.strip()].throughput is True


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "org/tiny", "--precision", "float64"], "choose a precision"),
        (["--model", "org/absent"], "no local model"),
        (["--model", "not a model id"], "org/name"),
    ],
)
def test_refusals_exit_1_and_write_nothing(board, args: list[str], message: str) -> None:
    config, source = board
    code, out, err = _submit(config, source, *args)
    assert code == 1 and out == "" and message.lower() in err.lower(), err
    assert not open_store(config).snapshot().requests


def test_plain_strips_the_forms_markdown() -> None:
    assert plain("❌ **Not accepted.** use `main`") == "Not accepted. use main"
    assert (
        plain("❌ **Not accepted.** <code>a\\_b &lt;i&gt; x\\.git</code> is not")
        == "Not accepted. a_b <i> x.git is not"
    )


def test_runs_as_a_module(board) -> None:
    config, _ = board
    done = subprocess.run(
        [sys.executable, "-m", "leaderboard", "submit", "--config", str(config.path), "--model", "org/tiny"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() in open_store(config).snapshot().requests


@pytest.mark.parametrize(
    ("architecture", "packages", "message"),
    [
        # A family whose documented processing needs a package this board cannot install: one line naming it.
        ("GraniteSpeechForConditionalGeneration", {"torchaudio"}, "needs the Python package torchaudio"),
        # A transformers class that no recipe runs: the supported families are named.
        ("SpeechT5ForSpeechToText", set(), "Supported families: wav2vec2,"),
    ],
)
def test_families_without_a_runnable_recipe_are_refused(
    board, monkeypatch: pytest.MonkeyPatch, architecture: str, packages: set[str], message: str
) -> None:
    import json

    import openasr_core.families

    config, source = board
    folder = config.models_dir / "org" / "tiny"
    data = json.loads((folder / "config.json").read_text())
    family = openasr_core.families.family_for(architecture)
    model_type = family.model_type if family else data.get("model_type")  # a config that agrees with itself
    (folder / "config.json").write_text(json.dumps({**data, "architectures": [architecture], "model_type": model_type}))
    monkeypatch.setattr(openasr_core.families, "package_installed", lambda name: name not in packages)
    code, out, err = _submit(config, source, "--model", "org/tiny", "--precision", "float32")
    assert code == 1 and out == "" and message in err, err
    assert len(err.strip().splitlines()) == 1 and not open_store(config).snapshot().requests
