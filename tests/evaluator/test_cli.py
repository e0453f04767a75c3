from __future__ import annotations

import json
import shutil
from pathlib import Path

from evaluator import verify
from evaluator.cli import main
from openasr_core.records import Result
from testkit.audio import make_audiofolder, write_config


def test_evaluate_writes_result_and_predictions(tmp_path: Path, tiny_whisper: Path, capsys) -> None:
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["hello world", "good day"])})
    out = tmp_path / "out"
    code = main(
        ["evaluate", "--config", str(config.path), "--model", str(tiny_whisper), "--device", "cpu", "--out", str(out)]
    )
    assert code == 0
    result = Result.from_json((out / "result.json").read_text())
    lines = (out / "predictions" / "s.jsonl").read_text().splitlines()
    assert len(lines) == 2 and set(json.loads(lines[0])) == {"id", "reference", "prediction", "duration_s", "time_s"}
    printed = capsys.readouterr().out
    assert "WER %" in printed and "reproduce: python -m evaluator evaluate" in printed
    assert result.datasets["s"].utterances == 2
    capsys.readouterr()
    assert main(["verify", str(out)]) == verify.EXIT_UNSIGNED  # hashes and figures check out; no signature
    assert "UNSIGNED result.json" in capsys.readouterr().out


def test_evaluate_eval_set_by_path_and_max_samples(tmp_path: Path, tiny_ctc: Path) -> None:
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["a"])})
    extra = make_audiofolder(tmp_path / "extra-set", ["one", "two", "three"])
    out = tmp_path / "out"
    args = ["evaluate", "--config", str(config.path), "--model", str(tiny_ctc), "--eval-set", str(extra)]
    assert main([*args, "--max-samples", "2", "--out", str(out)]) == 0
    result = Result.from_json((out / "result.json").read_text())
    assert list(result.datasets) == ["extra-set"] and result.datasets["extra-set"].utterances == 2
    assert str(extra) in result.reproduce and "--max-samples 2" in result.reproduce


def test_failure_leaves_nothing_half_written(tmp_path: Path, tiny_ctc: Path, capsys) -> None:
    folder = make_audiofolder(tmp_path / "s", ["a", "b"])
    (folder / "utt001.flac").write_bytes(b"corrupt")
    config = write_config(tmp_path, {"s": folder}, warmup=0)
    out = tmp_path / "out"
    code = main(["evaluate", "--config", str(config.path), "--model", str(tiny_ctc), "--out", str(out)])
    assert code == 2 and "utt001" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".out.*"))


def test_bad_inputs_exit_2_with_the_fix(tmp_path: Path, tiny_ctc: Path, capsys) -> None:
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["a"])})
    base = ["evaluate", "--config", str(config.path), "--out", str(tmp_path / "o")]
    assert main([*base, "--model", str(tmp_path / "no-such-model")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "nometa").mkdir()
    assert main([*base, "--model", str(tiny_ctc), "--eval-set", str(tmp_path / "nometa")]) == 2
    assert "no metadata.csv or metadata.jsonl" in capsys.readouterr().err
    assert main([*base, "--model", str(tiny_ctc), "--eval-set", "unknown-set"]) == 2
    assert "neither an eval set" in capsys.readouterr().err
    no_weights = tmp_path / "no-weights"
    shutil.copytree(tiny_ctc, no_weights)
    (no_weights / "model.safetensors").unlink()
    assert main([*base, "--model", str(no_weights)]) == 2
    assert "no .safetensors weights" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_run_once_with_empty_store(tmp_path: Path, capsys) -> None:
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["a"])})
    assert main(["run-once", "--config", str(config.path)]) == 0
    assert "no pending request" in capsys.readouterr().out
