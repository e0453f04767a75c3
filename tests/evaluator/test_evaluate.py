"""The evaluator end to end on tiny random models: batch-one evidence, warm-up, every field, precision."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import torch

from evaluator.evaluate import evaluate
from evaluator.models import ModelLoadError, ModelSource, Transcriber, check_revision, resolve_model
from evaluator.spec import EvalSpec
from openasr_core.records import Result
from testkit.audio import make_audiofolder, write_config

TEXTS = ["hello world", "the quick brown fox", "", "jumps over the lazy dog", "one more"]


@pytest.fixture
def config(tmp_path: Path):
    return write_config(
        tmp_path,
        {
            "set-a": make_audiofolder(tmp_path / "a", TEXTS),
            "set-b": make_audiofolder(tmp_path / "b", TEXTS[:2], rate=8000, channels=2),
        },
        warmup=3,
    )


def _all_fields_filled(value: object, path: str = "result") -> None:
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            skipped = {
                "signature",
                "gpu_name",
                "gpu_memory_bytes",
                "driver_version",
                "cuda_version",
                "compute",
                "claims",
                "gpu_other_processes",
                "gpu_clock_ratio",
                "busy",
            }
            if field.name in skipped:
                # filled by signing / only on a GPU / by a Job (`openasr_core.compute`) / when a repo claims (R15) /
                # only when the machine was busy
                continue
            _all_fields_filled(getattr(value, field.name), f"{path}.{field.name}")
    elif isinstance(value, dict):
        assert value or path.endswith("rules"), f"{path} is empty"
        for key, item in value.items():
            _all_fields_filled(item, f"{path}[{key}]")
    else:
        assert value is not None and value != "", f"{path} is not filled"


@pytest.mark.parametrize("model_fixture", ["tiny_whisper", "tiny_ctc"])
def test_batch_one_warmup_excluded_and_every_field_filled(config, model_fixture: str, request) -> None:
    model = request.getfixturevalue(model_fixture)
    evaluation = evaluate(config, EvalSpec(str(model), request_id="r1", device="cpu"))
    result = evaluation.result
    assert result.batch_evidence.max_batch_size == 1
    assert result.batch_evidence.forward_calls >= 3 + 4 + 2  # warm-up and counted utterances, one call at least each
    assert result.warmup_utterances == 3
    assert result.load is not None and result.load.calls == 4 + 2  # the timed calls only, not the warm-up
    assert [len(evaluation.predictions[s]) for s in ("set-a", "set-b")] == [4, 2]  # warm-up not counted
    a = result.datasets["set-a"]
    assert a.utterances + a.skipped_empty_references == 5 and a.skipped_empty_references == 1
    assert a.audio_s == pytest.approx(2.0) and result.datasets["set-b"].audio_s == pytest.approx(1.0)
    assert all(row.time_s > 0 for row in evaluation.predictions["set-a"])
    assert a.time_s == pytest.approx(sum(r.time_s for r in evaluation.predictions["set-a"]))
    assert result.official and result.hardware.gpu_class == "CPU"
    assert result.model.parameters > 0 and result.model.architecture.endswith(("ForConditionalGeneration", "ForCTC"))
    assert "--model" in result.reproduce and result.revision in result.reproduce
    assert set(result.predictions_sha256) == {"set-a", "set-b"}
    assert [s.name for s in result.eval_sets] == ["set-a", "set-b"] and result.eval_sets[0].sha256
    _all_fields_filled(result)
    assert Result.from_json(result.to_json()) == result
    assert evaluation.loop_wall_s >= evaluation.timed_s


@pytest.mark.parametrize("model_fixture", ["tiny_whisper", "tiny_ctc"])
def test_float16_request_runs_in_float16(config, model_fixture: str, request) -> None:
    model = request.getfixturevalue(model_fixture)
    budget = config.rules.max_new_tokens  # the random tiny Whisper never ends early: 440 tokens would run to 440
    transcriber = Transcriber(resolve_model(str(model)), precision="float16", device="cpu", max_new_tokens=budget)
    assert {p.dtype for p in transcriber.model.parameters()} == {torch.float16}
    transcriber.transcribe(torch.zeros(8000).numpy())
    assert transcriber.probe.input_dtypes == {"float16"} and transcriber.probe.max_batch_size == 1
    result = evaluate(config, EvalSpec(str(model), request_id="r16", precision="float16", device="cpu")).result
    assert result.precision == "float16" and "--precision float16" in result.reproduce


def test_unofficial_on_another_gpu_class_and_with_max_samples(tmp_path: Path, tiny_ctc: Path) -> None:
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", TEXTS)}, gpu_class="A10G", warmup=0)
    result = evaluate(config, EvalSpec(str(tiny_ctc), request_id="r", device="cpu")).result
    assert not result.official and result.warmup_utterances == 0
    config_any = write_config(tmp_path, {"s": tmp_path / "s"}, gpu_class="any", warmup=0)
    partial = evaluate(config_any, EvalSpec(str(tiny_ctc), request_id="r", device="cpu", max_samples=2)).result
    assert not partial.official and partial.rules["max_samples"] == 2 and partial.datasets["s"].utterances == 2


def test_unknown_precision(tiny_ctc: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"unknown precision 'int8'.*float32, float16, bfloat16"):
        Transcriber(resolve_model(str(tiny_ctc)), precision="int8")


def test_missing_model_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"not a folder.*nor a Hub id"):
        resolve_model(str(tmp_path / "nope"))


def test_folder_without_safetensors(tmp_path: Path, tiny_ctc: Path) -> None:
    folder = tmp_path / "bin-only"
    shutil.copytree(tiny_ctc, folder)
    (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=r"no .safetensors weights \(found pytorch_model.bin"):
        Transcriber(resolve_model(str(folder)))


def test_custom_code_refused(tmp_path: Path, tiny_ctc: Path) -> None:
    folder = tmp_path / "custom"
    shutil.copytree(tiny_ctc, folder)
    (folder / "modeling_custom.py").write_text("print('hi')\n")
    with pytest.raises(ModelLoadError, match="custom code"):
        Transcriber(resolve_model(str(folder)))


def test_not_a_speech_architecture(tmp_path: Path, tiny_ctc: Path) -> None:
    import json

    folder = tmp_path / "bert"
    shutil.copytree(tiny_ctc, folder)
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["Wav2Vec2Model"]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(
        ModelLoadError,
        match=r"Wav2Vec2Model has no recipe on this board \(R6\); the supported families are: wav2vec2, ",
    ):
        Transcriber(resolve_model(str(folder)))


def test_local_revision_must_match(tiny_ctc: Path) -> None:
    source = resolve_model(str(tiny_ctc))
    assert len(source.revision) == 40 and resolve_model(str(tiny_ctc), source.revision) == source
    check_revision(source, source.revision)
    check_revision(source, "main")
    with pytest.raises(ModelLoadError, match="files changed since submission"):
        check_revision(source, "0" * 40)


def test_model_id_under_models_dir(tmp_path: Path, tiny_ctc: Path) -> None:
    shutil.copytree(tiny_ctc, tmp_path / "models" / "org" / "tiny")
    source = resolve_model("org/tiny", None, tmp_path / "models")
    assert source == ModelSource(
        "org/tiny", str((tmp_path / "models" / "org" / "tiny").resolve()), source.revision, True
    )


def test_a_missing_backend_package_is_a_model_load_error(tiny_ctc: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """transformers raises ImportError when a processor's backend is absent; the user reads one line, not a trace."""
    import transformers

    def absent(*args: object, **kwargs: object) -> None:
        raise ImportError("Wav2Vec2Processor requires the sentencepiece library but it was not found")

    monkeypatch.setattr(transformers.AutoProcessor, "from_pretrained", absent)
    with pytest.raises(ModelLoadError, match=r"a Python package it needs is missing: .*requires the sentencepiece"):
        Transcriber(resolve_model(str(tiny_ctc)), device="cpu")
