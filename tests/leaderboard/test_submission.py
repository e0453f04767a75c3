"""Every submission rule and its refusal, the local and Hub inspection, and the write-time checks through a
real LocalStore."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from huggingface_hub import HfApi
from huggingface_hub import constants as hf_constants
from safetensors import SafetensorError

from leaderboard import submission
from leaderboard.inspection import (
    HubModels,
    LocalModels,
    ModelInspector,
    count_parameters,
)
from leaderboard.submission import (
    InspectionError,
    ModelFacts,
    SubmissionForm,
    check_accepted,
    check_architecture,
    check_duplicate,
    check_license,
    check_model,
    check_model_id,
    check_no_custom_code,
    check_parameters,
    check_precision,
    check_resolved_sha,
    check_revision_text,
    check_safetensors,
    check_submitter,
    check_weekly_limit,
    check_weight_hashes,
    new_request_id,
)
from openasr_core.config import Rules
from openasr_core.model_files import card_license, local_revision, weight_file_hashes
from openasr_core.records import Status
from openasr_core.store import LocalStore
from testkit.factories import make_request
from testkit.hub_emulator import ENDPOINT, HubEmulator, safetensors_bytes
from testkit.markdown_render import shown_text
from testkit.submit import run_submit

SHA = "a" * 40


def facts(**overrides: Any) -> ModelFacts:
    values: dict[str, Any] = {
        "model_id": "org/model",
        "source": "hub",
        "requested_revision": "main",
        "sha": SHA,
        "files": ("config.json", "model.safetensors", "README.md"),
        "weight_files": {"model.safetensors": "b" * 64},
        "config": {"architectures": ["WhisperForConditionalGeneration"]},
        "license": "mit",
        "parameters": 39_000_000,
        "location": "https://huggingface.co/org/model",
    }
    values.update(overrides)
    return ModelFacts(**values)


# --- the form ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model_id", ["openai/whisper-base", "a/b", "org.x/model_v2.1", "Org-1/M"])
def test_well_formed_ids_pass(model_id: str) -> None:
    assert check_model_id(model_id) is None


@pytest.mark.parametrize(
    "model_id",
    ["whisper-base", "a/b/c", "org/", "/name", "org/-x", "org/x-", "org--x/y", "org/..", "org/a b", "o/" + "x" * 97],
)
def test_malformed_ids_are_refused_with_the_expected_form(model_id: str) -> None:
    refusal = check_model_id(model_id)
    assert refusal is not None and "org/name" in refusal


def test_empty_id_asks_for_one() -> None:
    assert "Enter a model id" in check_model_id("")


def test_form_strips_whitespace_and_defaults_to_main() -> None:
    form = SubmissionForm.from_inputs("  org/model ", "  ", " float16 ", None)
    assert form == SubmissionForm("org/model", "main", "float16", False)


def test_form_keeps_slashes_so_a_path_is_refused_not_rewritten() -> None:
    form = SubmissionForm.from_inputs("/etc/passwd", "main", "float16", True)
    assert form.model_id == "/etc/passwd"
    assert "is not a model id" in check_model_id(form.model_id)


def test_revision_text() -> None:
    assert check_revision_text("main") is None and check_revision_text("v1.0/rc-2") is None
    assert "not a revision" in check_revision_text("../etc")
    assert "not a revision" in check_revision_text("a b")


def test_precision_must_be_one_of_three() -> None:
    assert check_precision("bfloat16") is None
    refusal = check_precision("int8")
    assert "float32" in refusal and "float16" in refusal and "bfloat16" in refusal


def test_rules_must_be_accepted() -> None:
    assert check_accepted(True) is None
    assert "I accept the rules" in check_accepted(False)


def test_a_submitter_is_required() -> None:
    assert check_submitter("alice") is None
    assert "Log in with Hugging Face first" in check_submitter(None)


# --- the model --------------------------------------------------------------------------------------------


def test_good_facts_pass_every_rule() -> None:
    assert check_model(facts()) is None


def test_revision_must_resolve_to_a_sha() -> None:
    refusal = check_resolved_sha(facts(sha=None, requested_revision="v2"))
    assert "did not resolve to a commit SHA" in refusal and "Revision v2 of" in shown_text(refusal)
    assert check_resolved_sha(facts(sha="abc")) is not None


def test_only_pickle_weights_are_refused_with_how_to_convert() -> None:
    refusal = check_safetensors(facts(files=("config.json", "pytorch_model.bin"), weight_files={}))
    assert "pickle-based weights" in refusal and "safe_serialization=True" in refusal
    assert "pytorch_model.bin" in shown_text(refusal)


def test_no_weights_at_all_are_refused() -> None:
    refusal = check_safetensors(facts(files=("config.json",), weight_files={}))
    assert "no `.safetensors` weight files" in refusal


def test_safetensors_next_to_a_bin_file_pass() -> None:
    assert check_safetensors(facts(files=("model.safetensors", "pytorch_model.bin"))) is None


def test_auto_map_is_custom_code() -> None:
    refusal = check_no_custom_code(facts(config={"architectures": ["X"], "auto_map": {"AutoModel": "m.X"}}))
    assert "auto_map" in refusal and "trust_remote_code" in refusal


def test_python_files_are_custom_code() -> None:
    refusal = check_no_custom_code(facts(files=("config.json", "modeling_x.py", "model.safetensors")))
    assert "modeling_x.py" in shown_text(refusal) and "R6" in refusal


def test_architecture_must_be_a_family_with_a_recipe() -> None:
    assert check_architecture(facts(config={"architectures": ["Wav2Vec2ForCTC"]})) is None
    assert check_architecture(facts(config={"architectures": ["ParakeetForTDT"]})) is None
    for other in ("BertForMaskedLM", "Pop2PianoForConditionalGeneration", "SpeechT5ForSpeechToText"):
        refusal = check_architecture(facts(config={"architectures": [other]}))
        assert f"{other} is not a speech-recognition family this board has a recipe for" in shown_text(refusal)
        assert "whisper, " in refusal and "voxtral" in refusal and "About page" in refusal


def test_a_config_whose_architecture_and_model_type_name_two_families_is_refused() -> None:
    """Issue 26, item 10: a Whisper (`model_type` whisper) labelled `Speech2TextForConditionalGeneration` would
    run as neither family; the form says which field contradicts which. A model_type no family has is no
    contradiction (transformers' own sub-types), nor is a matching one."""
    mislabelled = facts(
        config={"architectures": ["Speech2TextForConditionalGeneration"], "model_type": "whisper"},
    )
    refusal = shown_text(check_architecture(mislabelled))
    assert "config.json contradicts itself" in refusal and "family speech_to_text" in refusal
    assert "model_type is 'whisper'" in refusal and "WhisperForConditionalGeneration" in refusal
    matching = {"architectures": ["WhisperForConditionalGeneration"], "model_type": "whisper"}
    assert check_architecture(facts(config=matching)) is None
    assert check_architecture(facts(config={"architectures": ["Wav2Vec2ForCTC"], "model_type": "custom"})) is None


def test_a_family_whose_package_is_missing_is_refused_naming_it() -> None:
    granite = facts(config={"architectures": ["GraniteSpeechForConditionalGeneration"]})
    refusal = check_architecture(granite, installed=lambda name: name != "torchaudio")
    assert refusal is not None and "\n" not in refusal
    assert "needs the Python package torchaudio" in refusal and "cannot be installed beside it" in refusal
    assert check_architecture(granite, installed=lambda name: True) is None


def test_architecture_missing_or_config_unreadable() -> None:
    assert "names no `architectures`" in check_architecture(facts(config={}))
    assert "no readable `config.json`" in check_architecture(facts(config=None))


def test_license_is_required() -> None:
    refusal = check_license(facts(license=None))
    assert "declares no license" in refusal and "license: apache-2.0" in refusal
    assert check_license(facts(license="  ")) is not None


def test_parameter_count_is_required() -> None:
    assert "parameter count" in check_parameters(facts(parameters=None))
    assert check_parameters(facts(parameters=0)) is not None


def test_weight_hashes_are_required() -> None:
    assert "Git LFS" in check_weight_hashes(facts(weight_files={"model.safetensors": None}))


def test_check_model_reports_the_first_broken_rule() -> None:
    refusal = check_model(facts(sha=None, license=None))
    assert "commit SHA" in refusal


# --- the store's rules, pure ------------------------------------------------------------------------------


def test_duplicate_pending_running_or_finished_is_refused_with_its_id() -> None:
    for status in (Status.PENDING, Status.RUNNING, Status.FINISHED):
        existing = make_request("20261127T000000Z-11111111", "org/m", revision=SHA, precision="float16", status=status)
        refusal = check_duplicate([existing], "org/m", SHA, "float16")
        assert "20261127T000000Z-11111111" in shown_text(refusal) and status.value in refusal
    finished = make_request("r1", "org/m", revision=SHA, status=Status.FINISHED)
    assert "?detail=r1" in check_duplicate([finished], "org/m", SHA, "float16")


def test_failed_or_different_requests_are_not_duplicates() -> None:
    failed = make_request("r1", "org/m", revision=SHA, precision="float16", status=Status.FAILED)
    assert check_duplicate([failed], "org/m", SHA, "float16") is None
    other = make_request("r2", "org/m", revision=SHA, precision="float16")
    assert check_duplicate([other], "org/m", SHA, "float32") is None
    assert check_duplicate([other], "org/m", "c" * 40, "float16") is None
    assert check_duplicate([other], "org/other", SHA, "float16") is None


def _submitted(at: datetime, actor: str = "alice") -> Any:
    from openasr_core.eventlog import next_entry

    return next_entry(None, request_id="r", event="submitted", actor=actor, at=at.isoformat().replace("+00:00", "Z"))


def test_weekly_limit_counts_the_actors_submissions_in_the_last_seven_days() -> None:
    now = datetime(2026, 11, 27, 12, tzinfo=UTC)
    log = [_submitted(now - timedelta(days=d)) for d in (8, 6, 5, 1)] + [_submitted(now, "bob")]
    assert check_weekly_limit(log, "alice", now, 4) is None
    refusal = check_weekly_limit(log, "alice", now, 3)
    assert "3 submissions in the last 7 days" in refusal and "limit is 3 per week" in refusal
    assert "after 2026-11-28 12:00 UTC" in refusal  # when the oldest of the counted three leaves the window
    assert check_weekly_limit(log, "bob", now, 1) is not None and check_weekly_limit(log, "carol", now, 1) is None


def test_weekly_limit_of_zero_closes_submissions() -> None:
    assert "closed" in check_weekly_limit([], "alice", datetime.now(UTC), 0)


def test_request_ids_sort_by_time_and_are_unique() -> None:
    early = new_request_id(datetime(2026, 11, 27, 9, 11, tzinfo=UTC))
    assert early.startswith("20261127T091100Z-") and len(early) == len("20261127T091100Z-") + 8
    assert early < new_request_id(datetime(2026, 11, 27, 9, 12, tzinfo=UTC))
    assert len({new_request_id() for _ in range(200)}) == 200


# --- the local models folder ------------------------------------------------------------------------------


def test_local_inspection_of_a_real_tiny_model(place_model, models_dir: Path) -> None:
    folder = place_model("test-org/tiny-whisper")
    found = LocalModels(models_dir).inspect("test-org/tiny-whisper", "main")
    assert found.source == "local" and found.sha == local_revision(folder)
    assert found.weight_files == weight_file_hashes(folder)
    assert found.architecture == "WhisperForConditionalGeneration" and found.license == "mit"
    from safetensors import safe_open

    with safe_open(folder / "model.safetensors", "np") as handle:
        expected = sum(math.prod(handle.get_slice(k).get_shape()) for k in handle.keys())  # noqa: SIM118
    assert found.parameters == expected > 0
    assert check_model(found) is None


def test_local_revision_main_or_the_digest_only(place_model, models_dir: Path) -> None:
    folder = place_model("test-org/tiny-whisper")
    local = LocalModels(models_dir)
    assert local.inspect("test-org/tiny-whisper", local_revision(folder)).sha == local_revision(folder)
    with pytest.raises(InspectionError, match="has one revision"):
        local.inspect("test-org/tiny-whisper", "v2")


def test_local_model_missing_names_the_folder(models_dir: Path) -> None:
    with pytest.raises(InspectionError, match=str(models_dir / "nosuchorg" / "nomodel")):
        LocalModels(models_dir).inspect("nosuchorg/nomodel", "main")


def test_local_model_ids_are_listed(place_model, models_dir: Path) -> None:
    place_model("b-org/one")
    place_model("a-org/two", "ctc")
    assert LocalModels(models_dir).model_ids() == ["a-org/two", "b-org/one"]
    assert LocalModels(models_dir / "absent").model_ids() == []


def test_path_tricks_never_leave_the_models_folder(models_dir: Path) -> None:
    assert LocalModels(models_dir).folder("../etc") is None
    assert LocalModels(models_dir).folder("org/..") is None


def test_parameters_are_counted_from_the_safetensors_header(place_model, tmp_path: Path) -> None:
    import numpy as np
    from safetensors.numpy import save_file
    from safetensors.torch import load_file

    folder = place_model("test-org/tiny-ctc", "ctc")
    tensors = load_file(folder / "model.safetensors")  # the data itself, to check the header-only count against
    assert count_parameters(folder / "model.safetensors") == sum(t.numel() for t in tensors.values()) > 0
    save_file(
        {"w": np.zeros((2, 3), np.float32), "b": np.zeros((), np.float32)}, tmp_path / "m.safetensors", {"a": "b"}
    )
    assert count_parameters(tmp_path / "m.safetensors") == 7  # a scalar is one element; metadata is no tensor
    (tmp_path / "bad.safetensors").write_bytes(b"\xff" * 16)
    with pytest.raises(SafetensorError):
        count_parameters(tmp_path / "bad.safetensors")


def test_front_matter_license(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("---\nlicense: apache-2.0\n---\n# x\n")
    assert card_license(readme.parent) == "apache-2.0"
    readme.write_text("# no front matter\n")
    assert card_license(readme.parent) is None
    assert card_license(tmp_path / "absent") is None


# --- submit() end to end on a real LocalStore -------------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_accepted_submission_is_written_with_its_log_entry_and_position(place_model, models_dir, store) -> None:
    folder = place_model("test-org/tiny-whisper")
    place_model("test-org/tiny-ctc", "ctc")
    first = run_submit(store, models_dir, "test-org/tiny-whisper")
    second = run_submit(store, models_dir, "test-org/tiny-ctc")
    assert first.accepted and first.position == 1 and "#1 in the queue" in first.message
    assert second.accepted and second.position == 2 and "#2 in the queue" in second.message
    snap = store.snapshot()
    request = snap.requests[first.request.request_id]
    assert request.status is Status.PENDING and request.revision == local_revision(folder)
    assert request.requested_revision == "main" and request.submitter == "alice"
    assert request.source == "local", "the evaluator looks for it in the local models folder only (issue 26)"
    assert request.model.architecture == "WhisperForConditionalGeneration" and request.model.license == "mit"
    assert request.model.weight_files == weight_file_hashes(folder) and request.model.parameters > 0
    assert [e.event for e in snap.log] == ["submitted", "submitted"] and snap.verify_log().ok


def test_position_counts_a_running_request_separately(place_model, models_dir, store) -> None:
    place_model("test-org/a")
    place_model("test-org/b")
    run_submit(store, models_dir, "test-org/a")
    store.claim("w", 60, 3)
    outcome = run_submit(store, models_dir, "test-org/b")
    assert outcome.position == 1 and outcome.running == 1 and "1 evaluation running" in outcome.message


def test_duplicate_is_refused_at_write_time_and_nothing_is_written(place_model, models_dir, store) -> None:
    place_model("test-org/tiny-whisper")
    first = run_submit(store, models_dir, "test-org/tiny-whisper")
    again = run_submit(store, models_dir, "test-org/tiny-whisper")
    assert not again.accepted and first.request.request_id in shown_text(again.message) and "PENDING" in again.message
    assert len(store.snapshot().requests) == 1 and len(store.snapshot().log) == 1
    assert run_submit(store, models_dir, "test-org/tiny-whisper", precision="float16").accepted


def test_a_failed_request_may_be_resubmitted(place_model, models_dir, store) -> None:
    place_model("test-org/tiny-whisper")
    first = run_submit(store, models_dir, "test-org/tiny-whisper")
    store.claim("w", 60, 3)
    store.fail(first.request.request_id, "w", "out of memory")
    assert run_submit(store, models_dir, "test-org/tiny-whisper").accepted


def test_weekly_limit_through_the_store(place_model, models_dir, store) -> None:
    for name in ("a", "b", "c"):
        place_model(f"test-org/{name}")
    rules = Rules(max_submissions_per_week=2)
    assert run_submit(store, models_dir, "test-org/a", rules=rules).accepted
    assert run_submit(store, models_dir, "test-org/b", rules=rules).accepted
    refused = run_submit(store, models_dir, "test-org/c", rules=rules)
    assert not refused.accepted and "limit is 2 per week" in refused.message
    assert shown_text(refused.message).startswith("❌ Not accepted. alice has made 2 submissions")
    assert run_submit(store, models_dir, "test-org/c", rules=rules, user="bob").accepted
    later = lambda: datetime.now(UTC) + timedelta(days=7, minutes=1)  # noqa: E731
    assert run_submit(store, models_dir, "test-org/c", rules=rules, precision="float16", now=later).accepted


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"user": None}, "Log in with Hugging Face first"),
        ({"accepted": False}, "I accept the rules"),
        ({"precision": "int8"}, "Choose a precision"),
        ({"revision": "bad revision"}, "is not a revision"),
    ],
)
def test_form_refusals_write_nothing(place_model, models_dir, store, kwargs, expected) -> None:
    place_model("test-org/tiny-whisper")
    outcome = run_submit(store, models_dir, "test-org/tiny-whisper", **kwargs)
    assert not outcome.accepted and expected in outcome.message and outcome.message.startswith("❌")
    assert not store.snapshot().requests and not store.snapshot().log


def test_unknown_model_names_the_local_folder(models_dir, store) -> None:
    outcome = run_submit(store, models_dir, "nosuchorg/nomodel")
    assert not outcome.accepted and str(models_dir / "nosuchorg" / "nomodel") in outcome.message


def test_bad_id_is_refused(models_dir, store) -> None:
    assert "is not a model id" in run_submit(store, models_dir, "just-a-name").message


def test_pickle_only_model_is_refused(models_dir, store) -> None:
    folder = models_dir / "test-org" / "pickled"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architectures": ["WhisperForConditionalGeneration"]}))
    (folder / "pytorch_model.bin").write_bytes(b"\x80\x04pickle")
    (folder / "README.md").write_text("---\nlicense: mit\n---\n")
    assert "pickle-based weights" in run_submit(store, models_dir, "test-org/pickled").message


def test_custom_code_model_is_refused(place_model, models_dir, store) -> None:
    folder = place_model("test-org/custom")
    (folder / "modeling_custom.py").write_text("class X: ...\n")
    assert "needs custom code" in run_submit(store, models_dir, "test-org/custom").message


def test_auto_map_model_is_refused(place_model, models_dir, store) -> None:
    folder = place_model("test-org/automap")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForSpeechSeq2Seq": "modeling.Custom"}
    (folder / "config.json").write_text(json.dumps(config))
    assert "auto_map" in run_submit(store, models_dir, "test-org/automap").message


def test_unsupported_architecture_is_refused(place_model, models_dir, store) -> None:
    folder = place_model("test-org/bert")
    config = json.loads((folder / "config.json").read_text())
    config["architectures"] = ["BertForMaskedLM"]
    (folder / "config.json").write_text(json.dumps(config))
    assert "BertForMaskedLM is not a speech-recognition family this board has a recipe for" in shown_text(
        run_submit(store, models_dir, "test-org/bert").message
    )


def test_model_without_license_is_refused(place_model, models_dir, store) -> None:
    folder = place_model("test-org/unlicensed")
    (folder / "README.md").write_text("# no card metadata\n")
    assert "declares no license" in run_submit(store, models_dir, "test-org/unlicensed").message


def test_local_wrong_revision_is_refused(place_model, models_dir, store) -> None:
    place_model("test-org/tiny-whisper")
    assert "has one revision" in run_submit(store, models_dir, "test-org/tiny-whisper", revision="v9").message


# --- the Hub: the REAL HfApi over the HTTP-level Hub emulator (testkit/hub_emulator.py) -----------------------

WEIGHTS = safetensors_bytes({"w": (1000, 39)})


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubEmulator]:
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    emulator = HubEmulator()
    with emulator.installed():
        yield emulator


def hub_model(hub: HubEmulator, repo_id: str = "openai/whisper-tiny", **overrides: Any) -> str:
    """A model repo on the emulator (config, real safetensors weights, card metadata); returns its commit SHA.
    The tag `v1` points at that commit."""
    config = overrides.pop("config", {"architectures": ["WhisperForConditionalGeneration"]})
    files = overrides.pop(
        "files", {"config.json": json.dumps(config).encode(), "model.safetensors": WEIGHTS, "README.md": b"# card\n"}
    )
    meta = {"cardData": {"license": "apache-2.0"}, "tags": [], "gated": False, **overrides}
    lfs = {name for name in files if name.endswith((".safetensors", ".bin"))}
    repo = hub.add_repo(repo_id, files, repo_type="model", lfs=lfs, **meta)
    sha = repo.head[0]
    repo.meta["refs"] = {"v1": sha}
    return sha


def hub_models() -> HubModels:
    return HubModels(HfApi(endpoint=ENDPOINT))


def test_hub_model_facts(hub: HubEmulator) -> None:
    sha = hub_model(hub)
    found = hub_models().inspect("openai/whisper-tiny", "v1")
    assert found.sha == sha and found.source == "hub" and found.requested_revision == "v1"
    assert found.weight_files == {"model.safetensors": hashlib.sha256(WEIGHTS).hexdigest()}
    assert found.license == "apache-2.0" and found.parameters == 1000 * 39
    assert found.architecture == "WhisperForConditionalGeneration"
    assert ("resolve", "GET", f"/openai/whisper-tiny/resolve/{sha}/config.json") in hub.calls  # read at the SHA
    assert check_model(found) is None


def test_hub_unknown_model(hub: HubEmulator) -> None:
    with pytest.raises(InspectionError, match="No public model `nosuchorg/nomodel` on the Hugging Face Hub"):
        hub_models().inspect("nosuchorg/nomodel", "main")


def test_hub_unknown_revision(hub: HubEmulator) -> None:
    hub_model(hub)
    with pytest.raises(InspectionError, match="has no revision `v9`"):
        hub_models().inspect("openai/whisper-tiny", "v9")


def test_hub_gated_model(hub: HubEmulator) -> None:
    hub_model(hub, gated="manual")
    with pytest.raises(InspectionError, match="gated"):
        hub_models().inspect("openai/whisper-tiny", "main")
    hub_model(hub, "openai/whisper-closed", gated="error")
    with pytest.raises(InspectionError, match="private and gated models cannot be evaluated"):
        hub_models().inspect("openai/whisper-closed", "main")


def test_hub_unreachable_says_so_and_hides_details(hub: HubEmulator) -> None:
    hub_model(hub)
    hub.drop("info", error=httpx2.ConnectError, message="secret-token-in-url hf_abcdef")
    with pytest.raises(InspectionError) as caught:
        hub_models().inspect("openai/whisper-tiny", "main")
    assert "Could not check" in str(caught.value) and "ConnectError" in str(caught.value)
    assert "hf_abcdef" not in str(caught.value)


def test_hub_pickle_only_model(hub: HubEmulator) -> None:
    hub_model(hub, files={"config.json": b"{}", "pytorch_model.bin": b"not a safetensors file"})
    found = hub_models().inspect("openai/whisper-tiny", "main")
    assert found.weight_files == {} and found.parameters is None
    assert "pickle-based weights" in check_model(found)


def test_hub_license_from_tags_when_the_card_has_none(hub: HubEmulator) -> None:
    hub_model(hub, cardData=None, tags=["license:cc-by-4.0"])
    assert hub_models().inspect("openai/whisper-tiny", "main").license == "cc-by-4.0"
    hub_model(hub, "openai/whisper-untagged", cardData=None, tags=[])
    found = hub_models().inspect("openai/whisper-untagged", "main")
    assert "declares no license" in check_model(found)


def test_hub_custom_code(hub: HubEmulator) -> None:
    hub_model(hub, config={"architectures": ["WhisperForConditionalGeneration"], "auto_map": {"x": "y"}})
    assert "auto_map" in check_model(hub_models().inspect("openai/whisper-tiny", "main"))


def test_inspector_prefers_the_local_folder_and_falls_back_to_the_hub(place_model, models_dir, hub) -> None:
    place_model("openai/whisper-tiny")
    hub_model(hub)
    hub_model(hub, "openai/other")
    inspector = ModelInspector(LocalModels(models_dir), hub_models())
    assert inspector.inspect("openai/whisper-tiny", "main").source == "local" and hub.count() == 0
    assert inspector.inspect("openai/other", "main").source == "hub"
    with pytest.raises(InspectionError, match="not in the local models folder either"):
        inspector.inspect("nosuchorg/nomodel", "main")


def test_a_deleted_local_folder_is_reported_as_missing_not_as_a_hub_outage(place_model, models_dir, hub) -> None:
    """Issue 26, item 10: a local model whose folder was deleted falls through to the Hub; with the Hub out of
    reach the answer leads with the missing folder (waiting cures nothing), and still names the Hub's error."""
    shutil.rmtree(place_model("openai/whisper-tiny"))
    hub.drop("info", error=httpx2.ConnectError, message="no route")
    with pytest.raises(InspectionError) as caught:
        ModelInspector(LocalModels(models_dir), hub_models()).inspect("openai/whisper-tiny", "main")
    message = str(caught.value)
    assert message.startswith("There is no local model `openai/whisper-tiny`")
    assert f"{models_dir / 'openai/whisper-tiny'} does not exist" in message
    assert "ConnectError" in message and "Could not check" not in message


def test_hub_submission_end_to_end(tmp_path: Path, store, hub: HubEmulator) -> None:
    sha = hub_model(hub)
    outcome = submission.submit(
        SubmissionForm.from_inputs("openai/whisper-tiny", "v1", "float16", True),
        "alice",
        source=ModelInspector(LocalModels(tmp_path / "none"), hub_models()),
        store=store,
        rules=Rules(),
    )
    assert outcome.accepted
    request = store.snapshot().requests[outcome.request.request_id]
    assert request.revision == sha and request.requested_revision == "v1"
    assert request.source == "hub", "the evaluator looks for it on the Hub only (issue 26)"
    assert request.model.weight_files == {"model.safetensors": hashlib.sha256(WEIGHTS).hexdigest()}
    assert request.model.parameters == 39_000
