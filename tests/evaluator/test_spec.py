"""Issue 24, item 7: one `EvalSpec` says what both tracks evaluate, built from a stored record in one place."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.spec import EvalSpec, reproduce_command
from openasr_core.config import REPO_ROOT, load_config
from testkit.factories import SHA, make_request, make_result

CONFIG = load_config(REPO_ROOT / "configs" / "local.toml")


def test_a_request_is_evaluated_as_submitted_on_the_pins_given() -> None:
    request = make_request("req-1", "org/tiny", precision="bfloat16")
    spec = EvalSpec.from_record(request, pinned_revisions={"ami": "c" * 40})
    assert (spec.model, spec.request_id, spec.revision, spec.precision) == ("org/tiny", "req-1", SHA, "bfloat16")
    assert spec.model_info == request.model and spec.pinned_revisions == {"ami": "c" * 40}
    assert spec.device == "auto" and spec.eval_sets is None and spec.max_samples is None


def test_a_result_is_re_run_as_it_was_measured() -> None:
    """An audit's re-run: the device the entry asked for and its sample cap come from the rules it recorded."""
    result = make_result("req-2", "org/tiny", precision="float32")
    result = result.replace(rules={**result.rules, "device_requested": "cuda", "max_samples": 7})
    sets = [CONFIG.eval_sets[0]]
    spec = EvalSpec.from_record(result, eval_sets=sets)
    assert (spec.model, spec.request_id, spec.revision, spec.precision) == ("org/tiny", "req-2", SHA, "float32")
    assert spec.device == "cuda" and spec.max_samples == 7 and spec.eval_sets == tuple(sets)
    assert spec.model_info == result.model and spec.pinned_revisions is None
    assert EvalSpec.from_record(make_result("req-3")).device == "auto"  # recorded before the device was


def test_a_spec_cannot_be_changed_through_what_it_was_built_from() -> None:
    sets, pins = list(CONFIG.eval_sets), {"ami": "a" * 40}
    spec = EvalSpec("org/tiny", request_id="r", eval_sets=sets, pinned_revisions=pins)
    sets.clear()
    pins["ami"] = "b" * 40
    assert spec.eval_sets == tuple(CONFIG.eval_sets) and spec.pinned_revisions == {"ami": "a" * 40}
    with pytest.raises(TypeError):
        spec.pinned_revisions["ami"] = "b" * 40  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.model = "org/other"  # type: ignore[misc]


def test_rules_in_force_and_named_sets(tmp_path: Path) -> None:
    folder_set = dataclasses.replace(CONFIG.eval_sets[0], name="mine", path=tmp_path)
    spec = EvalSpec("org/tiny", request_id="r", device="cpu", eval_sets=[CONFIG.eval_sets[0], folder_set])
    assert spec.chosen_sets(CONFIG) == [CONFIG.eval_sets[0], folder_set]
    assert spec.named_sets(CONFIG) == [CONFIG.eval_sets[0].name, str(tmp_path)]
    whole = EvalSpec("org/tiny", request_id="r")
    assert whole.chosen_sets(CONFIG) == list(CONFIG.eval_sets) and whole.named_sets(CONFIG) is None
    rules = spec.rules_in_force(CONFIG)
    assert rules["device_requested"] == "cpu" and rules["normalizer"] == CONFIG.normalizer
    assert CONFIG.price is not None and rules["hardware_price"] == CONFIG.price.to_dict()
    assert "max_samples" not in rules
    assert dataclasses.replace(spec, max_samples=3).rules_in_force(CONFIG)["max_samples"] == 3


def test_the_reproduce_command_names_the_throughput_track_last() -> None:
    batch_one = reproduce_command(CONFIG, "org/model", "abc", "float32", ["ami"], 2)
    assert batch_one == (
        "python -m evaluator evaluate --config configs/local.toml --model org/model --revision abc "
        "--precision float32 --eval-set ami --max-samples 2 --out reproduce/model"
    )
    throughput = reproduce_command(CONFIG, "org/model", "abc", "float32", ["ami"], 2, track="throughput")
    assert throughput == f"{batch_one} --track throughput"


def test_building_a_spec_loads_neither_torch_nor_transformers() -> None:
    """The job, the audit CLI and the Space build specs before (or without) loading a model."""
    code = "import sys, evaluator.spec; print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO_ROOT)
    assert out.stdout.strip() == "[]"
