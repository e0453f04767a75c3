"""Where a submitted model is looked for (issue 26, item 10): the request records where the submission found it
(`Request.source`), and the evaluator looks only there. A local model whose folder was deleted after submission
fails once, naming the folder, with no Hub lookup and no retry as a Hub outage; a Hub model meeting a Hub outage
is still left to its lease; a request recorded before the source was reads and behaves as it did."""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx
import pytest

from evaluator.errors import ErrorKind, error_kind
from evaluator.job import run_once
from evaluator.models import HubUnreachable, LocalModelMissing, resolve_model
from evaluator.spec import EvalSpec
from openasr_core.board_files import open_store
from openasr_core.history import recovered_request, replay
from openasr_core.records import RecordError, Request, Status
from testkit.audio import make_audiofolder, write_config
from testkit.submit import run_submit
from tests.openasr_core.store_contract import make_request


@pytest.fixture
def hub_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The Hub is down: every model lookup raises a connection error, and is counted."""
    import huggingface_hub

    calls: list[str] = []

    def model_info(self: object, model_id: str, *args: object, **kwargs: object) -> None:
        calls.append(model_id)
        raise httpx.ConnectError("no route to the Hub")

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    return calls


@pytest.fixture
def board(tmp_path: Path):
    models = tmp_path / "models"
    models.mkdir()
    config = write_config(tmp_path, {"s": make_audiofolder(tmp_path / "s", ["hello"])}, models_dir=models)
    return config, open_store(config)


def test_a_local_model_deleted_after_submission_fails_once_naming_its_folder(
    board, tiny_ctc: Path, hub_calls: list[str]
) -> None:
    config, store = board
    folder = config.models_dir / "org" / "tiny"
    shutil.copytree(tiny_ctc, folder)
    outcome = run_submit(store, config.models_dir, "org/tiny", eval_sets=config.eval_sets)
    assert outcome.accepted and outcome.request is not None and outcome.request.source == "local"
    shutil.rmtree(folder)  # the submitter deletes (or moves) the folder while the request waits
    ended = run_once(config, store, worker="w")
    assert ended is not None and ended.status is Status.FAILED and ended.attempts == 1
    assert f"its folder {folder} no longer exists" in ended.error
    assert f"Put the model's folder back at {folder} and submit it again" in ended.error
    assert "hub" not in ended.error.lower() and hub_calls == [], "the Hub is neither asked nor blamed"
    assert run_once(config, store, worker="w") is None, "failed for good: nothing is left to retry"


def test_a_hub_request_with_the_hub_down_is_left_to_its_lease_and_never_looks_in_the_folder(
    board, hub_calls: list[str]
) -> None:
    config, store = board
    (config.models_dir / "org" / "model-1").mkdir(parents=True)  # a folder of the same id is another model
    store.submit(make_request(1, source="hub"))
    with pytest.raises(HubUnreachable, match=r"^cannot reach the Hub to resolve org/model-1@") as raised:
        run_once(config, store, worker="w")
    assert error_kind(raised.value) is ErrorKind.TRANSIENT and hub_calls == ["org/model-1"]
    request = store.snapshot().requests["req-0001"]
    assert request.status is Status.RUNNING and request.error is None, "not failed: its lease returns it"


def test_a_request_recorded_before_the_source_resolves_as_it_did(board, hub_calls: list[str]) -> None:
    """No source: a folder first, then the Hub, whose outage stays transient with the missing folder said first."""
    config, store = board
    store.submit(make_request(1))
    with pytest.raises(HubUnreachable, match=r"^no folder .*org/model-1 \(a local model's folder deleted"):
        run_once(config, store, worker="w")
    assert hub_calls == ["org/model-1"]


def test_a_local_source_never_asks_the_hub_even_for_a_hub_shaped_id(tmp_path: Path, hub_calls: list[str]) -> None:
    with pytest.raises(LocalModelMissing, match="no longer exists") as raised:
        resolve_model("openai/whisper-base", "a" * 40, tmp_path, source="local")
    assert error_kind(raised.value) is ErrorKind.USER and hub_calls == []


def test_old_requests_read_and_serialize_as_they_were() -> None:
    old = make_request(1).to_dict()
    assert "source" not in old
    request = Request.from_dict(old)
    assert request.source is None and request.to_dict() == old
    assert EvalSpec.from_record(request).source is None
    local = request.replace(source="local")
    assert local.to_dict()["source"] == "local" and Request.from_dict(local.to_dict()) == local
    assert EvalSpec.from_record(local).source == "local"
    with pytest.raises(RecordError, match="source"):
        Request.from_dict({**old, "source": "elsewhere"})


def test_the_source_is_logged_and_survives_a_rebuild_from_the_log(board, tiny_ctc: Path) -> None:
    config, store = board
    shutil.copytree(tiny_ctc, config.models_dir / "org" / "tiny")
    outcome = run_submit(store, config.models_dir, "org/tiny", eval_sets=config.eval_sets)
    assert outcome.request is not None
    submitted = next(e for e in store.snapshot().log if e.event == "submitted")
    assert submitted.detail["source"] == "local"
    rebuilt = recovered_request(replay(store.snapshot().log)[outcome.request.request_id])
    assert rebuilt is not None and rebuilt.source == "local"
