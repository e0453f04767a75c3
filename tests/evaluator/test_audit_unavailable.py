"""A model deleted or gated after publication (R13, issue 26 item 8): the audit's attempts say the model is
unavailable at its pinned revision (not a Hub outage), the drop that follows marks the entry, and the board
stops ranking it. A Hub outage is transient and never marks anything."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from huggingface_hub.errors import GatedRepoError, HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

from evaluator import models
from evaluator.errors import ErrorKind, error_kind
from evaluator.models import HubUnreachable, ModelLoadError, ModelUnavailable
from leaderboard.data import BoardSource
from leaderboard.table import UNAVAILABLE_TEXT, unranked_reason
from openasr_core.audits import UNAVAILABLE, unavailable_entries
from tests.evaluator.test_audit_attempts import Clock, _never_evaluates, _step
from tests.evaluator.test_audit_attempts import board as board

_REQUEST = httpx.Request("GET", "https://huggingface.co/api/models/org/tiny")


def _http(cls: type[Exception], status: int) -> Exception:
    return cls("refused", response=httpx.Response(status, request=_REQUEST))


def _hub_answers(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """Every Hub model lookup raises `error` (the Hub's answer for a deleted, gated or unreachable repo)."""
    import huggingface_hub

    def model_info(self: object, *args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_http(RepositoryNotFoundError, 404), ModelUnavailable),  # deleted (or private)
        (_http(GatedRepoError, 403), ModelUnavailable),  # gated after publication
        (_http(RevisionNotFoundError, 404), ModelUnavailable),  # the pinned revision was rewritten away
        (_http(HfHubHTTPError, 401), ModelUnavailable),
        (_http(HfHubHTTPError, 503), HubUnreachable),  # an outage: transient, never "unavailable"
        (httpx.ConnectError("no route"), HubUnreachable),
        (_http(HfHubHTTPError, 400), ModelLoadError),
    ],
)
def test_the_hub_answer_tells_unavailable_from_an_outage(monkeypatch: pytest.MonkeyPatch, error, expected) -> None:
    _hub_answers(monkeypatch, error)
    with pytest.raises(ModelLoadError) as raised:
        models._resolve_hub_revision("org/tiny", "a" * 40)
    assert type(raised.value) is expected
    assert error_kind(raised.value) is (ErrorKind.TRANSIENT if expected is HubUnreachable else ErrorKind.USER)


def test_a_gated_download_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    def snapshot_download(*args: object, **kwargs: object) -> str:
        raise _http(GatedRepoError, 403)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    with pytest.raises(ModelUnavailable, match="cannot download org/tiny"):
        models._download("org/tiny", "a" * 40)


def _three_attempts(config, store, step: Callable[[], str], clock: Clock) -> list[str]:
    lines = []
    for _ in range(3):
        lines.append(step())
        clock.now += timedelta(minutes=config.audit.retry_after_minutes)
    lines.append(step())  # spent: dropped
    return lines


def test_a_model_deleted_after_publication_leaves_the_ranking_after_its_audit(board, monkeypatch) -> None:
    config, store = board
    source = BoardSource(store, version=config.version, eval_sets=tuple(e.name for e in config.eval_sets))
    before = source.get().board.entry("req-0001")
    assert before is not None and not before.unavailable and unranked_reason(before) != UNAVAILABLE_TEXT
    shutil.rmtree(config.models_dir / "org" / "tiny")  # the submitter deletes the model ...
    _hub_answers(monkeypatch, _http(RepositoryNotFoundError, 404))  # ... and it is not on the Hub either
    store.request_audit("req-0001", actor="someone")
    clock = Clock()
    lines = _three_attempts(config, store, _step(config, store, clock, _never_evaluates), clock)
    log = store.snapshot().log
    failed = [e for e in log if e.event == "audit_attempt_failed"]
    assert len(failed) == 3 and all(e.detail[UNAVAILABLE] is True and e.detail["kind"] == "user" for e in failed)
    assert log[-1].event == "audit_dropped" and "dropped" in lines[-1]
    reason = unavailable_entries(log)["req-0001"].reason
    assert f"no folder {config.models_dir / 'org' / 'tiny'}" in reason  # said first (issue 26, item 10b)
    source.invalidate()
    entry = source.get().board.entry("req-0001")
    assert entry.unavailable and entry.rank is None and unranked_reason(entry) == UNAVAILABLE_TEXT


def test_a_hub_outage_during_the_audit_marks_nothing(board, monkeypatch) -> None:
    config, store = board
    shutil.rmtree(config.models_dir / "org" / "tiny")
    _hub_answers(monkeypatch, _http(HfHubHTTPError, 503))
    store.request_audit("req-0001", actor="someone")
    clock = Clock()
    _three_attempts(config, store, _step(config, store, clock, _never_evaluates), clock)
    log = store.snapshot().log
    failed = [e for e in log if e.event == "audit_attempt_failed"]
    assert len(failed) == 3 and all(UNAVAILABLE not in e.detail and e.detail["kind"] == "transient" for e in failed)
    assert log[-1].event == "audit_dropped" and unavailable_entries(log) == {}


@pytest.mark.parametrize(
    ("error", "expected"),
    [(httpx.ConnectError("no route"), HubUnreachable), (_http(RepositoryNotFoundError, 404), ModelUnavailable)],
)
def test_a_deleted_local_folder_is_said_first_not_the_hub(tmp_path, monkeypatch, error, expected) -> None:
    """Issue 26, item 10b: a local model whose folder was deleted after submission is looked up on the Hub; the
    evaluator's reason names the missing folder first, with the Hub's answer after it."""
    (tmp_path / "models").mkdir()
    _hub_answers(monkeypatch, error)
    with pytest.raises(ModelLoadError) as raised:
        models.resolve_model("org/tiny", "a" * 40, tmp_path / "models")
    message = str(raised.value)
    assert type(raised.value) is expected
    assert message.startswith(f"no folder {tmp_path / 'models' / 'org' / 'tiny'} (a local model's folder deleted")
    assert "on the Hub: " in message and "cannot reach" not in message.split("on the Hub: ")[0]


def test_without_a_models_folder_a_hub_outage_is_said_as_it_is(tmp_path, monkeypatch) -> None:
    _hub_answers(monkeypatch, httpx.ConnectError("no route"))
    with pytest.raises(HubUnreachable, match=r"^cannot reach the Hub"):
        models.resolve_model("org/tiny", "a" * 40, tmp_path / "no-models-here")
